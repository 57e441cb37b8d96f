"""The latency benchmark's SIP caller: ``ScriptedCall`` over a real telephone call (PJSUA2, PCMA).

``SipLiveCall`` runs ``evals.latency.sip_peer`` (a PJSUA2 phone in its own process) that calls the
service's SIP endpoint on loopback: the rendered 16 kHz speech goes into the call in real time
(silence in between), and every heard 20 ms frame loud enough to be the agent's speech is stamped
with ``time.monotonic()`` in the phone process (the same system clock as this process's).

A phone line carries no events, so the flow's events (final transcripts, barge-in states) are read
where the SIP transport keeps them, on the service's ``SipCall`` (the service runs in this process).
Its ``events`` list is swapped for one that stamps each event when the pipeline appends it, the
moment a WebSocket would send it. Like WebRTC, the line carries the service's silence while the
agent is quiet and the voice's clause pauses are silent too, so agent audio counts as stopped after
the same 0.45 s gap as on WebRTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import numpy as np

from evals.latency.caller import ScriptedCall

CODEC = "PCMA"


class _StampedEvents(list):
    """A call's event list that stamps each appended event (``_t``, monotonic) as it arrives."""

    def append(self, event: Any) -> None:
        if isinstance(event, dict):
            event = {**event, "_t": time.monotonic()}
        super().append(event)


class SipLiveCall(ScriptedCall):
    """One SIP call from a PJSUA2 phone to ``endpoint`` (the service's ``SipEndpoint``) on ``user``."""

    stop_gap_s = 0.45

    def __init__(self, endpoint: Any, user: str = "triage", *, codec: str = CODEC) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.uri = f"sip:{user}@127.0.0.1:{endpoint.ports['udp']}"
        self.codec = codec
        self.codec_used: str | None = None
        self.end_status: int | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._spoken: asyncio.Queue[tuple[float, float]] = asyncio.Queue()
        self._media = asyncio.Event()
        self._port: int | None = None
        self._call: Any = None
        self._files = tempfile.TemporaryDirectory(prefix="medvoice-sip-say-")
        self._said = 0

    async def __aenter__(self) -> Self:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "evals.latency.sip_peer", "--uri", self.uri, "--codec", self.codec,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        self._reader = asyncio.create_task(self._read())
        deadline = time.monotonic() + 30
        while not self._media.is_set():
            if self.ended.is_set() or time.monotonic() > deadline:
                await self.__aexit__()
                raise ConnectionError(f"SIP call not answered (status {self.end_status})")
            await asyncio.sleep(0.02)
        self._call = await self._service_call(deadline)
        return self

    async def _service_call(self, deadline: float) -> Any:
        """The service's handle of this call (its INVITE came from our port); stamps its events."""
        while time.monotonic() < deadline:
            for call in self.endpoint.calls():
                if self._port is not None and call.source.rsplit(":", 1)[-1] == str(self._port):
                    if not isinstance(call.events, _StampedEvents):
                        old = call.events
                        stamped = _StampedEvents({**e, "_t": time.monotonic()} for e in old)
                        call.events = stamped
                        stamped.extend({**e, "_t": time.monotonic()} for e in old[len(stamped):])
                    self.received.events = call.events
                    return call
            await asyncio.sleep(0.01)
        raise ConnectionError("the service has no handle for this SIP call")

    async def __aexit__(self, *_exc: object) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                assert process.stdin is not None
                process.stdin.write(b"quit\n")
                await process.stdin.drain()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self.ended.set()
        self._files.cleanup()

    async def speak(self, pcm: np.ndarray) -> tuple[float, float]:
        """Queue ``pcm`` on the phone's microphone; (start, end) of its real-time send."""
        process = self._process
        if process is None or process.returncode is not None or self.ended.is_set():
            raise ConnectionError("the SIP call has ended")
        self._said += 1
        path = Path(self._files.name) / f"{self._said}.pcm"
        path.write_bytes(np.asarray(pcm, np.int16).tobytes())
        assert process.stdin is not None
        process.stdin.write(f"say {path}\n".encode())
        await process.stdin.drain()
        spoken = asyncio.ensure_future(self._spoken.get())
        ended = asyncio.ensure_future(self.ended.wait())
        await asyncio.wait({spoken, ended}, return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        if not spoken.done():
            spoken.cancel()
            raise ConnectionError("the SIP call ended while the caller spoke")
        return spoken.result()

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        try:
            async for line in self._process.stdout:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                kind = event["event"]
                if kind == "audio":
                    self.received.audio.append(event["t"])
                elif kind == "spoken":
                    self._spoken.put_nowait((event["start"], event["end"]))
                elif kind == "ready":
                    self._port = int(event["port"])
                elif kind == "media":
                    self.codec_used = event["codec"]
                    self._media.set()
                elif kind == "disconnected":
                    self.end_status = event.get("status")
                    self.ended.set()
        finally:
            self.ended.set()
