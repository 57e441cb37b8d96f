"""The barge-in step of a call: caller speech over the agent pauses it, then resumes or interrupts.

``BargeInProcessor`` sits between the final transcripts and the conversation. When the caller
starts speaking while the agent is audible (the transport says the bot speaks, or the playout gate
says audio is waiting), it sends a ``PausePlayoutFrame`` down to the gate at once; ``BargeInPolicy``
then reads the interim transcript and the speech duration. A backchannel (嗯, 对, 好的 ...) or a
noise sends a ``ResumePlayoutFrame``: the agent goes on where it paused, and the caller's final,
if it is only feedback, becomes a ``BackchannelFrame`` instead of a turn. Anything else
interrupts: an ``InterruptionFrame`` both ways stops the audio, the TTS and the reply in flight.
Each change is told downstream as a ``BargeInFrame`` (client events and metrics are the
conversation's business).
"""

from __future__ import annotations

import asyncio
import time

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from turntaking import cues
from turntaking.barge_in import BargeInDecision, BargeInPolicy
from turntaking.frames import (
    BackchannelFrame,
    BargeInFrame,
    BargeInState,
    PausePlayoutFrame,
    PlayoutPendingFrame,
    ResumePlayoutFrame,
)


class BargeInProcessor(FrameProcessor):
    """Decides what caller speech during agent speech means, and acts on it through frames.

    Args:
        policy: The barge-in policy.
        vad_start_s: The VAD's start delay, so speech onset = VAD start time - ``vad_start_s``.
        resume_after_s: After a barge-in candidate goes quiet, resume if no transcript came by then
            (a safety net: the ASR reports "no words" itself; a loaded box can take seconds).
    """

    def __init__(
        self,
        policy: BargeInPolicy | None = None,
        *,
        vad_start_s: float = 0.2,
        resume_after_s: float = 4.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self._policy = policy or BargeInPolicy()
        self._vad_start_s = vad_start_s
        self._resume_after_s = resume_after_s
        self._bot_speaking = False
        self._audio_pending = False  # agent audio waits in the playout gate
        self._candidate_onset: float | None = None  # caller speech onset of an undecided barge-in
        self._candidate_end: float | None = None
        self._turn_during_agent = False  # the caller's current turn began while the agent spoke
        self._watch: asyncio.Task | None = None

    @property
    def policy(self) -> BargeInPolicy:
        return self._policy

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, PlayoutPendingFrame):
            self._audio_pending = frame.pending
            return  # the gate's word for this processor only
        if isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
        elif isinstance(frame, (EndFrame, CancelFrame)):
            await self._cancel_watch()
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            await self.push_frame(frame, direction)
            await self._on_caller_started()
            return
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            await self.push_frame(frame, direction)
            await self._on_caller_stopped()
            return
        elif isinstance(frame, InterimTranscriptionFrame):
            await self.push_frame(frame, direction)
            await self._on_interim(frame.text)
            return
        elif isinstance(frame, TranscriptionFrame):
            await self._on_final(frame, direction)
            return
        await self.push_frame(frame, direction)

    def _agent_audible(self) -> bool:
        return self._bot_speaking or self._audio_pending

    async def _on_caller_started(self) -> None:
        self._candidate_end = None
        if self._candidate_onset is not None:
            await self._watch_candidate()  # the same candidate speaks on after a short pause
            return
        self._turn_during_agent = self._agent_audible()
        if not self._turn_during_agent:
            return
        onset = time.monotonic() - self._vad_start_s
        await self.push_frame(PausePlayoutFrame())
        self._candidate_onset = onset
        await self.push_frame(BargeInFrame(BargeInState.PAUSED, "speech", pause_s=time.monotonic() - onset))
        await self._watch_candidate()

    async def _on_caller_stopped(self) -> None:
        if self._candidate_onset is not None:
            self._candidate_end = time.monotonic()
            await self._watch_candidate()

    async def _watch_candidate(self) -> None:
        await self._cancel_watch()
        self._watch = self.create_task(self._candidate_timeout())

    async def _candidate_timeout(self) -> None:
        """Long speech interrupts; silence with no words resumes."""
        assert self._candidate_onset is not None
        if self._candidate_end is None:
            speech_s = time.monotonic() - self._candidate_onset
            await asyncio.sleep(max(0.0, self._policy.settings.interrupt_after_s - speech_s))
            self._watch = None
            await self._decide(self._policy.while_speaking(time.monotonic() - self._candidate_onset), "long")
        else:
            await asyncio.sleep(self._resume_after_s)
            self._watch = None
            await self._decide(BargeInDecision.RESUME, "no_words")

    async def _on_interim(self, text: str) -> None:
        if self._candidate_onset is None:
            return
        end = self._candidate_end or time.monotonic()
        await self._decide(self._policy.on_transcript(text, end - self._candidate_onset), "words")

    async def _on_final(self, frame: TranscriptionFrame, direction: FrameDirection) -> None:
        if not frame.text.strip():
            await self.push_frame(frame, direction)
            return
        if self._turn_during_agent and cues.is_backchannel(frame.text):
            await self.push_frame(BackchannelFrame(frame.text), direction)
            return  # feedback while the agent spoke, not a turn
        if self._candidate_onset is not None:
            await self._decide(BargeInDecision.INTERRUPT, "final")
        self._turn_during_agent = False
        await self.push_frame(frame, direction)

    async def _decide(self, decision: BargeInDecision, why: str) -> None:
        if self._candidate_onset is None or decision == BargeInDecision.WAIT:
            return
        await self._cancel_watch()
        self._candidate_onset = self._candidate_end = None
        if decision == BargeInDecision.RESUME:
            await self.push_frame(ResumePlayoutFrame())
            await self.push_frame(BargeInFrame(BargeInState.RESUMED, why))
            return
        await self.broadcast_interruption()
        await self.push_frame(BargeInFrame(BargeInState.INTERRUPTED, why))

    async def _cancel_watch(self) -> None:
        if self._watch is not None:
            task, self._watch = self._watch, None
            if task is not asyncio.current_task():
                await self.cancel_task(task)

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._cancel_watch()
