"""The conversation step of a call: caller turns in, the flow's replies out as speech.

``ConversationProcessor`` sits between turn-taking and TTS. It owns the call's ``Dialogue``:
it asks it for the greeting when the call starts, feeds it each final caller turn, turns each
``Reply`` into a ``TTSSpeakFrame``, sends transcript, state and barge-in events to the client,
runs the silence timer (re-prompt, then a polite goodbye), and ends the call after the last reply
plays. One turn is handled at a time, in order; an ``InterruptionFrame`` (a barge-in, decided in
``turntaking``) cancels the reply in flight. Interim transcripts become caption events
(``final: false``). Keypad digits (``InputDTMFFrame``, from the telephone transport) are turns too:
0 asks the flow for a person at any time, a question asked digit by digit takes the digits (ended
by # or a pause), and other digits are what the flow's ``keypad_answer`` makes of them (1 是 / 2 否).
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
    InputDTMFFrame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from agent.metrics import REGISTRY, MetricsRegistry, TurnTimer
from dialogue import Dialogue, Reply
from medical_terms import Confidence
from turntaking import BackchannelFrame, BargeInFrame, BargeInState, HeardTranscriptionFrame, TurnEndedFrame

logger = logging.getLogger("medvoice.call")

_OPEN, _TURN, _SILENCE, _HUMAN = "open", "turn", "silence", "human"
KEYPAD_DIGITS_PAUSE_S = 3.0
"""Digits typed for a question asked digit by digit end with # or after this pause."""

EventSink = Callable[[dict[str, Any]], None]


