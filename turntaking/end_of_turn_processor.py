"""The end-of-turn step of a call: the caller's whole turn in, one final transcript out at its end.

The VAD closes a segment after a short pause (``TurnTiming.vad_stop_s``). At each close the
turn's audio so far is decoded off the event loop (``asr.service.TurnDecoding``) and pushed as an
``InterimTranscriptionFrame`` (captions, barge-in); the end-of-turn policy then says how much
silence after the end of speech ends the turn. If the caller speaks again first, the turn goes on
and is decoded again at the next pause; otherwise a ``TurnEndedFrame`` and the text as one
``TranscriptionFrame`` go downstream. Each decode carries the turn's version, so a result that
arrives late (the caller spoke again, or the turn already ended) never becomes a final and never
leaks into the next turn.

End of speech is the last frame loud enough to be speech (``turntaking.voicing``), not the VAD's
stop time minus its delay, so the policy's wait is counted from what the caller did.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transcriptions.language import Language
from pipecat.utils.time import time_now_iso8601

from asr.service import SAMPLE_RATE, Confidence, TurnDecoder, TurnDecoding
from turntaking.end_of_turn import EndOfTurnPolicy
from turntaking.frames import HeardTranscriptionFrame, TurnEndedFrame
from turntaking.voicing import VoicingClock

logger = logging.getLogger("medvoice.turntaking")

CALLER = "caller"
_FRAME_S = 0.02
_AUDIBLE_SPEECH_S = 0.06  # voiced this long after the end of speech: the caller goes on

TurnDecider = Callable[[str, Callable[[], float] | None], tuple[float, str]]
"""Blocking: (transcript so far, the turn model's P(complete) for the turn audio, or None without
a turn model) -> (silence in seconds after end of speech that ends the turn, reason). The
probability is a callable so a decider that the words settle need not wait for it
(``EndOfTurnPolicy.wait``)."""

TurnScorer = Callable[[np.ndarray], Future]
"""Starts scoring the turn's audio, P(the caller is done), in the background (smart-turn's
``SmartTurnModel.submit``); the future's result is the probability."""


@dataclass(frozen=True)
class TurnTiming:
    """How the end-of-turn processor reads the VAD and the caller's audio.

    Parameters:
        vad_stop_s: The VAD's stop delay, so end of speech = VAD stop time - ``vad_stop_s``.
        preroll_s: Audio kept from before the VAD's speech start (its start delay plus margin).
        max_turn_s: A turn this long is ended at the next pause whatever the policy says.
        resume_grace_s: When the turn is due but the caller has been audible again since the end
            of speech (the VAD has not confirmed it yet), wait up to this long for the VAD before
            ending the turn, so a caller resuming after a long pause is not cut in two.
        resume_speech_grace_s: The same wait once the caller has been audible for 60 ms or more
            (speech, not a click). Silero confirms a soft onset late: 有点头晕 after a 1.5 s
            pause was confirmed 0.58 s after it began, and the turn was cut in two.
        late_audio_s: The wait is counted in audio received after the end of speech, not in time
            passed: when the caller's audio arrives late (WebRTC jitter, a loaded event loop),
            the turn waits for it, up to this long past the wall-clock wait, so a clause pause
            that merely looks longer is not taken for the end of the turn.
    """

    vad_stop_s: float = 0.2
    preroll_s: float = 0.4
    max_turn_s: float = 60.0
    resume_grace_s: float = 0.2
    resume_speech_grace_s: float = 0.6
    late_audio_s: float = 0.3

    def __post_init__(self) -> None:
        if not 0 <= self.resume_grace_s <= self.resume_speech_grace_s <= 1:
            raise ValueError("need 0 <= resume_grace_s <= resume_speech_grace_s <= 1 s, got "
                             f"{self.resume_grace_s}, {self.resume_speech_grace_s}")
        if not 0 <= self.late_audio_s <= 1:
            raise ValueError(f"late_audio_s must be within 0-1 s, got {self.late_audio_s}")
        if self.vad_stop_s < 0 or self.preroll_s < 0 or self.max_turn_s <= 0:
            raise ValueError(f"need vad_stop_s, preroll_s >= 0 and max_turn_s > 0, got {self.vad_stop_s}, "
                             f"{self.preroll_s}, {self.max_turn_s}")


