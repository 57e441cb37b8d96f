"""Holding back the agent audio that the WebRTC output track has taken but not yet played.

pipecat's ``RawAudioTrack`` queues what the output transport writes and plays it 10 ms at a time,
so when ``PlayoutGate`` pauses the agent for a barge-in, the audio already in the track still
plays: 25-55 ms of speech after the pause over WebRTC (4 barge-ins, measured at the track). While
held, the track's unplayed chunks wait in a stash, the track plays silence, and what the writer
adds joins the stash; ``resume`` puts them back in front, so a false interruption goes on with
no syllable lost, and ``drop`` discards them (a real interruption, the end of the call) and
releases the writer waiting on them.

The track's queue is pipecat's private ``_chunk_queue`` (pipecat-ai 1.14.0): a deque of
(10 ms of bytes, the future a writer awaits or None); ``tests/test_track_hold.py`` pins that shape.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

Chunk = tuple[bytes, Any]  # (bytes, asyncio.Future | None)


class TrackHold:
    """Pause, resume or drop what ``track()`` (the current output track, or None) has queued."""

    def __init__(self, track: Callable[[], Any | None]) -> None:
        self._track = track
        self._held: Any | None = None  # the track being held
        self._stash: deque[Chunk] = deque()

    @property
    def holding(self) -> bool:
        return self._held is not None

    def pause(self) -> None:
        """Silence the track now, keeping what it had not played."""
        track = self._track()
        if track is None or self._held is not None:
            return
        self._held = track
        self._take(track)
        add = type(track).add_audio_bytes

        def add_while_held(audio_bytes: bytes) -> Any:
            future = add(track, audio_bytes)
            self._take(track)
            return future

        track.add_audio_bytes = add_while_held

    def resume(self) -> None:
        """Play what was held, before anything written from now on."""
        track = self._release()
        if track is None or track is not self._track():
            self.drop()  # the peer reconnected meanwhile: the old track plays nothing more
            return
        track._chunk_queue.extendleft(reversed(self._stash))
        self._stash.clear()

    def drop(self) -> None:
        """Discard what was held, and what the track has queued, and release their writer."""
        self._release()
        track = self._track()
        if track is not None:
            self._take(track)
        for _chunk, future in self._stash:
            if future is not None and not future.done():
                future.set_result(True)
        self._stash.clear()

    def _take(self, track: Any) -> None:
        self._stash.extend(track._chunk_queue)
        track._chunk_queue.clear()

    def _release(self) -> Any | None:
        track, self._held = self._held, None
        if track is not None:
            del track.add_audio_bytes  # back to the class's method
        return track


def webrtc_output_track(transport: Any) -> Callable[[], Any | None]:
    """The output track of a ``SmallWebRTCTransport`` as it is now (it is made once the peer
    connects, and again after a reconnect)."""
    return lambda: getattr(getattr(transport, "_client", None), "_audio_output_track", None)
