"""A call whose caller is a WAV file: what ``medvoice call --in caller.wav --out agent.wav`` uses.

The caller behaves like a polite person on the phone: they wait for the agent's greeting to end,
say the contents of the file (in real time, 20 ms frames), then stay silent. The call ends when
the flow hangs up or when the agent has answered and then been quiet for ``idle_end_s`` after
the file ran out (``max_tail_s`` at most). The agent's audio is recorded on the call's timeline,
so ``agent.wav`` lines up with ``caller.wav``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    EndWorkerFrame,
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    StartFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import BaseTransport, TransportParams

from transport.pacing import PlaybackClock

FRAME_S = 0.02


@dataclass
class CallRecording:
    """Agent audio chunks with their start time (seconds since the call started)."""

    sample_rate: int
    chunks: list[tuple[float, bytes]] = field(default_factory=list)

    def to_array(self) -> np.ndarray:
        """The agent channel as int16, silence between chunks."""
        if not self.chunks:
            return np.zeros(0, np.int16)
        end = max(t + len(b) / 2 / self.sample_rate for t, b in self.chunks)
        out = np.zeros(int(end * self.sample_rate) + 1, np.int16)
        for t, audio in self.chunks:
            samples = np.frombuffer(audio, np.int16)
            start = int(t * self.sample_rate)
            out[start : start + len(samples)] = samples[: len(out) - start]
        return out


class _FileInput(BaseInputTransport):
    def __init__(self, owner: FileCallTransport, params: TransportParams, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self._owner = owner
        self._feeder: asyncio.Task | None = None
        self._agent_quiet = asyncio.Event()
        self._quiet_since = time.monotonic()

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)
        self._feeder = self.create_task(self._feed())

    async def stop(self, frame: EndFrame) -> None:
        await self._stop_feeder()
        await super().stop(frame)

    async def cancel(self, frame) -> None:
        await self._stop_feeder()
        await super().cancel(frame)

    async def _stop_feeder(self) -> None:
        if self._feeder is not None:
            await self.cancel_task(self._feeder)
            self._feeder = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, BotStartedSpeakingFrame):
            self._agent_quiet.clear()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._quiet_since = time.monotonic()
            self._agent_quiet.set()
        await super().process_frame(frame, direction)

    async def _feed(self) -> None:
        owner = self._owner
        clock = PlaybackClock()
        frame_samples = int(FRAME_S * owner.sample_rate)
        silence = bytes(frame_samples * 2)
        greeting_wait_end = time.monotonic() + owner.greeting_timeout_s
        while not self._quiet_for(owner.idle_end_s) and time.monotonic() < greeting_wait_end:
            await self._push(silence, clock)
        pcm = owner.caller_pcm
        for start in range(0, len(pcm), frame_samples):
            chunk = pcm[start : start + frame_samples]
            if len(chunk) < frame_samples:
                chunk = np.pad(chunk, (0, frame_samples - len(chunk)))
            await self._push(chunk.tobytes(), clock)
        owner.caller_done_at = time.monotonic()
        tail_end = owner.caller_done_at + owner.max_tail_s
        while time.monotonic() < tail_end:
            await self._push(silence, clock)
            if owner.answered_after_caller() and self._quiet_for(owner.idle_end_s):
                break
        # Ask the worker to end: it sends EndFrame through the whole pipeline, in order, which
        # lets the agent's queued audio finish and stops this task from the outside.
        await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)

    def _quiet_for(self, seconds: float) -> bool:
        return self._agent_quiet.is_set() and time.monotonic() - self._quiet_since >= seconds

    async def _push(self, audio: bytes, clock: PlaybackClock) -> None:
        await self.push_audio_frame(InputAudioRawFrame(audio, self._owner.sample_rate, 1))
        await clock.advance(FRAME_S)


class _FileOutput(BaseOutputTransport):
    def __init__(self, owner: FileCallTransport, params: TransportParams, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self._owner = owner
        self._clock = PlaybackClock()

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        if any(frame.audio):
            self._owner.recording.chunks.append((time.monotonic() - self._owner.started_at, frame.audio))
        await self._clock.advance(len(frame.audio) / 2 / self.sample_rate)
        return True


class FileCallTransport(BaseTransport):
    """Input from a caller recording, output to an in-memory agent recording.

    Args:
        caller_pcm: int16 mono samples at ``sample_rate``.
        sample_rate: 16000 (what the pipeline expects).
        answered_after_caller: True once the agent replied to a caller turn heard after the file
            ended (supplied by the session, which sees the transcript events).
    """

    def __init__(
        self,
        caller_pcm: np.ndarray,
        *,
        sample_rate: int = 16000,
        output_sample_rate: int = 16000,
        answered_after_caller: Callable[[], bool] = lambda: True,
        idle_end_s: float = 1.5,
        max_tail_s: float = 25.0,
        greeting_timeout_s: float = 30.0,
    ) -> None:
        super().__init__()
        self.caller_pcm = np.asarray(caller_pcm, np.int16)
        self.sample_rate = sample_rate
        self.answered_after_caller = answered_after_caller
        self.idle_end_s = idle_end_s
        self.max_tail_s = max_tail_s
        self.greeting_timeout_s = greeting_timeout_s
        self.started_at = time.monotonic()
        self.caller_done_at: float | None = None
        self.recording = CallRecording(output_sample_rate)
        params = TransportParams(
            audio_in_enabled=True,
            audio_in_sample_rate=sample_rate,
            audio_out_enabled=True,
            audio_out_sample_rate=output_sample_rate,
            audio_out_end_silence_secs=0,
        )
        self._input = _FileInput(self, params, name="file-in")
        self._output = _FileOutput(self, params, name="file-out")

    def input(self) -> _FileInput:
        return self._input

    def output(self) -> _FileOutput:
        return self._output
