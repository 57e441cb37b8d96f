"""Incremental final transcripts: decode the turn at the caller's pause, before the VAD says so.

The call's VAD reports end of speech 0.2 s after the last voiced frame; the pipeline's voicing
clock sees the caller go quiet after one or two frames. ``pause`` (called when the caller has been
quiet for ``quiet_s``) decodes the whole turn at once with the short-window decoder and holds the
result as pending; ``finish`` (at the VAD's stop) returns it when nothing was voiced since, so the
final decode is already under way, or done, at end of speech. ``update`` (every
``interim_every_s`` while the caller speaks) decodes the turn so far for interim transcripts
(captions, barge-in), with ``stable_text`` the part two consecutive interims agree on
(LocalAgreement).

What was measured and not kept (Whisper base, int8, 2 threads, dev set): the decoder costs 6-8 ms
per token and a sentence is 20-40 tokens, so the token loop is most of a short-window decode.
Forcing the tokens that consecutive interims agree on does not shorten it: CTranslate2's greedy
search runs one decoder step, full logits included, per forced token (218 ms with 24 of 27 tokens
forced vs 225 ms free). Committing the words before each pause and decoding only the rest at the
end, with the committed words as Whisper's previous text (one forward pass), cut the median final
latency by half but raised CER by 4-7 points on 20 utterances, whether the committed words were
decoded before the pause or after it with cross-attention alignment choosing them, and whether
the rest was decoded alone or with an aligned overlap: Whisper base needs the whole sentence.

The final is exactly the short-window decoder's result for the turn (guards and fallbacks
included). A decoder with a second pass (``asr.relisten``, a ``TwoPass``) runs only its first pass
at pauses and interims and re-listens once, to the decode that becomes the final: re-listening every
pause decode cost work that was mostly thrown away (2-3 pause decodes per turn) and delayed the
final behind a pause decode's second pass still running at end of speech.
One ``IncrementalTranscript`` per turn; its methods block (run them off the event loop)
and are serialised by a lock, so a final waits for a decode still running.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from asr.transcriber import SAMPLE_RATE, Transcript, WhisperTranscriber

_FRAME = SAMPLE_RATE // 50
_FLOOR_RMS = 200 / 32768  # the voicing clock's absolute floor (about -44 dBFS)
_RELATIVE = 0.15  # and its share of the caller's speech level


@dataclass(frozen=True)
class IncrementalSettings:
    """When the turn is decoded while the caller speaks.

    Parameters:
        quiet_s: Silence after a voiced frame at which the service calls ``pause`` (the VAD
            reports a stop only after 0.2 s). On 30 dev sentences x 2 voices: 0.1 s gave a
            240 ms median final (2.3 pause decodes per utterance, 0.13 s of decoding per second
            of speech), 0.06 s 215 ms (3.3 decodes, 0.19 s/s), each on a differently loaded box.
        interim_every_s: New audio between two interim decodes while the caller speaks; 0 turns
            them off (``pause`` still gives an interim text at every pause). An interim decode
            still running when the caller stops delays the pause decode, so they cost latency
            as well as CPU.
    """

    quiet_s: float = 0.06
    interim_every_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0.02 <= self.quiet_s <= 1:
            raise ValueError(f"quiet_s must be within 0.02-1 s, got {self.quiet_s}")
        if self.interim_every_s and not 0.2 <= self.interim_every_s <= 10:
            raise ValueError(
                f"interim_every_s must be 0 (off) or within 0.2-10 s, got {self.interim_every_s}"
            )


@runtime_checkable
class TwoPass(Protocol):
    """A decoder whose ``transcribe`` is a first decode then a second pass that can wait
    (``asr.relisten.RelisteningTranscriber``)."""

    def first_pass(self, audio: np.ndarray, hotwords: str | None = None) -> tuple[Transcript, Any]:
        """The first decode and what ``second_pass`` needs."""
        ...

    def second_pass(self, transcript: Transcript, heard: Any) -> Transcript:
        """``transcript`` as ``transcribe`` would have returned it."""
        ...


def agreed_prefix(previous: str, current: str) -> str:
    """The longest common prefix of two consecutive interim texts (LocalAgreement): the part of an
    interim transcript that has stopped changing."""
    length = 0
    for a, b in zip(previous, current, strict=False):
        if a != b:
            break
        length += 1
    return current[:length]


def _frame_rms(audio: np.ndarray) -> np.ndarray:
    frames = audio[: len(audio) // _FRAME * _FRAME].reshape(-1, _FRAME)
    return np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1)) if frames.size else np.zeros(0)


def voiced_after(audio: np.ndarray, start: int) -> bool:
    """True when ``audio[start:]`` holds a 20 ms frame loud enough to be speech, by the voicing
    clock's rule: above a floor and above a share of the caller's level (the median voiced frame
    of ``audio[:start]``)."""
    before = _frame_rms(audio[:start])
    loud = before[before > _FLOOR_RMS]
    threshold = max(_FLOOR_RMS, _RELATIVE * float(np.median(loud))) if loud.size else _FLOOR_RMS
    return bool(np.any(_frame_rms(audio[start:]) > threshold))


class IncrementalTranscript:
    """The transcript of one turn, decoded while its audio arrives.

    Args:
        transcriber: The shared decoder (a ``ShortWindowTranscriber`` for speed; thread-safe).
        settings: Pause and interim settings.
        hotwords: The flow's hotword string for this turn, or None.

    Every method takes the whole turn so far (float32 16 kHz; each call a longer prefix of the
    same audio). ``update`` and ``pause`` return the interim text, ``finish`` the final
    ``Transcript``; ``reused`` says whether the last ``finish`` returned the pause decode.
    """

    def __init__(
        self,
        transcriber: WhisperTranscriber,
        settings: IncrementalSettings | None = None,
        hotwords: str | None = None,
    ) -> None:
        self.transcriber = transcriber
        self.settings = settings or IncrementalSettings()
        self.hotwords = hotwords
        self.interim_text = ""
        self.stable_text = ""
        self.reused = False
        self._pending: tuple[int, Transcript, Any] | None = None
        self._lock = threading.Lock()

    def update(self, audio: np.ndarray) -> str:
        """The caller is speaking: decode the turn so far; the interim text."""
        audio = np.asarray(audio, dtype=np.float32)
        with self._lock:
            return self._interim(self._first_pass(audio)[0].text)

    def pause(self, audio: np.ndarray) -> str:
        """The caller went quiet at the end of ``audio``: decode the turn now; the interim text
        (a two-pass decoder's first pass: the second runs in ``finish``)."""
        audio = np.asarray(audio, dtype=np.float32)
        with self._lock:
            transcript, heard = self._first_pass(audio)
            self._pending = len(audio), transcript, heard
            return self._interim(transcript.text)

    def finish(self, audio: np.ndarray) -> Transcript:
        """The final transcript of the whole turn ``audio``: the pause decode when nothing was
        voiced after it, else a decode now."""
        audio = np.asarray(audio, dtype=np.float32)
        with self._lock:
            if self._pending is not None:
                end, transcript, heard = self._pending
                if end <= len(audio) and not voiced_after(audio, end):
                    self.reused = True
                    if isinstance(self.transcriber, TwoPass):
                        transcript = self.transcriber.second_pass(transcript, heard)
                    return dataclasses.replace(transcript, audio_s=len(audio) / SAMPLE_RATE)
            self.reused = False
            return self.transcriber.transcribe(audio, self.hotwords)

    def _first_pass(self, audio: np.ndarray) -> tuple[Transcript, Any]:
        if isinstance(self.transcriber, TwoPass):
            return self.transcriber.first_pass(audio, self.hotwords)
        return self.transcriber.transcribe(audio, self.hotwords), None

    def _interim(self, text: str) -> str:
        self.stable_text = agreed_prefix(self.interim_text, text)
        self.interim_text = text
        return text
