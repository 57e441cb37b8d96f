"""``SipEndpoint``: medvoice's PJSIP user agent — transports (UDP and TCP, TLS when configured),
the account (PBX registration or trunk allow-list), the live call legs, and the one thread PJSIP
runs on (``transport.sip.loop``).

Usage (what ``agent.app`` does in its lifespan)::

    endpoint = SipEndpoint(config, on_call=handle_call)   # handle_call(SipCall) runs on the loop
    await endpoint.start()      # listens; endpoint.ports == {"udp": 5060, "tcp": 5060}
    ...
    await endpoint.stop()       # hangs up every call, destroys the PJSIP endpoint

Everything that touches a PJSUA2 object runs on the PJSIP thread; the public coroutines submit
their work there. Counts (``live_calls``, ``media_ports``) are plain ints written by that thread
only, so the loop reads them without a lock; tests assert both return to zero after hang-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from transport.sip.account import RegistrationState, SipAccount, account_config
from transport.sip.call import CallLeg, SipCall
from transport.sip.codec import BRIDGE_CLOCK_RATE, FRAME_MS, set_codec_priorities
from transport.sip.config import SipConfig
from transport.sip.loop import PjsipThread

logger = logging.getLogger("medvoice.sip")

# Extra PJSUA call slots beyond max_calls, so that INVITEs over the limit still get a 503 from
# us rather than PJSUA's own refusal.
_SPARE_CALL_SLOTS = 8
_TEARDOWN_POLL_S = 0.5


class SipEndpoint:
    """The PJSIP endpoint of the service.

    Args:
        config: Ports, allow-list, registration, routes and limits.
        on_call: Called on the event loop with each INVITE that passed the account's checks (it is
            ringing): answer it (``await call.answer()``) and run it, or ``await call.reject(...)``.
    """

    def __init__(self, config: SipConfig, on_call: Callable[[SipCall], Any]) -> None:
        self.config = config
        self._on_call = on_call
        self.thread = PjsipThread(self._setup, self._teardown, self._handle_events, self._tick)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ep: pj.Endpoint | None = None
        self._account: SipAccount | None = None
        self._legs: dict[int, CallLeg] = {}
        self.ports: dict[str, int] = {}
        self.codecs: list[str] = []
        self.live_calls = 0
        """Calls ringing or answered and not yet gone (written by the PJSIP thread only)."""
        self.media_ports = 0
        """Media ports on the conference bridge (written by the PJSIP thread only)."""
        self.tls = False
        self._calls: dict[int, SipCall] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the PJSIP endpoint on its thread and listen; raises if a port cannot be bound."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.thread.start)
        logger.info("SIP listening on %s (codecs %s)", self.ports, ", ".join(self.codecs))

    async def stop(self) -> None:
        """Hang up every call and destroy the endpoint."""
        await asyncio.to_thread(self.thread.stop)
        for call in list(self._calls.values()):
            call._ended(call.end_status or 503, call.end_reason or "service stopping")
        self._calls.clear()

    async def make_call(self, uri: str, flow: str, *, headers: dict[str, str] | None = None) -> SipCall:
        """Dial ``uri`` (an outbound call, e.g. a follow-up campaign's) for ``flow``.

        Returns at once with the call's handle: ``media_ready`` is set when the callee answers and
        media flows (run it through the pipeline as an answered inbound call); ``ended`` with
        ``end_status`` (486 busy, 408/480 no answer, 487 after ``hangup`` while ringing, 603
        declined ...) when it ends. The caller of ``make_call`` owns the ring timeout.

        Raises:
            RuntimeError: PJSIP refused to place the call (bad URI, no call slot).
        """
        return await self.thread.call(lambda: self._dial(uri, flow, headers or {}))

    def _dial(self, uri: str, flow: str, headers: dict[str, str]) -> SipCall:
        assert self._account is not None
        if self.live_calls >= self.config.max_calls:
            raise RuntimeError(f"all {self.config.max_calls} SIP call slots are busy")
        leg = CallLeg(self, self._account, pj.PJSUA_INVALID_ID)
        handle = SipCall(-1, flow, uri, "", uri, self)
        leg.handle = handle
        prm = pj.CallOpParam(True)
        for name, value in headers.items():
            header = pj.SipHeader()
            header.hName = name
            header.hValue = value
            prm.txOption.headers.append(header)
        try:
            leg.makeCall(uri, prm)
        except pj.Error as exc:
            leg.handle = None
            raise RuntimeError(f"cannot call {uri}: {exc.info()}") from exc
        leg.call_id = handle.call_id = leg.getId()
        self._legs[leg.call_id] = leg
        self.live_calls += 1
        self.post(self._track, handle)
        return handle

    def _track(self, handle: SipCall) -> None:  # on the loop
        if not handle.ended.is_set():
            self._calls[handle.call_id] = handle

    # -- state for /readyz and /metrics --------------------------------------------------------

    @property
    def registration(self) -> RegistrationState:
        return self._account.registration if self._account is not None else RegistrationState()

    def calls(self) -> list[SipCall]:
        """The live calls (a copy)."""
        return list(self._calls.values())

    # -- PJSIP thread: setup and teardown -----------------------------------------------------

    def _setup(self) -> None:
        config = self.config
        ep = pj.Endpoint()
        ep.libCreate()
        self._ep = ep
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.maxCalls = min(config.max_calls + _SPARE_CALL_SLOTS, 512)
        cfg.uaConfig.userAgent = "medvoice"
        cfg.logConfig.level = config.log_level
        cfg.logConfig.consoleLevel = config.log_level
        media = cfg.medConfig
        media.clockRate = BRIDGE_CLOCK_RATE
        media.sndClockRate = BRIDGE_CLOCK_RATE
        media.audioFramePtime = FRAME_MS
        media.ptime = FRAME_MS
        media.noVad = True  # no silence suppression: the pipeline's VAD decides what is speech
        media.ecTailLen = 0  # no echo canceller: the far end is a phone, not our loudspeaker
        media.maxMediaPorts = max(64, 4 * cfg.uaConfig.maxCalls)
        media.jbMinPre, media.jbMaxPre, media.jbMax = -1, -1, -1  # PJMEDIA's adaptive defaults
        ep.libInit(cfg)
        ep.audDevManager().setNullDev()
        self.ports = {}
        for name, kind in (("udp", pj.PJSIP_TRANSPORT_UDP), ("tcp", pj.PJSIP_TRANSPORT_TCP)):
            port = self.ports.get("udp", config.port) if name == "tcp" else config.port
            self.ports[name] = self._listen(kind, port)
        if config.tls_port:
            self.ports["tls"] = self._listen(pj.PJSIP_TRANSPORT_TLS, config.tls_port, tls=True)
            self.tls = True
        ep.libStart()
        self.codecs = set_codec_priorities(ep)
        account = SipAccount(self, config, self._trusted())
        account.create(account_config(config), True)
        self._account = account

    def _listen(self, kind: int, port: int, *, tls: bool = False) -> int:
        assert self._ep is not None
        tc = pj.TransportConfig()
        tc.port = port
        if self.config.bind not in ("0.0.0.0", "::"):
            tc.boundAddress = self.config.bind
        tc.publicAddress = self.config.contact_address
        if tls:
            tc.tlsConfig.certFile = self.config.tls_cert or ""
            tc.tlsConfig.privKeyFile = self.config.tls_key or ""
        tid = self._ep.transportCreate(kind, tc)
        return int(self._ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])

    def _trusted(self) -> tuple[str, ...]:
        trusted = list(self.config.allow_from)
        reg = self.config.registration
        if reg is not None:  # the PBX we register with sends us its calls
            host = reg.host.rsplit(":", 1)[0] if reg.host.count(":") == 1 else reg.host
            try:
                trusted += sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
            except OSError as exc:
                logger.warning("SIP registrar host %s does not resolve (%s); its INVITEs will get 403", host, exc)
        return tuple(trusted)

    def _teardown(self) -> None:
        ep = self._ep
        if ep is None:
            return
        if self._legs:
            ep.hangupAllCalls()
            deadline = time.monotonic() + _TEARDOWN_POLL_S
            while self._legs and time.monotonic() < deadline:
                ep.libHandleEvents(10)
                self.thread._drain(final=True)
        for leg in list(self._legs.values()):
            self.forget(leg)
        if self._account is not None:
            self._account.shutdown()
            self._account = None
        ep.libDestroy()
        self._ep = None

    def _handle_events(self, ms: int) -> None:
        assert self._ep is not None
        self._ep.libHandleEvents(ms)

    def _tick(self) -> None:
        now = time.monotonic()
        for leg in list(self._legs.values()):
            leg.refresh_stats()
            if leg.answered_at is not None and not leg.gone and now - leg.last_rx_change > self.config.rtp_timeout_s:
                logger.warning("SIP call %s: no RTP for %.0f s; hanging up", leg.call_id, self.config.rtp_timeout_s)
                self.hangup(leg.call_id)

    # -- PJSIP thread: call legs (the account and the handles call these) -----------------------

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the event loop; dropped once the loop is closed."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            loop.call_soon_threadsafe(fn, *args)

    def ring(self, leg: CallLeg) -> None:
        assert leg.handle is not None
        self._legs[leg.call_id] = leg
        self.live_calls += 1
        prm = pj.CallOpParam()
        prm.statusCode = 180
        leg.answer(prm)
        handle = leg.handle
        self.post(self._hand_over, handle)

    def _hand_over(self, handle: SipCall) -> None:  # on the loop
        if handle.ended.is_set():
            return
        self._calls[handle.call_id] = handle
        self._on_call(handle)

    def _drop_handle(self, handle: SipCall) -> None:  # on the loop
        if self._calls.get(handle.call_id) is handle:
            del self._calls[handle.call_id]

    def refuse(self, leg: CallLeg, status: int, reason: str, retry_after_s: int | None = None) -> None:
        """Answer an INVITE with a final refusal; the leg is forgotten once PJSUA drops it."""
        self._legs.setdefault(leg.call_id, leg)
        prm = pj.CallOpParam()
        prm.statusCode = status
        prm.reason = reason
        if retry_after_s is not None:
            header = pj.SipHeader()
            header.hName = "Retry-After"
            header.hValue = str(retry_after_s)
            prm.txOption.headers.append(header)
        try:
            leg.answer(prm)
        except pj.Error as exc:
            logger.warning("SIP: refusing call %s with %d failed: %s", leg.call_id, status, exc.info())

    def answer(self, call_id: int) -> None:
        leg = self._require(call_id)
        prm = pj.CallOpParam()
        prm.statusCode = 200
        leg.answer(prm)

    def reject(self, call_id: int, status: int, reason: str, retry_after_s: int | None) -> None:
        self.refuse(self._require(call_id), status, reason, retry_after_s)

    def hangup(self, call_id: int) -> None:
        leg = self._legs.get(call_id)
        if leg is None or leg.gone:
            return
        try:
            leg.hangup(pj.CallOpParam())
        except pj.Error as exc:
            logger.info("SIP call %s: hang-up: %s", call_id, exc.info())

    def transfer(self, call_id: int, target: str, headers: dict[str, str]) -> None:
        leg = self._require(call_id)
        prm = pj.CallOpParam()
        for name, value in headers.items():
            header = pj.SipHeader()
            header.hName = name
            header.hValue = value
            prm.txOption.headers.append(header)
        leg.xfer(target, prm)

    def forget(self, leg: CallLeg) -> None:
        """Free a call that is gone: its media port, then the PJSUA2 object."""
        leg.release_media()
        if self._legs.get(leg.call_id) is leg:
            del self._legs[leg.call_id]
            if leg.handle is not None:
                self.live_calls -= 1
                self.post(self._drop_handle, leg.handle)
        leg.handle = None

    def _require(self, call_id: int) -> CallLeg:
        leg = self._legs.get(call_id)
        if leg is None or leg.gone:
            raise RuntimeError(f"SIP call {call_id} is gone")
        return leg
