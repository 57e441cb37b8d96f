"""What a transport's output does with agent audio, declared as data when the transport is made.

The pipeline paces agent audio into a transport (``turntaking.playout.PlayoutGate``) and needs
two facts about it, which it reads here instead of asking what class the transport is:

* ``realtime``: the far end plays what it gets at the pace of speech behind a short queue (a
  WebRTC or RTP track), so every chunk released ahead is still heard after a barge-in pause;
  otherwise the far end buffers on its side (the WebSocket client, a file).
* ``queued``: audio the transport itself has taken but not yet played, which a pause can hold,
  a resume play and an interruption drop (WebRTC's output track: ``webrtc_audio.TrackHold``).

A transport that declares nothing buffers at the far end and has no queue to hold.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar


class QueuedAudio(Protocol):
    """Audio the output transport has taken but not played."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def drop(self) -> None: ...


@dataclass(frozen=True)
class AudioOutput:
    """A transport's output, as the playout gate needs to know it."""

    realtime: bool = False
    queued: QueuedAudio | None = None


_declared: weakref.WeakKeyDictionary[Any, AudioOutput] = weakref.WeakKeyDictionary()
T = TypeVar("T")


def declare_audio_output(transport: T, output: AudioOutput) -> T:
    """Record what ``transport``'s output does (where the transport is made); returns it."""
    _declared[transport] = output
    return transport


def audio_output(transport: Any) -> AudioOutput:
    """What ``transport`` declared, or a buffering far end with no queue."""
    return _declared.get(transport, AudioOutput())
