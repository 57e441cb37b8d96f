"""Scripted patient phones for outbound follow-up calls: they ring, answer and speak.

A worker's ring-back dialler POSTs ``{"call_url": ...}`` to a patient's ``url`` contact
(``http://HOST:PORT/ring/<phone>``); the phone answers 200 and calls ``call_url`` back over the
WebSocket with ``evals.ws_caller``, speaking its script (rendered Mandarin, as callers do in every
benchmark). ``Phones`` records every ring (phone, visit, attempt, time) and how each call ended,
which is what the cluster benchmark counts dials from. A phone set to ``busy`` answers 486.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, Request, Response

from evals import ws_caller


@dataclass
class Ring:
    """One ring of one phone, and the call it became."""

    phone: str
    visit: str
    attempt: int
    at: float
    ended_at: float | None = None
    outcome: str = "ringing"  # ringing | ended | dropped | failed
    agent_lines: int = 0


@dataclass
class Phones:
    """The phone server's state: scripts, rings, and the phones set busy.

    Args:
        script: The caller's turns (rendered speech), the same for every phone.
    """

    script: list[np.ndarray]
    rings: list[Ring] = field(default_factory=list)
    busy: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()
        tasks: set[asyncio.Task[Any]] = set()

        @app.post("/ring/{phone}")
        async def ring(phone: str, request: Request) -> Response:
            body = await request.json()
            if phone in self.busy:
                return Response(status_code=486)
            record = Ring(phone, str(body.get("visit")), int(body.get("attempt", 0)), time.time())
            with self.lock:
                self.rings.append(record)
            task = asyncio.create_task(self._answer(record, body["call_url"]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            return Response(status_code=200)

        return app

    async def _answer(self, ring: Ring, call_url: str) -> None:
        try:
            result = await ws_caller.call(call_url, self.script, wait_agent_s=25)
            ring.agent_lines = len(result.texts("agent"))
            ended = any(e.get("type") == "end" for e in result.events)
            ring.outcome = "ended" if ended else "dropped"
        except Exception:  # the worker died mid-call, or refused: the benchmark counts it
            ring.outcome = "failed"
        ring.ended_at = time.time()


class PhoneServer:
    """``Phones`` served on 127.0.0.1 in a background thread (``url`` is the ring base)."""

    def __init__(self, phones: Phones, port: int = 0) -> None:
        self.phones = phones
        self.server = uvicorn.Server(uvicorn.Config(phones.app(), host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> PhoneServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the phone server did not start within 30 s")
            time.sleep(0.05)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def rendered_script(lines: list[str], render: Callable[[str], np.ndarray]) -> list[np.ndarray]:
    """The phone's turns, rendered once."""
    return [render(line) for line in lines]
