"""The FastAPI application: health, readiness, flows, the WebSocket and WebRTC call endpoints,
the browser page at ``/`` and the Prometheus ``/metrics``; with SIP configured, the telephone line
(``transport.sip``: a PJSIP endpoint started and stopped with the service).

``create_app(settings)`` opens the records store and, at start-up (lifespan), loads the models and
starts the SIP endpoint; at shutdown it closes what it opened: SIP calls and the endpoint, WebRTC
peers, the models' threads and the store. Tests pass
ready ``Engines`` and a store to share them; those stay the caller's to close. Whether a call is
admitted is decided in one place (``CallAdmission``) for every transport.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from agent.call_queue import start_call_queue
from agent.campaign_api import build_campaign_router
from agent.cluster_api import build_cluster_router, occupied_slots
from agent.config import FLOWS, Settings
from agent.dialler import OutboundCalls, UnknownTicket
from agent.engines import Engines
from agent.logs import protect_logs
from agent.records_api import build_records_router
from agent.session import CallOptions, CallSessions, TooManyCalls
from dialogue import UnknownFlowError
from transport import (
    STATIC_DIR,
    IceServerConfig,
    InboundCalls,
    ProtocolError,
    SignallingError,
    SipEndpoint,
    SipRefusal,
    WebRTCCalls,
    WebRTCConfig,
    build_signalling_router,
    parse_start,
    websocket_transport,
)

logger = logging.getLogger("medvoice.app")

HANDSHAKE_TIMEOUT_S = 10.0
# At shutdown, calls still on WebRTC get this long to close their peer connections (aiortc can
# wait on a dead transport); the service must be gone within 2 s of SIGTERM.
WEBRTC_CLOSE_AT_SHUTDOWN_S = 0.5


def open_records(settings: Settings):
    """The records + consultation store named by the settings (migrated and seeded on first use)."""
    from backends import open_store

    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    settings.key_file.parent.mkdir(parents=True, exist_ok=True)
    return open_store(database_url=settings.database_url, key_file=settings.key_file)


def create_app(settings: Settings | None = None, *, engines: Engines | None = None, store=None) -> FastAPI:
    protect_logs()  # before anything can log call content, whatever logging the host configured
    settings = settings or Settings()
    owned_store = None if store is not None else open_records(settings)
    store = store if store is not None else owned_store
    app = FastAPI(
        title="medvoice",
        version="0.1.0",
        description="Self-hosted Mandarin voice agent for hospitals (offline).",
        lifespan=_lifespan(settings, owned_store),
    )
    app.state.settings = settings
    app.state.store = store
    app.state.sessions = CallSessions(engines, store=store) if engines is not None else None
    app.state.outbound = OutboundCalls()  # tickets of outbound follow-up calls (agent.dialler)
    app.state.call_queue = None
    app.state.draining = False
    admission = CallAdmission(app, settings, store)
    app.state.admission = admission
    app.state.sip = None
    settings.sip_config()  # a bad SIP setting fails here, naming it, not at start-up

    async def run_webrtc_call(flow: str, transport, options: CallOptions | None) -> None:
        await app.state.sessions.run_call(
            flow, transport, silence_timeout_s=settings.silence_timeout_s, options=options
        )

    app.state.webrtc = WebRTCCalls(webrtc_config(settings), run_webrtc_call)
    app.include_router(build_records_router(store))
    app.include_router(build_campaign_router(store))
    app.include_router(build_signalling_router(app.state.webrtc, admission.admit_webrtc))
    app.include_router(_service_router())
    app.include_router(build_cluster_router())
    app.include_router(_websocket_router(settings, admission))
    _mount_console(app, settings, store)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _mount_console(app: FastAPI, settings: Settings, store) -> None:
    """The staff console at ``/console`` (on the embedded store, which holds the staff accounts)."""
    if not hasattr(store, "engine"):
        return
    from console import ConsoleSettings, mount_console

    mount_console(app, store, ConsoleSettings(
        cookie_secure=settings.console_cookie_secure,
        session_ttl=timedelta(minutes=settings.console_session_minutes),
        hospital_id=settings.console_hospital_id,
    ))


def _lifespan(settings: Settings, owned_store):
    """Load the models at start-up unless they were given; close what the app opened at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded: Engines | None = None
        if app.state.sessions is None:
            loaded = await asyncio.to_thread(Engines, settings)
            app.state.sessions = CallSessions(loaded, store=app.state.store)
        try:
            await start_call_queue(app.state, settings)
            app.state.sip = await _start_sip(app, settings)
            yield
        finally:
            if app.state.sip is not None:
                await app.state.sip.close()
            if app.state.call_queue is not None:
                await app.state.call_queue.stop()
            try:
                await asyncio.wait_for(app.state.webrtc.close(), WEBRTC_CLOSE_AT_SHUTDOWN_S)
            except TimeoutError:
                logger.warning("WebRTC peers still closing after %.1f s at shutdown; left", WEBRTC_CLOSE_AT_SHUTDOWN_S)
            if loaded is not None:
                loaded.close()
            if owned_store is not None:
                owned_store.close()

    return lifespan


