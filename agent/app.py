"""The FastAPI application: health, readiness, flows, the WebSocket call endpoint.

``create_app(settings)`` loads the models at start-up (lifespan); tests pass ready ``Engines`` to
share one set of loaded models.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from agent.config import FLOWS, Settings
from agent.engines import Engines
from agent.records_api import build_records_router
from agent.session import CallSessions
from dialogue import UnknownFlowError
from transport.websocket import websocket_transport
from transport.ws_protocol import ProtocolError, parse_start

logger = logging.getLogger("medvoice.app")

HANDSHAKE_TIMEOUT_S = 10.0


def open_records(settings: Settings):
    """The records + consultation store named by the settings (migrated and seeded on first use)."""
    from backends.embedded import open_store

    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    settings.key_file.parent.mkdir(parents=True, exist_ok=True)
    return open_store(database_url=settings.database_url, key_file=settings.key_file)


def create_app(settings: Settings | None = None, *, engines: Engines | None = None, store=None) -> FastAPI:
    settings = settings or Settings()
    store = store if store is not None else open_records(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.sessions is None:
            loaded = await asyncio.to_thread(Engines, settings)
            app.state.sessions = CallSessions(loaded, store=store)
        yield

    app = FastAPI(
        title="medvoice",
        version="0.1.0",
        description="Self-hosted Mandarin voice agent for hospitals (offline).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.sessions = CallSessions(engines, store=store) if engines is not None else None
    app.include_router(build_records_router(store))

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["service"])
    async def readyz() -> JSONResponse:
        """Readiness: every model loaded, with its path and load time."""
        sessions: CallSessions | None = app.state.sessions
        if sessions is None:
            return JSONResponse({"ready": False, "models": {}}, status_code=503)
        body = sessions.engines.readiness() | {"active_calls": sessions.active}
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get("/flows", tags=["calls"])
    async def flows() -> dict[str, list[str]]:
        """The conversation flows a call can use."""
        return {"flows": list(FLOWS)}

    @app.websocket("/ws/call")
    async def ws_call(websocket: WebSocket, flow: str = "triage") -> None:
        """A call over WebSocket; the protocol is in ``transport.ws_protocol`` and the README."""
        sessions: CallSessions = app.state.sessions
        await websocket.accept()
        try:
            dialogue_check = sessions.new_dialogue(flow, "probe")
            del dialogue_check
        except UnknownFlowError as exc:
            await _refuse(websocket, "unknown_flow", str(exc), 1008, flows=list(FLOWS))
            return
        if sessions.active >= settings.max_calls:
            await _refuse(websocket, "busy", f"all {settings.max_calls} call slots are busy; try again later", 1013)
            return
        try:
            first = await asyncio.wait_for(websocket.receive(), HANDSHAKE_TIMEOUT_S)
            if first.get("type") == "websocket.disconnect":
                return
            parse_start(first.get("text") if first.get("text") is not None else first.get("bytes", b""))
        except TimeoutError:
            await _refuse(websocket, "start_timeout", f"no start message within {HANDSHAKE_TIMEOUT_S:.0f} s", 1008)
            return
        except ProtocolError as exc:
            await _refuse(websocket, exc.code, str(exc), 1003)
            return
        except WebSocketDisconnect:
            return
        transport = websocket_transport(websocket, output_sample_rate=settings.output_sample_rate)
        call = asyncio.current_task()

        @transport.event_handler("on_client_disconnected")
        async def _hung_up(_transport, _ws) -> None:
            if call is not None and not call.done():
                call.cancel()

        await websocket.send_json({"type": "ready", "flow": flow, "sample_rate": 16000, "encoding": "pcm_s16le"})
        try:
            await sessions.run_call(flow, transport, silence_timeout_s=settings.silence_timeout_s)
        except asyncio.CancelledError:
            logger.info("call ended by caller hang-up")

    return app


async def _refuse(websocket: WebSocket, code: str, message: str, close_code: int, **extra) -> None:
    await websocket.send_json({"type": "error", "code": code, "message": message, **extra})
    await websocket.close(code=close_code, reason=code)
