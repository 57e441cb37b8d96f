"""A scripted WebSocket caller (tests and benchmarks): speaks PCM in real time, records the replies."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import websockets

FRAME_SAMPLES = 320  # 20 ms at 16 kHz
START = {"type": "start", "sample_rate": 16000, "encoding": "pcm_s16le", "channels": 1}


@dataclass
class CallResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    audio_chunks: list[tuple[float, int]] = field(default_factory=list)  # (time, bytes)
    close_code: int | None = None

    def texts(self, role: str) -> list[str]:
        return [e["text"] for e in self.events if e.get("type") == "transcript" and e.get("role") == role]

    def audio_bytes(self, after: float = 0.0) -> int:
        return sum(n for t, n in self.audio_chunks if t >= after)


async def _send_audio(ws, pcm: np.ndarray) -> None:
    start = time.monotonic()
    for i in range(0, len(pcm), FRAME_SAMPLES):
        await ws.send(pcm[i : i + FRAME_SAMPLES].tobytes())
        # real-time pacing against the wall clock (no drift)
        await asyncio.sleep(max(0.0, start + (i + FRAME_SAMPLES) / 16000 - time.monotonic()))


async def call(
    url: str,
    turns: list[np.ndarray],
    *,
    wait_agent_s: float = 20.0,
    hangup: bool = True,
) -> CallResult:
    """Greeting, then each turn after the agent finished speaking; silence frames in between."""
    result = CallResult()
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps(START))
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready", ready
        quiet = asyncio.Event()
        last_audio = [time.monotonic()]
        spoke_since = [0.0]  # agent audio must arrive after this moment to count as an answer
        ended = asyncio.Event()

        async def receive() -> None:
            try:
                async for message in ws:
                    now = time.monotonic()
                    if isinstance(message, bytes):
                        result.audio_chunks.append((now, len(message)))
                        last_audio[0] = now
                        quiet.clear()
                    else:
                        event = json.loads(message)
                        event["_t"] = now
                        result.events.append(event)
                        if event.get("type") == "end":
                            ended.set()
            except websockets.ConnectionClosed as exc:
                result.close_code = exc.code
            finally:
                ended.set()

        async def watch_quiet() -> None:
            while True:
                await asyncio.sleep(0.1)
                answered = result.audio_bytes(after=spoke_since[0]) > 0
                if answered and time.monotonic() - last_audio[0] > 0.6:
                    quiet.set()

        receiver = asyncio.create_task(receive())
        watcher = asyncio.create_task(watch_quiet())
        silence = np.zeros(FRAME_SAMPLES * 10, np.int16)
        try:
            for pcm in [*turns, None]:
                deadline = time.monotonic() + wait_agent_s
                while not quiet.is_set() and not ended.is_set() and time.monotonic() < deadline:
                    await _send_audio(ws, silence)
                if ended.is_set() or pcm is None:
                    break
                quiet.clear()
                await _send_audio(ws, pcm)
                result.events.append({"type": "_caller_done", "_t": time.monotonic()})
                spoke_since[0] = time.monotonic()
                quiet.clear()
            if hangup and not ended.is_set():
                await ws.send(json.dumps({"type": "hangup"}))
            await asyncio.wait_for(ended.wait(), wait_agent_s)
        finally:
            watcher.cancel()
            receiver.cancel()
    return result
