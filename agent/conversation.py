"""The conversation step of a call: caller turns in, the flow's replies out as speech.

``ConversationProcessor`` sits between term correction and TTS. It owns the call's ``Dialogue``:
it asks it for the greeting when the call starts, feeds it each final caller turn, turns each
``Reply`` into a ``TTSSpeakFrame``, sends transcript and state events to the client, runs the
silence timer (re-prompt, then a polite goodbye), and ends the call after the last reply plays.
One turn is handled at a time, in order.

Barge-in: when the caller starts speaking while the agent's audio plays, the ``PlayoutGate``
pauses it at once; ``BargeInPolicy`` then reads the interim transcript and the speech duration.
A backchannel (嗯, 对, 好的 ...) or a noise resumes the agent where it paused and is not a turn;
anything else interrupts: an ``InterruptionFrame`` stops the audio and the TTS, and the dialogue
reply in flight is cancelled. Interim transcripts become caption events (``final: false``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    EndWorkerFrame,
    Frame,
    InterimTranscriptionFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from agent.metrics import REGISTRY, TurnTimer
from dialogue.base import Dialogue, Reply
from dialogue.turntaking import cues
from dialogue.turntaking.barge_in import BargeInDecision, BargeInPolicy
from dialogue.turntaking.playout import PlayoutGate

logger = logging.getLogger("medvoice.call")

_OPEN, _TURN, _SILENCE = "open", "turn", "silence"

EventSink = Callable[[dict[str, Any]], None]


class ConversationProcessor(FrameProcessor):
    """Drives one ``Dialogue`` from the pipeline's frames.

    Args:
        dialogue: The call's flow instance.
        silence_timeout_s: Caller silence (after the agent stops speaking) that counts as no answer.
        on_event: Optional observer of every event sent to the client (tests, metrics, records).
        barge_in: The barge-in policy; None = the caller cannot interrupt the agent.
        gate: The playout gate before the output transport (needed for barge-in).
        timer: The call's per-turn stage timer.
        vad_start_s: The VAD's start delay, so speech onset = VAD start time - ``vad_start_s``.
        resume_after_s: After a barge-in candidate goes quiet, resume if no transcript came by then
            (a safety net: the ASR reports "no words" itself; a loaded box can take seconds).
    """

    def __init__(
        self,
        dialogue: Dialogue,
        *,
        silence_timeout_s: float = 7.0,
        on_event: EventSink | None = None,
        barge_in: BargeInPolicy | None = None,
        gate: PlayoutGate | None = None,
        timer: TurnTimer | None = None,
        vad_start_s: float = 0.2,
        resume_after_s: float = 4.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if barge_in is not None and gate is None:
            raise ValueError("barge_in needs the PlayoutGate that pauses agent audio; pass gate=")
        self._barge_in = barge_in
        self._gate = gate
        self._timer = timer or TurnTimer()
        self._vad_start_s = vad_start_s
        self._resume_after_s = resume_after_s
        self._candidate_onset: float | None = None  # caller speech onset of an undecided barge-in
        self._candidate_end: float | None = None
        self._turn_during_agent = False  # the caller's current turn began while the agent spoke
        self._barge_watch: asyncio.Task | None = None
        self._dialogue = dialogue
        self._silence_timeout_s = silence_timeout_s
        self._on_event = on_event
        self._turns: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self._silence_timer: asyncio.Task | None = None
        self._ending = False
        self._bot_speaking = False
        self._last_caller_speech_end: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            self._worker = self.create_task(self._run_turns())
            await self._turns.put((_OPEN, ""))
            return
        if isinstance(frame, (EndFrame, CancelFrame)):
            await self._shutdown()
            if isinstance(frame, CancelFrame) and not self._ending:
                await self._dialogue.hangup()  # the caller left mid-flow: keep what they answered
        elif isinstance(frame, InterimTranscriptionFrame):
            await self._on_interim(frame.text)
            return  # consumed: captions and barge-in only
        elif isinstance(frame, TranscriptionFrame):
            await self._on_final(frame.text)
            return  # consumed: the dialogue answers it
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            await self._cancel_silence_timer()
            await self._on_caller_started()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            await self._on_caller_stopped()
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
            await self._cancel_silence_timer()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
            if direction == FrameDirection.UPSTREAM:
                await self._arm_silence_timer()
        await self.push_frame(frame, direction)

    async def _shutdown(self) -> None:
        await self._cancel_silence_timer()
        await self._cancel_barge_watch()
        self._timer.cancel()
        if self._worker is not None:
            await self.cancel_task(self._worker)
            self._worker = None

    # -- turns -------------------------------------------------------------------------------

    async def _run_turns(self) -> None:
        while True:
            kind, text = await self._turns.get()
            if self._ending:
                continue
            if kind == _OPEN:
                await self._speak(self._dialogue.open())
            elif kind == _SILENCE:
                await self._speak(self._dialogue.handle_silence())
            else:
                await self._emit({"type": "transcript", "role": "caller", "text": text, "final": True})
                await self._speak(self._dialogue.handle(text))

    async def _speak(self, replies: AsyncIterator[Reply]) -> None:
        async for reply in replies:
            if reply.text:
                self._timer.mark("reply")
                await self.push_frame(TTSSpeakFrame(reply.text))
                await self._emit({"type": "transcript", "role": "agent", "text": reply.text, "final": True})
            if reply.meta:
                await self._emit({"type": "state", **reply.meta})
            if reply.end_call:
                self._ending = True
                await self._emit({"type": "end", "reason": "dialogue_finished"})
                await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)
                return
        await self._emit({"type": "state", **self._dialogue.snapshot()})

    # -- caller speech, barge-in -------------------------------------------------------------

    def _agent_audible(self) -> bool:
        return self._bot_speaking or (self._gate is not None and self._gate.holds_audio)

    async def _on_caller_started(self) -> None:
        self._candidate_end = None
        if self._candidate_onset is not None:
            await self._watch_candidate()  # the same candidate speaks on after a short pause
            return
        self._turn_during_agent = self._agent_audible()
        if self._barge_in is None or self._gate is None or not self._turn_during_agent:
            return
        onset = time.monotonic() - self._vad_start_s
        self._gate.pause()
        REGISTRY.count("bargein_candidates")
        REGISTRY.observe_bargein(time.monotonic() - onset)
        self._candidate_onset = onset
        await self._emit({"type": "barge_in", "state": "paused"})
        await self._watch_candidate()

    async def _on_caller_stopped(self) -> None:
        if self._candidate_onset is not None:
            self._candidate_end = time.monotonic()
            await self._watch_candidate()

    async def _watch_candidate(self) -> None:
        await self._cancel_barge_watch()
        self._barge_watch = self.create_task(self._candidate_timeout())

    async def _candidate_timeout(self) -> None:
        """Long speech interrupts; silence with no words resumes."""
        assert self._barge_in is not None and self._candidate_onset is not None
        if self._candidate_end is None:
            speech_s = time.monotonic() - self._candidate_onset
            await asyncio.sleep(max(0.0, self._barge_in.settings.interrupt_after_s - speech_s))
            self._barge_watch = None
            await self._decide(self._barge_in.while_speaking(time.monotonic() - self._candidate_onset), "long")
        else:
            await asyncio.sleep(self._resume_after_s)
            self._barge_watch = None
            await self._decide(BargeInDecision.RESUME, "no_words")

    async def _on_interim(self, text: str) -> None:
        if text:
            await self._emit({"type": "transcript", "role": "caller", "text": text, "final": False})
        if self._candidate_onset is None or self._barge_in is None:
            return
        end = self._candidate_end or time.monotonic()
        await self._decide(self._barge_in.on_transcript(text, end - self._candidate_onset), "words")

    async def _decide(self, decision: BargeInDecision, why: str) -> None:
        if self._candidate_onset is None or decision == BargeInDecision.WAIT:
            return
        await self._cancel_barge_watch()
        self._candidate_onset = self._candidate_end = None
        assert self._gate is not None
        if decision == BargeInDecision.RESUME:
            self._gate.resume()
            REGISTRY.count(f"bargein_resumed_{why}")
            await self._emit({"type": "barge_in", "state": "resumed"})
            return
        REGISTRY.count("bargein_interruptions")
        await self._interrupt()
        await self._emit({"type": "barge_in", "state": "interrupted"})

    async def _interrupt(self) -> None:
        """Stop agent audio and TTS, and drop the reply the dialogue is still producing."""
        await self.broadcast_interruption()
        if self._worker is not None:
            await self.cancel_task(self._worker)
        self._worker = self.create_task(self._run_turns())

    async def _on_final(self, text: str) -> None:
        if not text.strip():
            return
        if self._turn_during_agent and cues.is_backchannel(text):
            self._timer.cancel()
            REGISTRY.count("backchannels_ignored")
            return  # feedback while the agent spoke, not a turn
        if self._candidate_onset is not None:
            await self._decide(BargeInDecision.INTERRUPT, "final")
        self._turn_during_agent = False
        await self._cancel_silence_timer()
        self._timer.mark("transcript")
        await self._turns.put((_TURN, text))

    async def _cancel_barge_watch(self) -> None:
        if self._barge_watch is not None:
            task, self._barge_watch = self._barge_watch, None
            if task is not asyncio.current_task():
                await self.cancel_task(task)

    # -- silence -----------------------------------------------------------------------------

    async def _arm_silence_timer(self) -> None:
        await self._cancel_silence_timer()
        if not self._ending:
            self._silence_timer = self.create_task(self._silence_after_timeout())

    async def _cancel_silence_timer(self) -> None:
        if self._silence_timer is not None:
            timer, self._silence_timer = self._silence_timer, None
            await self.cancel_task(timer)

    async def _silence_after_timeout(self) -> None:
        await asyncio.sleep(self._silence_timeout_s)
        self._silence_timer = None
        await self._emit({"type": "silence", "after_s": self._silence_timeout_s})
        await self._turns.put((_SILENCE, ""))

    # -- events ------------------------------------------------------------------------------

    async def _emit(self, event: dict[str, Any]) -> None:
        event = {**event, "t": round(time.time(), 3)}
        if self._on_event is not None:
            self._on_event(event)
        await self.push_frame(OutputTransportMessageUrgentFrame(message=event))