@dataclass
class SipLine:
    """The service's telephone line: the PJSIP endpoint and the calls it runs."""

    endpoint: SipEndpoint
    calls: InboundCalls

    async def close(self) -> None:
        await self.calls.close()
        await self.endpoint.stop()


async def _start_sip(app: FastAPI, settings: Settings) -> SipLine | None:
    """Start the SIP endpoint when SIP is configured (its calls share the pipeline and admission)."""
    config = settings.sip_config()
    if config is None:
        return None
    admission: CallAdmission = app.state.admission

    async def run_sip_call(flow: str, transport, options: CallOptions | None) -> None:
        await app.state.sessions.run_call(
            flow, transport, silence_timeout_s=settings.silence_timeout_s, options=options
        )

    calls = InboundCalls(lambda flow: admission.admit_sip(flow, config.retry_after_s), run_sip_call,
                         human_uri=config.human_uri)
    endpoint = SipEndpoint(config, calls.on_call)
    await endpoint.start()
    app.state.sip = SipLine(endpoint, calls)
    return app.state.sip


# -- admission -------------------------------------------------------------------------------


@dataclass
class CallRefused(Exception):
    """A new call is refused: ``code`` is machine-readable, ``http_status`` is WebRTC's answer and
    ``close_code`` the WebSocket's."""

    code: str
    message: str
    http_status: int
    close_code: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


class CallAdmission:
    """Whether the service takes a new call of ``flow``, with which options: the models are
    loaded, the flow and its options are valid, and a call slot is free."""

    def __init__(self, app: FastAPI, settings: Settings, store) -> None:
        self._app = app
        self._settings = settings
        self._tokens = getattr(store, "tokens", None)

    def admit(self, flow: str, query: Mapping[str, str]) -> CallOptions:
        """The call's options; raises ``CallRefused``."""
        sessions: CallSessions | None = self._app.state.sessions
        if sessions is None:
            raise CallRefused("not_ready", "the models are still loading; retry in a few seconds", 503, 1013)
        if query.get("ticket"):  # an outbound call answering: its slot was reserved by the queue
            try:
                return self._app.state.outbound.connect(query["ticket"])
            except UnknownTicket as exc:
                raise CallRefused("unknown_ticket", "no outbound call with this ticket is waiting here",
                                  404, 1008) from exc
        try:
            options = CallOptions.from_query(query, self._tokens)
            sessions.new_dialogue(flow, "probe", options)
        except UnknownFlowError as exc:
            raise CallRefused("unknown_flow", str(exc), 400, 1008, {"flows": list(FLOWS)}) from exc
        except ValueError as exc:  # e.g. dictation without a doctor's token
            raise CallRefused("bad_call_options", str(exc), 400, 1008) from exc
        if occupied_slots(self._app.state) >= self._settings.max_calls or self._app.state.draining:
            raise CallRefused("busy", f"all {self._settings.max_calls} call slots are busy; try again later",
                              503, 1013)
        return options

    def admit_sip(self, flow: str, retry_after_s: int) -> CallOptions:
        """``admit`` for a SIP INVITE: refusals are ``SipRefusal`` with the SIP status they mean
        (busy or loading: 503 with Retry-After; unknown flow: 404; options a phone call cannot
        give, e.g. dictation's doctor token: 403)."""
        try:
            return self.admit(flow, {})
        except CallRefused as refused:
            if refused.code == "busy":
                raise SipRefusal(503, "Service Unavailable", retry_after_s) from refused
            if refused.code == "not_ready":
                raise SipRefusal(503, "Service Unavailable", 5) from refused
            if refused.code == "unknown_flow":
                raise SipRefusal(404, "Not Found") from refused
            raise SipRefusal(403, "Forbidden") from refused

    def admit_webrtc(self, flow: str, query: dict[str, str]) -> CallOptions:
        """``admit`` as the signalling router wants it: refusals are ``SignallingError``."""
        try:
            return self.admit(flow, query)
        except CallRefused as refused:
            message = refused.message
            if "flows" in refused.extra:
                message = f"{message}; choose one of {', '.join(refused.extra['flows'])}"
            raise SignallingError(refused.http_status, refused.code, message) from refused


# -- routes ----------------------------------------------------------------------------------


