"""The conversation step of a call: caller turns in, the flow's replies out as speech.

``ConversationProcessor`` sits between term correction and TTS. It owns the call's ``Dialogue``:
it asks it for the greeting when the call starts, feeds it each final caller turn, turns each
``Reply`` into a ``TTSSpeakFrame``, sends transcript and state events to the client, runs the
silence timer (re-prompt, then a polite goodbye), and ends the call after the last reply plays.
One turn is handled at a time, in order.
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
    OutputTransportMessageUrgentFrame,
    StartFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from dialogue.base import Dialogue, Reply

logger = logging.getLogger("medvoice.call")

_OPEN, _TURN, _SILENCE = "open", "turn", "silence"

EventSink = Callable[[dict[str, Any]], None]


class ConversationProcessor(FrameProcessor):
    """Drives one ``Dialogue`` from the pipeline's frames.

    Args:
        dialogue: The call's flow instance.
        silence_timeout_s: Caller silence (after the agent stops speaking) that counts as no answer.
        on_event: Optional observer of every event sent to the client (tests, metrics, records).
    """

    def __init__(
        self,
        dialogue: Dialogue,
        *,
        silence_timeout_s: float = 7.0,
        on_event: EventSink | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
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
        elif isinstance(frame, TranscriptionFrame):
            if frame.text.strip():
                await self._cancel_silence_timer()
                await self._turns.put((_TURN, frame.text))
            return  # consumed: the dialogue answers it
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            await self._cancel_silence_timer()
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
