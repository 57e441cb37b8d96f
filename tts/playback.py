"""Which part of a reply the caller actually heard, for a reply cut short by barge-in.

The TTS service records, per audio context, each sentence it spoke and how many seconds of audio
it produced for it (``SpokenLedger``). ``PlaybackTracker`` sits after the output transport, which
pushes audio frames on only once it has written them, so the seconds it counts are the seconds
played. When an interruption arrives mid-reply, the played seconds map back to text:

* whole sentences whose audio was fully played are kept as they are;
* inside the sentence being played, characters are assumed to take equal time, so the kept
  prefix is ``round(len(sentence) * played_fraction)`` characters. This is an approximation:
  a number read out ("186" -> 一百八十六) or a pause takes longer than one character, so the
  cut can be a few characters early or late; it never crosses a sentence boundary.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from pipecat.frames.frames import (
    Frame,
    InterruptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

_KEPT_CONTEXTS = 64


@dataclass
class _Segment:
    text: str
    seconds: float = 0.0


@dataclass(frozen=True)
class SpokenText:
    """What one reply's audio said by the time it ended or was cut.

    Parameters:
        context_id: The TTS audio context of the reply.
        text: The part of the reply the caller heard (the whole reply when not interrupted).
        full_text: Everything that was synthesised for the reply.
        interrupted: Whether barge-in cut the reply.
        played_s: Seconds of the reply's audio that were played.
    """

    context_id: str
    text: str
    full_text: str
    interrupted: bool
    played_s: float


@dataclass
class SpokenLedger:
    """Sentences and their audio seconds per context, newest contexts kept (bounded)."""

    _contexts: OrderedDict[str, list[_Segment]] = field(default_factory=OrderedDict)

    def start_sentence(self, context_id: str, text: str) -> None:
        segments = self._contexts.setdefault(context_id, [])
        self._contexts.move_to_end(context_id)
        segments.append(_Segment(text))
        while len(self._contexts) > _KEPT_CONTEXTS:
            self._contexts.popitem(last=False)

    def add_audio(self, context_id: str, seconds: float) -> None:
        """Credit ``seconds`` of produced audio to the context's current sentence."""
        segments = self._contexts.get(context_id)
        if segments:
            segments[-1].seconds += seconds

    def full_text(self, context_id: str) -> str:
        return "".join(s.text for s in self._contexts.get(context_id, []))

    def spoken_text(self, context_id: str, played_s: float) -> str:
        """The prefix of the context's text heard after ``played_s`` seconds (see module docstring)."""
        heard = []
        remaining = played_s
        for segment in self._contexts.get(context_id, []):
            if remaining >= segment.seconds:
                heard.append(segment.text)
                remaining -= segment.seconds
                continue
            if segment.seconds > 0:
                heard.append(segment.text[: round(len(segment.text) * remaining / segment.seconds)])
            break
        return "".join(heard)

    def forget(self, context_id: str) -> None:
        self._contexts.pop(context_id, None)


class PlaybackTracker(FrameProcessor):
    """Counts played TTS audio after the output transport and reports the text heard.

    Place it right after ``transport.output()``. Event ``on_spoken_text(tracker, SpokenText)``
    fires when a reply finishes (``interrupted=False``) or is cut by an ``InterruptionFrame``
    (``interrupted=True``); ``last_spoken`` keeps the most recent report.

    Args:
        ledger: The ``SpokenLedger`` of the TTS service (``MedvoiceTTSService.ledger``).
    """

    def __init__(self, ledger: SpokenLedger, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ledger = ledger
        self._context_id: str | None = None
        self._played_s = 0.0
        self.last_spoken: SpokenText | None = None
        self._register_event_handler("on_spoken_text")

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, TTSStartedFrame):
                self._context_id, self._played_s = frame.context_id, 0.0
            elif isinstance(frame, TTSAudioRawFrame) and self._context_id is not None:
                self._played_s += len(frame.audio) / (2 * frame.num_channels * frame.sample_rate)
            elif isinstance(frame, TTSStoppedFrame) and self._context_id is not None:
                await self._report(interrupted=False)
            elif isinstance(frame, InterruptionFrame) and self._context_id is not None:
                await self._report(interrupted=True)
        await self.push_frame(frame, direction)

    async def _report(self, *, interrupted: bool) -> None:
        context_id = self._context_id
        assert context_id is not None
        full = self._ledger.full_text(context_id)
        text = self._ledger.spoken_text(context_id, self._played_s) if interrupted else full
        self.last_spoken = SpokenText(context_id, text, full, interrupted, self._played_s)
        self._ledger.forget(context_id)
        self._context_id = None
        await self._call_event_handler("on_spoken_text", self.last_spoken)