class EndOfTurnProcessor(FrameProcessor):
    """Collects the caller's turn, decodes it at every pause, and ends it when the policy says.

    Args:
        decoder: Decodes the turn's audio (``asr.service.TurnDecoder``).
        decide: The end-of-turn policy; default: ``EndOfTurnPolicy().wait``.
        turn_model: Scores the turn's audio, P(the caller is done) (smart-turn), for ``decide``.
            It runs alongside the final decode, not after it: on this 2-core box it takes
            60-130 ms, which used to come on top of the transcript.
        timing: How the VAD and the caller's audio are read.
    """

    def __init__(
        self,
        decoder: TurnDecoder,
        *,
        decide: TurnDecider | None = None,
        turn_model: TurnScorer | None = None,
        timing: TurnTiming | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self._decoder = decoder
        self._decide = decide or EndOfTurnPolicy().wait
        self._turn_model = turn_model
        self._timing = timing or TurnTiming()
        self._preroll: deque[bytes] = deque(maxlen=max(1, int(self._timing.preroll_s * 50)))  # 20 ms frames
        self._max_turn_bytes = int(self._timing.max_turn_s * SAMPLE_RATE) * 2
        self._voicing = VoicingClock()
        self._turn: bytearray | None = None
        self._decoding: TurnDecoding | None = None
        self._speaking = False
        self._version = 0
        self._speech_end = 0.0
        self._speech_end_heard_s = 0.0
        self._commit_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._early_decode: asyncio.Task | None = None
        self._turn_opened = 0.0
        self._paused_at: float | None = None
        self._next_interim_bytes = 0

    @property
    def decoder(self) -> TurnDecoder:
        return self._decoder

    @property
    def timing(self) -> TurnTiming:
        return self._timing

    @property
    def turn_open(self) -> bool:
        return self._turn is not None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._add_audio(frame)
            return  # caller audio stops here: nothing downstream plays it
        if isinstance(frame, VADUserStartedSpeakingFrame):
            await self._speech_started()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._speech_stopped()
        elif isinstance(frame, (EndFrame, CancelFrame)):
            await self._close_turn()
        await self.push_frame(frame, direction)

    def _add_audio(self, frame: InputAudioRawFrame) -> None:
        self._voicing.add(frame.audio, time.monotonic(), in_speech=self._speaking, sample_rate=frame.sample_rate)
        if self._turn is None:
            self._preroll.append(frame.audio)
        else:
            self._turn.extend(frame.audio)
            self._decode_early()

    def _decode_early(self) -> None:
        """Start a pause or interim decode of the turn so far, while the VAD still says speaking."""
        settings = self._decoder.incremental
        decoding = self._decoding
        if (settings is None or decoding is None or self._turn is None or not self._speaking
                or self._early_decode is not None):
            return
        last_voiced = self._voicing.last_voiced
        if (last_voiced is not None and last_voiced > self._turn_opened and last_voiced != self._paused_at
                and time.monotonic() - last_voiced >= settings.quiet_s):
            self._paused_at = last_voiced
            decode = decoding.pause
        elif settings.interim_every_s and len(self._turn) >= self._next_interim_bytes:
            self._schedule_interim()
            decode = decoding.update
        else:
            return
        audio = self._turn_audio()
        self._early_decode = self._track(self._run_early_decode(decode, audio, self._turn))

    def _track(self, coroutine) -> asyncio.Task:
        task = self.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _turn_audio(self) -> np.ndarray:
        assert self._turn is not None
        return np.frombuffer(bytes(self._turn), dtype=np.int16).astype(np.float32) / 32768.0

    def _schedule_interim(self) -> None:
        """The next interim decode is due after ``interim_every_s`` more of the turn's audio."""
        assert self._turn is not None and self._decoder.incremental is not None
        every = self._decoder.incremental.interim_every_s
        self._next_interim_bytes = len(self._turn) + int(every * SAMPLE_RATE) * 2

    async def _run_early_decode(self, decode: Callable[[np.ndarray], str], audio: np.ndarray,
                                turn: bytearray) -> None:
        try:
            text = await asyncio.to_thread(decode, audio)
        finally:
            self._early_decode = None
        if text and self._turn is turn:
            await self.push_frame(InterimTranscriptionFrame(text, CALLER, time_now_iso8601(), Language.ZH))

    async def _speech_started(self) -> None:
        self._speaking = True
        self._version += 1  # the turn so far may not end now: its pending final is off
        await self._cancel_commit()
        if self._turn is None:
            self._turn = bytearray(b"".join(self._preroll))
            self._preroll.clear()
            self._turn_opened = time.monotonic()
            self._decoding = self._decoder.start()
            if self._decoder.incremental is not None:
                self._schedule_interim()

    def _speech_stopped(self) -> None:
        if self._turn is None:
            return
        self._speaking = False
        self._version += 1
        self._speech_end, self._speech_end_heard_s = self._voicing.speech_end(time.monotonic(),
                                                                              self._timing.vad_stop_s)
        audio = self._turn_audio()
        too_long = len(self._turn) >= self._max_turn_bytes
        assert self._decoding is not None
        self._track(self._transcribe_and_wait(self._version, audio, too_long, self._decoding))

    async def _transcribe_and_wait(self, version: int, audio: np.ndarray, too_long: bool,
                                   decoding: TurnDecoding) -> None:
        turn = self._turn
        await self.start_processing_metrics()
        text, wait_s, reason, confidence = await asyncio.to_thread(self._analyse, audio, too_long, decoding)
        ready_s = time.monotonic() - self._speech_end
        await self.stop_processing_metrics()
        if turn is None or self._turn is not turn:
            return  # the turn ended meanwhile: a late transcript never reaches the next one
        if text:
            await self.push_frame(InterimTranscriptionFrame(text, CALLER, time_now_iso8601(), Language.ZH))
        if version != self._version:
            return  # the caller spoke again: the turn goes on
        if not text:
            self._end_turn()  # noise or silence: no turn
            await self.push_frame(InterimTranscriptionFrame("", CALLER, time_now_iso8601(), Language.ZH))
            return
        self._commit_task = asyncio.current_task()
        await asyncio.sleep(max(0.0, self._speech_end + wait_s - time.monotonic()))
        await self._await_late_audio(wait_s)
        await self._await_unconfirmed_speech()
        self._commit_task = None
        if version != self._version:
            return
        self._version += 1
        self._end_turn()
        logger.debug("turn ended (%s, wait %.2fs, transcript ready %.2fs and turn ended %.2fs after speech)",
                     reason, wait_s, ready_s, time.monotonic() - self._speech_end)
        await self.push_frame(TurnEndedFrame(self._speech_end, wait_s, reason))
        await self.push_frame(HeardTranscriptionFrame(text, CALLER, time_now_iso8601(), Language.ZH,
                                                      confidence=confidence))

    async def _await_late_audio(self, wait_s: float) -> None:
        """Hold the commit until ``wait_s`` of audio after the end of speech has arrived, or
        ``late_audio_s`` longer: the caller may have resumed in audio still in transit. The whole
        pause must be heard: a clause that resumes 0.60 s after the end of speech is in the frame
        that completes a 0.62 s wait."""
        heard_by = self._speech_end_heard_s + wait_s - 1e-3  # sums of 20 ms frames are inexact
        deadline = self._speech_end + wait_s + self._timing.late_audio_s
        while self._voicing.heard_s < heard_by and time.monotonic() < deadline:
            await asyncio.sleep(_FRAME_S / 2)

    async def _await_unconfirmed_speech(self) -> None:
        """Hold the commit while the caller is audible again but the VAD has not said so yet
        (a confirmed start cancels this task)."""
        since = self._speech_end + _FRAME_S
        due = time.monotonic()
        timing = self._timing
        while self._voicing.voiced_since(since):
            speech = self._voicing.voiced_s_since(since) >= _AUDIBLE_SPEECH_S
            if time.monotonic() >= due + (timing.resume_speech_grace_s if speech else timing.resume_grace_s):
                return
            await asyncio.sleep(_FRAME_S)

    def _end_turn(self) -> None:
        self._turn = None
        self._decoding = None

    def _analyse(self, audio: np.ndarray, too_long: bool,
                 decoding: TurnDecoding) -> tuple[str, float, str, Confidence | None]:
        started = time.monotonic()
        score = None if self._turn_model is None or too_long else self._turn_model(audio)
        transcript = decoding.finish(audio)
        if not transcript.text:
            if score is not None:
                score.cancel()
            return "", 0.0, "no_words", None
        if too_long:
            return transcript.text, 0.0, "max_turn", transcript.confidence
        decoded = time.monotonic()
        wait_s, reason = self._decide(transcript.text, None if score is None else score.result)
        logger.debug("final of %.2fs: decode %.3fs (%s), decide %.3fs: %s, wait %.2fs", len(audio) / SAMPLE_RATE,
                     decoded - started, "pause decode reused" if decoding.reused else "decoded",
                     time.monotonic() - decoded, reason, wait_s)
        return transcript.text, wait_s, reason, transcript.confidence

    async def _cancel_commit(self) -> None:
        if self._commit_task is not None:
            task, self._commit_task = self._commit_task, None
            if task is not asyncio.current_task():
                await self.cancel_task(task)

    async def _close_turn(self) -> None:
        self._version += 1
        self._end_turn()
        for task in list(self._tasks):
            await self.cancel_task(task)
        self._tasks.clear()
        self._commit_task = None

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._close_turn()