class ConversationProcessor(FrameProcessor):
    """Drives one ``Dialogue`` from the pipeline's frames.

    Args:
        dialogue: The call's flow instance.
        silence_timeout_s: Caller silence (after the agent stops speaking) that counts as no answer.
        on_event: Optional observer of every event sent to the client (tests, metrics, records).
        timer: The call's per-turn stage timer.
        metrics: Where barge-in and backchannel counts go (the service's registry).
    """

    def __init__(
        self,
        dialogue: Dialogue,
        *,
        silence_timeout_s: float = 7.0,
        on_event: EventSink | None = None,
        timer: TurnTimer | None = None,
        metrics: MetricsRegistry | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self._registry = metrics or REGISTRY
        self._timer = timer or TurnTimer(self._registry)
        self._dialogue = dialogue
        self._silence_timeout_s = silence_timeout_s
        self._on_event = on_event
        self._turns: asyncio.Queue[tuple[str, str, Confidence | None]] = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self._silence_timer: asyncio.Task | None = None
        self._keys = ""  # digits typed for a question asked digit by digit
        self._keys_timer: asyncio.Task | None = None
        self._ending = False  # the dialogue ended the call
        self._closed = False  # the pipeline is ending: no new task may start

    # -- lifecycle ---------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            self._worker = self.create_task(self._run_turns())
            await self._turns.put((_OPEN, "", None))
            return
        if isinstance(frame, (EndFrame, CancelFrame)):
            await self._shutdown()
            if isinstance(frame, CancelFrame) and not self._ending:
                await self._dialogue.hangup()  # the caller left mid-flow: keep what they answered
        elif isinstance(frame, InterimTranscriptionFrame):
            if frame.text:
                await self._emit({"type": "transcript", "role": "caller", "text": frame.text, "final": False})
            return  # consumed: captions only
        elif isinstance(frame, TranscriptionFrame):
            await self._on_final(frame.text, frame.confidence if isinstance(frame, HeardTranscriptionFrame) else None)
            return  # consumed: the dialogue answers it
        elif isinstance(frame, TurnEndedFrame):
            self._timer.speech_ended(frame.speech_end)
            return
        elif isinstance(frame, BackchannelFrame):
            self._timer.cancel()
            self._registry.count("backchannels_ignored")
            return
        elif isinstance(frame, BargeInFrame):
            await self._on_barge_in(frame)
            return
        elif isinstance(frame, InputDTMFFrame):
            await self._on_key(str(frame.button.value))
            return
        elif isinstance(frame, InterruptionFrame) and direction == FrameDirection.DOWNSTREAM:
            await self.push_frame(frame, direction)
            await self._drop_reply()
            return
        elif isinstance(frame, (VADUserStartedSpeakingFrame, BotStartedSpeakingFrame)):
            await self._cancel_silence_timer()
        elif isinstance(frame, BotStoppedSpeakingFrame) and direction == FrameDirection.UPSTREAM:
            await self._arm_silence_timer()
        await self.push_frame(frame, direction)

    async def _shutdown(self) -> None:
        self._closed = True
        await self._cancel_silence_timer()
        await self._cancel_keys_timer()
        self._timer.cancel()
        if self._worker is not None:
            await self.cancel_task(self._worker)
            self._worker = None

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._shutdown()

    # -- turns -------------------------------------------------------------------------------

    async def _run_turns(self) -> None:
        while True:
            kind, text, confidence = await self._turns.get()
            if self._ending:
                continue
            if kind == _OPEN:
                await self._speak(self._dialogue.open())
            elif kind == _SILENCE:
                await self._speak(self._dialogue.handle_silence())
            elif kind == _HUMAN:
                await self._speak(self._dialogue.human_requested())
            else:
                await self._emit({"type": "transcript", "role": "caller", "text": text, "final": True})
                # Typed text and the stock decoder carry no confidence: the dialogue then reads back as before.
                await self._speak(self._dialogue.handle(text, confidence) if confidence is not None
                                  else self._dialogue.handle(text))

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

    # -- caller turns, barge-in -------------------------------------------------------------

    async def _on_final(self, text: str, confidence: Confidence | None = None) -> None:
        if not text.strip():
            return
        await self._cancel_silence_timer()
        self._timer.mark("transcript")
        await self._turns.put((_TURN, text, confidence))

    async def _on_barge_in(self, frame: BargeInFrame) -> None:
        if frame.state == BargeInState.PAUSED:
            self._registry.count("bargein_candidates")
            if frame.pause_s is not None:
                self._registry.observe_bargein(frame.pause_s)
        elif frame.state == BargeInState.RESUMED:
            self._registry.count(f"bargein_resumed_{frame.reason}")
        else:
            self._registry.count("bargein_interruptions")
        await self._emit({"type": "barge_in", "state": frame.state.value})

    async def _drop_reply(self) -> None:
        """The caller interrupted: drop the reply the dialogue is still producing."""
        if self._worker is not None:
            await self.cancel_task(self._worker)
        if not self._closed:
            self._worker = self.create_task(self._run_turns())

    # -- keypad ------------------------------------------------------------------------------

    async def _on_key(self, key: str) -> None:
        await self._emit({"type": "keypad", "key": key})
        if self._ending:
            return
        await self._cancel_silence_timer()
        if key == "0":
            await self._cancel_keys_timer()
            self._keys = ""
            await self._turns.put((_HUMAN, "", None))
        elif self._dialogue.expects_digits():
            await self._cancel_keys_timer()
            if key == "#":
                await self._submit_keys()
            elif key.isdigit():
                self._keys += key
                self._keys_timer = self.create_task(self._keys_after_pause())
        else:
            words = self._dialogue.keypad_answer(key)
            if words:
                await self._on_final(words)

    async def _keys_after_pause(self) -> None:
        await asyncio.sleep(KEYPAD_DIGITS_PAUSE_S)
        self._keys_timer = None
        await self._submit_keys()

    async def _submit_keys(self) -> None:
        digits, self._keys = self._keys, ""
        if digits:
            await self._on_final(digits)

    async def _cancel_keys_timer(self) -> None:
        if self._keys_timer is not None:
            timer, self._keys_timer = self._keys_timer, None
            await self.cancel_task(timer)

    # -- silence -----------------------------------------------------------------------------

    async def _arm_silence_timer(self) -> None:
        await self._cancel_silence_timer()
        if not self._ending and not self._closed:
            self._silence_timer = self.create_task(self._silence_after_timeout())

    async def _cancel_silence_timer(self) -> None:
        if self._silence_timer is not None:
            timer, self._silence_timer = self._silence_timer, None
            await self.cancel_task(timer)

    async def _silence_after_timeout(self) -> None:
        await asyncio.sleep(self._silence_timeout_s)
        self._silence_timer = None
        await self._emit({"type": "silence", "after_s": self._silence_timeout_s})
        await self._turns.put((_SILENCE, "", None))

    # -- events ------------------------------------------------------------------------------

    async def _emit(self, event: dict[str, Any]) -> None:
        event = {**event, "t": round(time.time(), 3)}
        if self._on_event is not None:
            self._on_event(event)
        await self.push_frame(OutputTransportMessageUrgentFrame(message=event))
