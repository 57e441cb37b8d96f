"""The FastAPI application: health, readiness, flows, the WebSocket and WebRTC call endpoints,
the browser page at ``/`` and the Prometheus ``/metrics``.

``create_app(settings)`` loads the models at start-up (lifespan); tests pass ready ``Engines`` to
share one set of loaded models.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from agent.campaign_api import build_campaign_router
from agent.config import FLOWS, Settings
from agent.engines import Engines
from agent.records_api import build_records_router
from agent.session import CallOptions, CallSessions
from dialogue import UnknownFlowError
from transport.signalling import build_signalling_router
from transport.static import STATIC_DIR
from transport.webrtc import IceServerConfig, SignallingError, WebRTCCalls, WebRTCConfig
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
        await app.state.webrtc.close()

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
    app.include_router(build_campaign_router(store))

    async def run_webrtc_call(flow: str, transport, options: CallOptions | None) -> None:
        await app.state.sessions.run_call(
            flow, transport, silence_timeout_s=settings.silence_timeout_s, options=options
        )

    def admit_call(flow: str, query: dict[str, str]) -> CallOptions:
        sessions: CallSessions | None = app.state.sessions
        if sessions is None:
            raise SignallingError(503, "not_ready", "the models are still loading; retry in a few seconds")
        try:
            options = CallOptions.from_query(query, getattr(store, "tokens", None))
            sessions.new_dialogue(flow, "probe", options)
        except UnknownFlowError as exc:
            raise SignallingError(400, "unknown_flow", f"{exc}; choose one of {', '.join(FLOWS)}") from exc
        except ValueError as exc:  # e.g. dictation without a doctor's token
            raise SignallingError(400, "bad_call_options", str(exc)) from exc
        if sessions.active >= settings.max_calls:
            raise SignallingError(503, "busy", f"all {settings.max_calls} call slots are busy; try again later")
        return options

    app.state.webrtc = WebRTCCalls(webrtc_config(settings), run_webrtc_call)
    app.include_router(build_signalling_router(app.state.webrtc, admit_call))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The browser call page (Chinese UI)."""
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/metrics.json", tags=["service"])
    async def metrics_json() -> dict:
        """Per-stage p50/p95 (ms) over recent turns and the last turns' timings (the page reads it)."""
        snapshot = _stage_metrics("snapshot")
        return {
            **(snapshot() if snapshot else {"stages_ms": {}, "recent_turns_ms": []}),
            "active_calls": app.state.sessions.active if app.state.sessions else 0,
            "webrtc_peers": app.state.webrtc.active_peers,
        }

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus text: live calls and peers, plus the per-stage turn timings."""
        sessions: CallSessions | None = app.state.sessions
        lines = [
            "# HELP medvoice_active_calls Calls in progress (all transports).",
            "# TYPE medvoice_active_calls gauge",
            f"medvoice_active_calls {sessions.active if sessions else 0}",
            "# HELP medvoice_webrtc_peers Live WebRTC peer connections.",
            "# TYPE medvoice_webrtc_peers gauge",
            f"medvoice_webrtc_peers {app.state.webrtc.active_peers}",
        ]
        cache = sessions.engines.speech_cache if sessions else None
        if cache is not None:
            lines += [
                "# HELP medvoice_tts_cache_total Agent sentences spoken from the sentence audio cache or synthesised.",
                "# TYPE medvoice_tts_cache_total counter",
                f'medvoice_tts_cache_total{{result="hit"}} {cache.hits}',
                f'medvoice_tts_cache_total{{result="miss"}} {cache.misses}',
            ]
        stage_text = _stage_metrics_text()
        return PlainTextResponse(
            "\n".join(lines) + "\n" + stage_text, media_type="text/plain; version=0.0.4; charset=utf-8"
        )

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
        body = sessions.engines.readiness() | {
            "active_calls": sessions.active,
            "webrtc_peers": app.state.webrtc.active_peers,
        }
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get("/flows", tags=["calls"])
    async def flows() -> dict[str, list[str]]:
        """The conversation flows a call can use."""
        return {"flows": list(FLOWS)}

    @app.websocket("/ws/call")
    async def ws_call(websocket: WebSocket, flow: str = "triage") -> None:
        """A call over WebSocket; the protocol is in ``transport.ws_protocol`` and the README.

        Query: ``flow`` (triage | followup | dictation), and for follow-up and dictation
        ``program`` (hypertension | diabetes), ``patient``, ``encounter`` and ``token`` (a signed
        token of the care-team member or doctor the call acts for: ``medvoice records token``).
        """
        sessions: CallSessions = app.state.sessions
        await websocket.accept()
        try:
            options = CallOptions.from_query(websocket.query_params, getattr(store, "tokens", None))
            sessions.new_dialogue(flow, "probe", options)
        except UnknownFlowError as exc:
            await _refuse(websocket, "unknown_flow", str(exc), 1008, flows=list(FLOWS))
            return
        except ValueError as exc:
            await _refuse(websocket, "bad_call_options", str(exc), 1008)
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
            await sessions.run_call(flow, transport, silence_timeout_s=settings.silence_timeout_s, options=options)
        except asyncio.CancelledError:
            logger.info("call ended by caller hang-up")

    return app


def webrtc_config(settings: Settings) -> WebRTCConfig:
    """The WebRTC limits and STUN/TURN servers named by the settings."""
    servers = tuple(
        IceServerConfig(url, settings.webrtc_turn_username, settings.webrtc_turn_credential)
        if url.startswith("turn")
        else IceServerConfig(url)
        for url in settings.ice_server_urls()
    )
    return WebRTCConfig(
        ice_servers=servers,
        ice_timeout_s=settings.webrtc_ice_timeout_s,
        offers_per_minute=settings.webrtc_offers_per_minute,
        max_peers=settings.max_calls,
        output_sample_rate=settings.output_sample_rate,
    )


def _stage_metrics(name: str):
    """``agent.metrics.<name>`` (the per-stage turn timings), or None where that module lacks it."""
    if importlib.util.find_spec("agent.metrics") is None:
        return None
    from agent import metrics as stage_metrics

    found = getattr(stage_metrics, name, None)
    return found if callable(found) else None


def _stage_metrics_text() -> str:
    render = _stage_metrics("render_prometheus")
    return render() if render else ""


async def _refuse(websocket: WebSocket, code: str, message: str, close_code: int, **extra) -> None:
    await websocket.send_json({"type": "error", "code": code, "message": message, **extra})
    await websocket.close(code=close_code, reason=code)