def _service_router() -> APIRouter:
    """The page, health, readiness, flows and metrics."""
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The browser call page (Chinese UI)."""
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    @router.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @router.get("/readyz", tags=["service"], responses={
        503: {"description": "Not ready: models loading, no call slot free or draining (the same body)"}})
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: every model loaded, with its path and load time."""
        state = request.app.state
        sessions: CallSessions | None = state.sessions
        if sessions is None:
            return JSONResponse({"ready": False, "models": {}}, status_code=503)
        body = sessions.engines.readiness() | {
            "active_calls": sessions.active,
            "webrtc_peers": state.webrtc.active_peers,
        }
        if state.sip is not None:
            body["sip"] = _sip_readiness(state.sip)
        # A worker with no free call slot (or draining) is not ready: balancers send new calls elsewhere.
        body["call_slots"] = {"capacity": state.settings.max_calls, "occupied": occupied_slots(state),
                              "draining": state.draining}
        full = body["call_slots"]["occupied"] >= state.settings.max_calls or state.draining
        return JSONResponse(body, status_code=200 if body["ready"] and not full else 503)

    @router.get("/flows", tags=["calls"])
    async def flows() -> dict[str, list[str]]:
        """The conversation flows a call can use."""
        return {"flows": list(FLOWS)}

    @router.get("/metrics.json", tags=["service"])
    async def metrics_json(request: Request) -> dict:
        """Per-stage p50/p95 (ms) over recent turns and the last turns' timings (the page reads it)."""
        state = request.app.state
        sessions: CallSessions | None = state.sessions
        return {
            **(sessions.engines.metrics.snapshot() if sessions else {"stages_ms": {}, "recent_turns_ms": []}),
            "active_calls": sessions.active if sessions else 0,
            "webrtc_peers": state.webrtc.active_peers,
            **_process_counts(state.store),
        }

    @router.get("/metrics", tags=["service"], response_class=PlainTextResponse)
    async def metrics(request: Request) -> PlainTextResponse:
        """Prometheus text: live calls and peers, plus the per-stage turn timings."""
        state = request.app.state
        sessions: CallSessions | None = state.sessions
        text = _live_call_metrics(sessions, state.webrtc.active_peers)
        if state.sip is not None:
            text += _sip_metrics(state.sip)
        if sessions is not None:
            text += sessions.engines.metrics.render_prometheus()
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    return router


def _process_counts(store: Any) -> dict[str, int]:
    """What a soak watches for leaks: live asyncio tasks and the store's database connections
    (open in its pool, and checked out by a request right now)."""
    counts = {"asyncio_tasks": len(asyncio.all_tasks())}
    pool = getattr(getattr(store, "engine", None), "pool", None)
    if pool is not None and hasattr(pool, "checkedout"):
        counts["db_connections_in_use"] = pool.checkedout()
        counts["db_connections_open"] = pool.checkedin() + pool.checkedout()
    return counts


def _live_call_metrics(sessions: CallSessions | None, webrtc_peers: int) -> str:
    lines = [
        "# HELP medvoice_active_calls Calls in progress (all transports).",
        "# TYPE medvoice_active_calls gauge",
        f"medvoice_active_calls {sessions.active if sessions else 0}",
        "# HELP medvoice_webrtc_peers Live WebRTC peer connections.",
        "# TYPE medvoice_webrtc_peers gauge",
        f"medvoice_webrtc_peers {webrtc_peers}",
    ]
    cache = sessions.engines.speech_cache if sessions else None
    if cache is not None:
        lines += [
            "# HELP medvoice_tts_cache_total Agent sentences spoken from the sentence audio cache or synthesised.",
            "# TYPE medvoice_tts_cache_total counter",
            f'medvoice_tts_cache_total{{result="hit"}} {cache.hits}',
            f'medvoice_tts_cache_total{{result="miss"}} {cache.misses}',
        ]
    return "\n".join(lines) + "\n"


def _sip_readiness(sip: SipLine) -> dict[str, Any]:
    endpoint = sip.endpoint
    return {
        "listening": endpoint.ports,
        "codecs": endpoint.codecs,
        "registration": endpoint.registration.as_dict(),
        "live_calls": endpoint.live_calls,
        "media_ports": endpoint.media_ports,
        "calls": [{"call_id": c.call_id, "flow": c.flow, "codec": c.stats.codec} for c in endpoint.calls()],
    }


