"""Agent audio played out at the pace of speech, so that barge-in can pause, resume or drop it.

TTS makes audio faster than real time and the output transport queues whatever it gets, so a
stop decided upstream would come only after seconds of queued speech. ``PlayoutGate`` sits just
before ``transport.output()`` and lets audio through no more than ``lead_s`` ahead of the wall
clock: a ``PausePlayoutFrame`` silences the agent within about ``lead_s``, a
``ResumePlayoutFrame`` goes on from the next unplayed chunk, and an ``InterruptionFrame`` drops
what is left. Other downstream frames keep their place behind the audio (a reply's
TTSStoppedFrame leaves after its last chunk). Upstream, a ``PlayoutPendingFrame`` says whenever
agent audio starts or stops waiting here. A transport that queues audio itself (WebRTC's output
track) can be held with the gate (``output_hold``), so that a pause silences the agent at once
instead of within ``lead_s``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Protocol

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
    SystemFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from turntaking.frames import PausePlayoutFrame, PlayoutPendingFrame, ResumePlayoutFrame

# How far agent audio may run ahead of real time into the output transport. A track that plays
# out in real time behind a one-chunk queue (WebRTC) still plays all audio released ahead after a
# barge-in pause: at 80 ms the caller heard the agent stop 270 ms after their onset, at 40 ms
# 215 ms (p50, 4 barge-ins each). A far end that buffers on its side (the WebSocket client) gets 80.
BUFFERED_PLAYOUT_LEAD_S = 0.08
REALTIME_PLAYOUT_LEAD_S = 0.04


def playout_lead_s(realtime: bool) -> float:
    """The gate's lead for an output that plays in real time, or one whose far end buffers."""
    return REALTIME_PLAYOUT_LEAD_S if realtime else BUFFERED_PLAYOUT_LEAD_S


class OutputHold(Protocol):
    """Audio the output transport has taken but not played: held on pause, played on resume,
    discarded on an interruption (a transport declares it: WebRTC's ``TrackHold``)."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def drop(self) -> None: ...


class PlayoutGate(FrameProcessor):
    """Paces agent audio in real time; pausable for barge-in.

    Args:
        lead_s: How far ahead of real time audio may run into the output transport.
        output_hold: Holds what the output transport has queued, with the gate.
    """

    def __init__(self, *, lead_s: float = BUFFERED_PLAYOUT_LEAD_S, output_hold: OutputHold | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 <= lead_s <= 1:
            raise ValueError(f"lead_s must be within 0-1 s, got {lead_s}")
        self._lead_s = lead_s
        self._output_hold = output_hold
        self._held: deque[Frame] = deque()
        self._wake = asyncio.Event()
        self._open = asyncio.Event()
        self._open.set()
        self._audio_end: float | None = None
        self._task: asyncio.Task | None = None
        self._ending = False
        self._reported_pending = False

    @property
    def lead_s(self) -> float:
        return self._lead_s

    @property
    def output_hold(self) -> OutputHold | None:
        return self._output_hold

    @property
    def paused(self) -> bool:
        return not self._open.is_set()

    @property
    def holds_audio(self) -> bool:
        return any(isinstance(f, OutputAudioRawFrame) for f in self._held)

    def pause(self) -> None:
        """Stop releasing audio (without an ``output_hold``, what the transport already has, at
        most ``lead_s``, still plays)."""
        if not self._ending:
            self._open.clear()
            if self._output_hold is not None:
                self._output_hold.pause()

    def resume(self) -> None:
        """Release audio again from the first chunk not yet played."""
        self._audio_end = None
        self._open.set()
        if self._output_hold is not None:
            self._output_hold.resume()

    def _drop_held_output(self) -> None:
        if self._output_hold is not None:
            self._output_hold.drop()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction != FrameDirection.DOWNSTREAM:
            await self.push_frame(frame, direction)
            return
        if isinstance(frame, PausePlayoutFrame):
            self.pause()
            return
        if isinstance(frame, ResumePlayoutFrame):
            self.resume()
            return
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            self._task = self.create_task(self._release())
            return
        if isinstance(frame, InterruptionFrame):
            self._held = deque(f for f in self._held if not f.interruptible)
            self._audio_end = None
            self._open.set()
            self._drop_held_output()
            await self.push_frame(frame, direction)
            await self._report_pending()
            return
        if isinstance(frame, CancelFrame):
            await self._stop()
            await self.push_frame(frame, direction)
            return
        if isinstance(frame, SystemFrame):
            await self.push_frame(frame, direction)
            return
        if isinstance(frame, EndFrame):
            # The call is ending: hand what is left to the transport at once, as without a gate.
            self._ending = True
            self.resume()
        self._held.append(frame)
        self._wake.set()
        await self._report_pending()

    async def _report_pending(self) -> None:
        """Tell the processors upstream when agent audio starts or stops waiting here."""
        pending = self.holds_audio
        if pending != self._reported_pending:
            self._reported_pending = pending
            await self.push_frame(PlayoutPendingFrame(pending), FrameDirection.UPSTREAM)

    async def _release(self) -> None:
        while True:
            if not self._held:
                self._wake.clear()
                await self._wake.wait()
                continue
            frame = self._held[0]
            if isinstance(frame, OutputAudioRawFrame):
                await self._open.wait()
                await self._pace()
                if not self._held or self._held[0] is not frame or not self._open.is_set():
                    continue  # interrupted or paused while waiting
                self._held.popleft()
                self._audio_end = max(self._audio_end or time.monotonic(), time.monotonic()) + (
                    len(frame.audio) / (2 * frame.num_channels * frame.sample_rate)
                )
            else:
                self._held.popleft()
            await self.push_frame(frame)
            await self._report_pending()
            if isinstance(frame, EndFrame):
                return

    async def _pace(self) -> None:
        if self._audio_end is None or self._ending:
            return
        delay = self._audio_end - time.monotonic() - self._lead_s
        if delay > 0:
            await asyncio.sleep(delay)

    async def _stop(self) -> None:
        self._held.clear()
        self._drop_held_output()
        if self._task is not None:
            task, self._task = self._task, None
            await self.cancel_task(task)

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._stop()
