"""Real-time scripted callers for the latency benchmark: what they share, and the WebSocket one.

``ScriptedCall`` is the interface the benchmark drives (speak, wait for the agent's audio or
quiet, read what arrived and when); ``LiveCall`` implements it over the WebSocket. Unlike
``evals.ws_caller.call`` it never stops sending (silence between utterances, as a phone line
does), can speak while the agent speaks (barge-in), and records the arrival time of every agent
audio chunk and event, so latencies are measured on the caller's side of the socket. The WebRTC
caller is ``evals.latency.rtc_caller.RtcLiveCall``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import websockets

from evals.ws_caller import FRAME_SAMPLES, START

FRAME_S = FRAME_SAMPLES / 16000


@dataclass
class Received:
    """What reached the caller, stamped with its arrival time (``time.monotonic``)."""

    audio: list[float] = field(default_factory=list)  # arrival times of agent audio chunks
    events: list[dict[str, Any]] = field(default_factory=list)

    def audio_after(self, t: float) -> list[float]:
        return [a for a in self.audio if a >= t]

    def finals(self, since: float, until: float = float("inf")) -> list[dict[str, Any]]:
        return [
            e for e in self.events
            if e.get("type") == "transcript" and e.get("role") == "caller" and e.get("final")
            and since <= e["_t"] < until
        ]

    def barge_states(self, since: float) -> list[str]:
        return [e["state"] for e in self.events if e.get("type") == "barge_in" and e["_t"] >= since]


class ScriptedCall(abc.ABC):
    """One live call the benchmark drives: ``async with call: await call.speak(pcm)``.

    ``received`` holds the arrival times (monotonic) of agent audio and events; ``ended`` is set
    once the service or the network has ended the call. Agent audio counts as stopped after a gap
    of ``stop_gap_s`` (longer than any gap between the chunks of one reply on this transport).
    """

    stop_gap_s: float = 0.25

    def __init__(self) -> None:
        self.received = Received()
        self.ended = asyncio.Event()

    @abc.abstractmethod
    async def __aenter__(self) -> Self:
        """Place the call; returns once audio can flow both ways."""

    @abc.abstractmethod
    async def __aexit__(self, *_exc: object) -> None:
        """Hang up and release the connection."""

    @abc.abstractmethod
    async def speak(self, pcm: np.ndarray) -> tuple[float, float]:
        """Send int16 16 kHz ``pcm`` in real time; returns its (start, end) send times."""

    async def wait_quiet(self, quiet_s: float = 0.8, timeout_s: float = 25.0, since: float = 0.0) -> bool:
        """Wait until agent audio (that started after ``since``) has paused for ``quiet_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.ended.is_set():
            after = self.received.audio_after(since)
            if after and time.monotonic() - after[-1] >= quiet_s:
                return True
            await asyncio.sleep(0.05)
        return False

    async def wait_audio(self, since: float, timeout_s: float = 15.0) -> float | None:
        """Arrival time of the first agent audio after ``since``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.ended.is_set():
            after = self.received.audio_after(since)
            if after:
                return after[0]
            await asyncio.sleep(0.01)
        return None


# Opens a new, not yet entered, call to the service.
Dial = Callable[[], ScriptedCall]


class LiveCall(ScriptedCall):
    """One WebSocket call on ``url``; use as ``async with LiveCall(url) as c: await c.speak(pcm)``."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._queue: asyncio.Queue[np.ndarray] = asyncio.Queue()
        self._spoken: asyncio.Queue[tuple[float, float]] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Self:
        self._ws = await websockets.connect(self.url, max_size=None)
        await self._ws.send(json.dumps(START))
        ready = json.loads(await self._ws.recv())
        if ready.get("type") != "ready":
            raise RuntimeError(f"call refused: {ready}")
        self._tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._receive())]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._ws.send(json.dumps({"type": "hangup"}))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._ws.close()

    async def speak(self, pcm: np.ndarray) -> tuple[float, float]:
        """Queue ``pcm`` and wait until it has been sent; returns (start, end) send times."""
        await self._queue.put(pcm)
        return await self._spoken.get()

    async def _send(self) -> None:
        silence = np.zeros(FRAME_SAMPLES, np.int16)
        clock = time.monotonic()
        pcm: np.ndarray | None = None
        position = 0
        started = 0.0
        while True:
            if pcm is None and not self._queue.empty():
                pcm, position, started = self._queue.get_nowait(), 0, clock
            if pcm is not None:
                frame = pcm[position:position + FRAME_SAMPLES]
                if len(frame) < FRAME_SAMPLES:
                    frame = np.concatenate([frame, silence[: FRAME_SAMPLES - len(frame)]])
                position += FRAME_SAMPLES
            else:
                frame = silence
            try:
                await self._ws.send(frame.tobytes())
            except websockets.ConnectionClosed:
                self.ended.set()
                return
            clock += FRAME_S
            if pcm is not None and position >= len(pcm):
                self._spoken.put_nowait((started, started + len(pcm) / 16000))
                pcm = None
            await asyncio.sleep(max(0.0, clock - time.monotonic()))

    async def _receive(self) -> None:
        try:
            async for message in self._ws:
                now = time.monotonic()
                if isinstance(message, bytes):
                    self.received.audio.append(now)
                else:
                    event = json.loads(message)
                    event["_t"] = now
                    self.received.events.append(event)
                    if event.get("type") == "end":
                        self.ended.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.ended.set()