def _sip_metrics(sip: SipLine) -> str:
    endpoint = sip.endpoint
    registration = endpoint.registration
    lines = [
        "# HELP medvoice_sip_calls Live SIP calls (ringing or answered).",
        "# TYPE medvoice_sip_calls gauge",
        f"medvoice_sip_calls {endpoint.live_calls}",
        "# HELP medvoice_sip_media_ports SIP media ports on PJSIP's conference bridge.",
        "# TYPE medvoice_sip_media_ports gauge",
        f"medvoice_sip_media_ports {endpoint.media_ports}",
        "# HELP medvoice_sip_registered 1 while the PBX registration is active (0 also when none is configured).",
        "# TYPE medvoice_sip_registered gauge",
        f"medvoice_sip_registered {int(registration.active)}",
        "# HELP medvoice_sip_registration_status Last SIP status of the PBX registration (0: none yet).",
        "# TYPE medvoice_sip_registration_status gauge",
        f"medvoice_sip_registration_status {registration.status}",
    ]
    calls = endpoint.calls()
    if calls:
        lines += [
            "# HELP medvoice_sip_call_rtp_packets RTP packets received by a live SIP call (PJSIP stream stats).",
            "# TYPE medvoice_sip_call_rtp_packets gauge",
            "# HELP medvoice_sip_call_rtp_lost RTP packets lost on a live SIP call (PJSIP stream stats).",
            "# TYPE medvoice_sip_call_rtp_lost gauge",
            "# HELP medvoice_sip_call_rtp_jitter_ms Receive jitter of a live SIP call, last RTCP value (ms).",
            "# TYPE medvoice_sip_call_rtp_jitter_ms gauge",
        ]
        for call in calls:
            labels = f'call="{call.call_id}",flow="{call.flow}",codec="{call.stats.codec or ""}"'
            lines += [
                f"medvoice_sip_call_rtp_packets{{{labels}}} {call.stats.rx_packets}",
                f"medvoice_sip_call_rtp_lost{{{labels}}} {call.stats.rx_lost}",
                f"medvoice_sip_call_rtp_jitter_ms{{{labels}}} {call.stats.rx_jitter_ms:.3f}",
            ]
    return "\n".join(lines) + "\n"


def _websocket_router(settings: Settings, admission: CallAdmission) -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws/call")
    async def ws_call(websocket: WebSocket, flow: str = "triage") -> None:
        """A call over WebSocket; the protocol is in ``transport.ws_protocol`` and the README.

        Query: ``flow`` (triage | followup | dictation), and for follow-up and dictation
        ``program`` (hypertension | diabetes), ``patient``, ``encounter`` and ``token`` (a signed
        token of the care-team member or doctor the call acts for: ``medvoice records token``).
        """
        await websocket.accept()
        try:
            options = admission.admit(flow, websocket.query_params)
        except CallRefused as refused:
            await _refuse(websocket, refused.code, refused.message, refused.close_code, **refused.extra)
            return
        ticket = websocket.query_params.get("ticket")
        outbound: OutboundCalls = websocket.app.state.outbound
        if not await _await_start(websocket):
            if ticket:
                outbound.finish(ticket, None, ConnectionError("no start message"))
            return
        # Slots were counted when the socket opened; another call may have taken the last one since.
        if not ticket and occupied_slots(websocket.app.state) >= settings.max_calls:
            await _refuse(websocket, "busy", f"all {settings.max_calls} call slots are busy; try again later", 1013)
            return
        sessions: CallSessions = websocket.app.state.sessions
        transport = websocket_transport(websocket, output_sample_rate=settings.output_sample_rate)
        call = asyncio.current_task()

        @transport.event_handler("on_client_disconnected")
        async def _hung_up(_transport, _ws) -> None:
            if call is not None and not call.done():
                call.cancel()

        await websocket.send_json({"type": "ready", "flow": flow, "sample_rate": 16000, "encoding": "pcm_s16le"})
        try:
            log = await sessions.run_call(flow, transport, silence_timeout_s=settings.silence_timeout_s,
                                          options=options)
            if ticket:
                outbound.finish(ticket, log)
        except asyncio.CancelledError:
            logger.info("call ended by caller hang-up")
            if ticket:
                outbound.finish(ticket, None, ConnectionError("hung up before the end"))
        except TooManyCalls as busy:  # the last slot went between the check above and the start
            if ticket:
                outbound.finish(ticket, None, busy)
            await _refuse(websocket, "busy", str(busy), 1013)
        except Exception as error:
            if ticket:
                outbound.finish(ticket, None, error)
            raise

    return router


async def _await_start(websocket: WebSocket) -> bool:
    """The client's start message within the handshake timeout; False (refused or gone) otherwise."""
    try:
        first = await asyncio.wait_for(websocket.receive(), HANDSHAKE_TIMEOUT_S)
        if first.get("type") == "websocket.disconnect":
            return False
        parse_start(first.get("text") if first.get("text") is not None else first.get("bytes", b""))
    except TimeoutError:
        await _refuse(websocket, "start_timeout", f"no start message within {HANDSHAKE_TIMEOUT_S:.0f} s", 1008)
        return False
    except ProtocolError as exc:
        await _refuse(websocket, exc.code, str(exc), 1003)
        return False
    except WebSocketDisconnect:
        return False
    return True


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


async def _refuse(websocket: WebSocket, code: str, message: str, close_code: int, **extra) -> None:
    await websocket.send_json({"type": "error", "code": code, "message": message, **extra})
    await websocket.close(code=close_code, reason=code)
