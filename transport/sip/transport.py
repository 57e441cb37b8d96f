"""The pipecat transport of one SIP call: the caller's 20 ms frames and keypad digits in, the
agent's audio out through the call's ``OutgoingAudio`` (a real-time queue the playout gate can
hold), the flow's events kept on the call (``SipCall.events``: the transfer reads the hand-off
and summary from them)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    EndWorkerFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams

from transport.capabilities import AudioOutput, declare_audio_output
from transport.pacing import PlaybackClock
from transport.sip.call import SipCall
from transport.sip.codec import BRIDGE_CLOCK_RATE
from transport.sip.dtmf import keypad_entry

logger = logging.getLogger("medvoice.sip")

# How far the agent's audio may run ahead of the conference clock: enough to ride out the event
# loop falling behind on a loaded machine (at load 13 on 2 cores an 80 ms lead left holes in
# words). It costs barge-in nothing: a pause silences the queue at once (OutgoingAudio.pause).
OUTPUT_LEAD_S = 0.25
MAX_EVENTS = 500


class _SipInput(BaseInputTransport):
    def __init__(self, call: SipCall, params: TransportParams, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self._call = call
        self._tasks: list[asyncio.Task] = []
        self.before_end: Callable[[], Awaitable[None]] | None = None
        """Awaited before the flow's end of the call goes on (a transfer in progress finishes first)."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, EndWorkerFrame) and direction == FrameDirection.UPSTREAM and self.before_end:
            self._tasks.append(self.create_task(self._end_after(frame, self.before_end)))
            return
        await super().process_frame(frame, direction)

    async def _end_after(self, frame: EndWorkerFrame, wait: Callable[[], Awaitable[None]]) -> None:
        await wait()
        await self.push_frame(frame, FrameDirection.UPSTREAM)

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)
        self._tasks = [self.create_task(self._audio()), self.create_task(self._digits())]

    async def stop(self, frame: EndFrame) -> None:
        await self._stop_tasks()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        await self._stop_tasks()
        await super().cancel(frame)

    async def _stop_tasks(self) -> None:
        for task in self._tasks:
            await self.cancel_task(task)
        self._tasks = []

    async def _audio(self) -> None:
        incoming = self._call.incoming
        while True:
            audio = await incoming.get()
            await self.push_audio_frame(InputAudioRawFrame(audio, BRIDGE_CLOCK_RATE, 1))

    async def _digits(self) -> None:
        while True:
            digit = await self._call.digits.get()
            entry = keypad_entry(digit)
            if entry is not None:
                await self.push_frame(InputDTMFFrame(button=entry))


class _SipOutput(BaseOutputTransport):
    def __init__(self, call: SipCall, params: TransportParams, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self._call = call
        self._clock = PlaybackClock(lead_s=OUTPUT_LEAD_S)

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        if self._call.ended.is_set():
            return False
        self._call.outgoing.write(frame.audio)
        await self._clock.advance(len(frame.audio) / 2 / BRIDGE_CLOCK_RATE)
        return True

    async def send_message(self, frame: OutputTransportMessageFrame | OutputTransportMessageUrgentFrame) -> None:
        if isinstance(frame.message, dict) and len(self._call.events) < MAX_EVENTS:
            self._call.events.append(frame.message)

    async def stop(self, frame: EndFrame) -> None:
        self._call.outgoing.flush()
        await super().stop(frame)


class SipCallTransport(BaseTransport):
    """Input and output of one answered SIP call, 16 kHz mono on both sides."""

    def __init__(self, call: SipCall) -> None:
        super().__init__()
        self.call = call
        params = TransportParams(
            audio_in_enabled=True,
            audio_in_sample_rate=BRIDGE_CLOCK_RATE,
            audio_out_enabled=True,
            audio_out_sample_rate=BRIDGE_CLOCK_RATE,
            audio_out_end_silence_secs=0,
        )
        self._input = _SipInput(call, params, name=f"sip-in-{call.call_id}")
        self._output = _SipOutput(call, params, name=f"sip-out-{call.call_id}")

    def input(self) -> _SipInput:
        return self._input

    def output(self) -> _SipOutput:
        return self._output


def sip_call_transport(call: SipCall) -> SipCallTransport:
    """The transport of ``call``, with its output declared: played in real time by the conference
    clock, with a queue the playout gate holds on a barge-in."""
    return declare_audio_output(SipCallTransport(call), AudioOutput(realtime=True, queued=call.outgoing))
