"""WebRTC calls on pipecat's SmallWebRTC transport (aiortc, Opus): signalling and peer lifetimes.

Owns the offer/answer exchange (SDP checked before aiortc sees it), renegotiation and ICE-restart
reconnects of a known peer, trickled ICE candidates, the per-client offer rate limit, the ICE
deadline (a peer that never connects is closed and forgotten), and the registry of live peer
connections (``active_peers``: tests assert it returns to zero). Agent events reach the browser as
JSON on the data channel the client opens. The call itself is run by the callable the app passes
in (``agent.session.CallSessions.run_call``), so every transport shares one code path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCIceServer
from aiortc.sdp import SessionDescription, candidate_from_sdp
from pipecat.transports.base_transport import BaseTransport, TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport

from transport.capabilities import declare_audio_output
from transport.jitter import use_loss_tolerant_audio
from transport.webrtc_audio import release_audio_writes_when_peer_leaves, webrtc_audio_output

logger = logging.getLogger("medvoice.webrtc")

INPUT_SAMPLE_RATE = 16000
MAX_SDP_BYTES = 64_000
# Lets the last audio packets and data-channel events leave before the peer connection closes.
CLOSE_GRACE_S = 0.3
# aiortc can wait on a dead transport while closing; the registry must not wait with it.
CLOSE_TIMEOUT_S = 3.0

RunCall = Callable[[str, BaseTransport, Any], Awaitable[Any]]
"""(flow, transport, call options from the admission check) -> runs the call to its end."""


class SignallingError(ValueError):
    """A refused offer or candidate: ``status`` is the HTTP status, ``code`` machine-readable."""

    def __init__(self, status: int, code: str, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s

    def as_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": str(self)}
        if self.retry_after_s is not None:
            body["retry_after_s"] = round(self.retry_after_s, 1)
        return body


@dataclass(frozen=True)
class IceServerConfig:
    """One STUN/TURN server as the browser's ``RTCPeerConnection`` and aiortc both take it."""

    urls: str
    username: str | None = None
    credential: str | None = None

    def for_browser(self) -> dict[str, str]:
        return {k: v for k, v in (("urls", self.urls), ("username", self.username),
                                  ("credential", self.credential)) if v is not None}

    def for_aiortc(self) -> RTCIceServer:
        return RTCIceServer(urls=self.urls, username=self.username, credential=self.credential)


@dataclass(frozen=True)
class WebRTCConfig:
    """Signalling limits. No ICE servers = host candidates only (the hospital LAN case)."""

    ice_servers: tuple[IceServerConfig, ...] = ()
    ice_timeout_s: float = 15.0
    offers_per_minute: int = 20
    max_peers: int = 8
    output_sample_rate: int = 16000


class SlidingWindowLimiter:
    """At most ``limit`` events per key in any ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def check(self, key: str) -> float | None:
        """Record an event; ``None`` when allowed, else the seconds until the next one is."""
        now = self._clock()
        events = self._events.setdefault(key, deque())
        while events and now - events[0] >= self.window_s:
            events.popleft()
        if len(events) >= self.limit:
            return self.window_s - (now - events[0])
        events.append(now)
        # Forget idle keys so a scan of many addresses cannot grow the table without bound.
        for stale in [k for k, v in self._events.items() if not v]:
            del self._events[stale]
        return None


def webrtc_call_transport(connection: SmallWebRTCConnection, *, output_sample_rate: int) -> SmallWebRTCTransport:
    """The pipecat transport of one WebRTC call, with its output declared (a real-time track whose
    queue can be held) and its pending audio writes released when the peer leaves."""
    transport = SmallWebRTCTransport(
        connection,
        TransportParams(
            audio_in_enabled=True,
            audio_in_sample_rate=INPUT_SAMPLE_RATE,
            audio_out_enabled=True,
            audio_out_sample_rate=output_sample_rate,
            audio_out_end_silence_secs=0,
        ),
    )
    release_audio_writes_when_peer_leaves(transport)
    return declare_audio_output(transport, webrtc_audio_output(transport))


def check_offer_sdp(sdp: str, sdp_type: str) -> None:
    """Refuse what aiortc would choke on or a call cannot use, saying what was expected."""
    if sdp_type != "offer":
        raise SignallingError(400, "bad_sdp_type", f'expected "type": "offer", got {sdp_type!r}')
    if not isinstance(sdp, str) or not sdp.strip():
        raise SignallingError(400, "bad_sdp", "the offer has no SDP text; send pc.localDescription.sdp")
    if len(sdp.encode()) > MAX_SDP_BYTES:
        raise SignallingError(400, "bad_sdp", f"SDP is limited to {MAX_SDP_BYTES} bytes, got {len(sdp.encode())}")
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises assorted errors on garbage
        raise SignallingError(
            400, "bad_sdp", f"the offer is not valid SDP ({exc or 'malformed line'}); send the browser's offer as is"
        ) from exc
    if not parsed.media:
        raise SignallingError(400, "bad_sdp", "the offer has no media sections (m= lines); add a microphone track")
    audio = [m for m in parsed.media if m.kind == "audio"]
    if not audio or audio[0].direction not in (None, "sendrecv", "sendonly"):
        raise SignallingError(
            400,
            "no_audio_track",
            "the offer sends no audio: add the microphone with pc.addTrack(track) or "
            "pc.addTransceiver('audio', {direction: 'sendrecv'}) before createOffer()",
        )
    if parsed.media[0].kind != "audio":
        raise SignallingError(
            400, "no_audio_track", "the first media section must be the microphone audio; add it before any video"
        )
    if not any(codec.name.lower() == "opus" for codec in audio[0].rtp.codecs):
        raise SignallingError(400, "no_opus", "the audio section must offer the Opus codec")


def _tolerate_loss(connection: SmallWebRTCConnection) -> None:
    for transceiver in connection.pc.getTransceivers():
        if transceiver.kind == "audio":
            use_loss_tolerant_audio(transceiver.receiver)


@dataclass
class _Peer:
    connection: SmallWebRTCConnection
    flow: str
    call_options: Any = None
    task: asyncio.Task | None = None
    end_reason: str = "finished"
    ending: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class WebRTCCalls:
    """Answers offers and runs one call per peer connection until either side hangs up."""

    def __init__(self, config: WebRTCConfig, run_call: RunCall) -> None:
        self.config = config
        self._run_call = run_call
        self._peers: dict[str, _Peer] = {}
        self._limiter = SlidingWindowLimiter(config.offers_per_minute)

    @property
    def active_peers(self) -> int:
        """Live peer connections (answered and not yet closed)."""
        return len(self._peers)

    def browser_config(self) -> dict[str, Any]:
        """What the page needs to build its ``RTCPeerConnection``."""
        return {
            "ice_servers": [s.for_browser() for s in self.config.ice_servers],
            "ice_timeout_s": self.config.ice_timeout_s,
        }

    async def offer(
        self,
        sdp: str,
        sdp_type: str,
        *,
        flow: str,
        client: str,
        pc_id: str | None = None,
        restart_pc: bool = False,
        call_options: Any = None,
    ) -> dict[str, str]:
        """Answer an offer: a new call, or (with ``pc_id``) renegotiate / reconnect a live one.

        ``call_options`` is opaque here: what the service's admission check made of the offer's
        programme, patient, encounter and token, handed back to ``run_call``.
        """
        check_offer_sdp(sdp, sdp_type)
        if pc_id is not None:
            return await self._renegotiate(pc_id, sdp, restart_pc)
        wait_s = self._limiter.check(client)
        if wait_s is not None:
            raise SignallingError(
                429,
                "rate_limited",
                f"more than {self.config.offers_per_minute} call attempts per minute from {client}; "
                f"retry in {wait_s:.0f} s",
                retry_after_s=wait_s,
            )
        if len(self._peers) >= self.config.max_peers:
            raise SignallingError(503, "busy", f"all {self.config.max_peers} call slots are busy; try again later")
        connection = SmallWebRTCConnection(
            ice_servers=[s.for_aiortc() for s in self.config.ice_servers],
            connection_timeout_secs=max(1, round(self.config.ice_timeout_s)),
        )
        try:
            await connection.initialize(sdp=sdp, type=sdp_type)
        except Exception as exc:
            await connection.disconnect()
            raise SignallingError(
                400, "bad_sdp", f"aiortc could not answer the offer ({type(exc).__name__}: {exc})"
            ) from exc
        _tolerate_loss(connection)
        answer = connection.get_answer()
        peer = _Peer(connection, flow, call_options)
        self._peers[connection.pc_id] = peer
        peer.task = asyncio.create_task(self._run(peer), name=f"webrtc-call-{connection.pc_id}")
        logger.info("webrtc peer %s answered (flow=%s, live=%d)", connection.pc_id, flow, len(self._peers))
        return answer

    async def add_candidates(self, pc_id: str, candidates: list[dict[str, Any]]) -> None:
        """Trickled ICE candidates from the client (``candidate`` "" ends the list)."""
        peer = self._require(pc_id)
        for item in candidates:
            text = item.get("candidate") or ""
            try:
                candidate = candidate_from_sdp(text.removeprefix("candidate:")) if text else None
            except Exception as exc:
                raise SignallingError(400, "bad_candidate", f"unparseable ICE candidate {text[:80]!r}: {exc}") from exc
            if candidate is not None:
                candidate.sdpMid = item.get("sdp_mid", item.get("sdpMid"))
                candidate.sdpMLineIndex = item.get("sdp_mline_index", item.get("sdpMLineIndex"))
            await peer.connection.add_ice_candidate(candidate)

    async def hang_up(self, pc_id: str) -> None:
        """End a call from the signalling side (the page's hang-up button when the channel is down)."""
        peer = self._require(pc_id)
        if not peer.ending and peer.task is not None:
            peer.ending = True
            peer.end_reason = "caller_hung_up"
            peer.task.cancel()

    async def close(self) -> None:
        """Service shutdown: end every call and wait for its cleanup."""
        tasks = [p.task for p in self._peers.values() if p.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals ---------------------------------------------------------------------------

    def _require(self, pc_id: str) -> _Peer:
        peer = self._peers.get(pc_id)
        if peer is None:
            raise SignallingError(404, "unknown_peer", f"no live call with pc_id {pc_id!r}; start a new call")
        return peer

    async def _renegotiate(self, pc_id: str, sdp: str, restart_pc: bool) -> dict[str, str]:
        peer = self._require(pc_id)
        try:
            await peer.connection.renegotiate(sdp=sdp, type="offer", restart_pc=restart_pc)
        except Exception as exc:
            raise SignallingError(
                400, "bad_sdp", f"renegotiation failed ({type(exc).__name__}: {exc}); reconnect with restart_pc"
            ) from exc
        _tolerate_loss(peer.connection)
        # A restart builds a new peer connection with a new id; the answer hands it to the client.
        self._peers[peer.connection.pc_id] = self._peers.pop(pc_id)
        logger.info("webrtc peer %s renegotiated (restart=%s) as %s", pc_id, restart_pc, peer.connection.pc_id)
        return peer.connection.get_answer()

    async def _wait_connected(self, connection: SmallWebRTCConnection) -> bool:
        deadline = time.monotonic() + self.config.ice_timeout_s
        while time.monotonic() < deadline:
            state = connection.pc.connectionState
            if state == "connected":
                return True
            if state in ("failed", "closed"):
                return False
            await asyncio.sleep(0.05)
        return False

    async def _run(self, peer: _Peer) -> None:
        connection = peer.connection
        transport = webrtc_call_transport(connection, output_sample_rate=self.config.output_sample_rate)
        call = asyncio.current_task()

        @transport.event_handler("on_client_disconnected")
        async def _gone(_transport, _connection) -> None:
            # Hang-up message, close alert and DELETE may all arrive: a second cancel would land
            # in the cleanup below and skip it.
            if not peer.ending and call is not None and not call.done():
                peer.ending = True
                peer.end_reason = "caller_hung_up"
                call.cancel()

        @transport.event_handler("on_app_message")
        async def _message(_transport, message: Any, _sender: str) -> None:
            if isinstance(message, dict) and message.get("type") == "hangup":
                await _gone(_transport, connection)

        try:
            # The call starts only once media can flow, so the greeting is not spoken into the void.
            if not await self._wait_connected(connection):
                peer.end_reason = "ice_timeout"
                logger.warning(
                    "webrtc peer %s did not connect within %.0f s (state %s); closing",
                    connection.pc_id, self.config.ice_timeout_s, connection.pc.connectionState,
                )
                return
            await self._run_call(peer.flow, transport, peer.call_options)
            await asyncio.sleep(CLOSE_GRACE_S)
        except asyncio.CancelledError:
            logger.info("webrtc peer %s: call ended (%s)", connection.pc_id, peer.end_reason)
        except Exception:
            peer.end_reason = "error"
            logger.exception("webrtc peer %s: call failed", connection.pc_id)
        finally:
            try:
                await asyncio.wait_for(asyncio.shield(connection.disconnect()), CLOSE_TIMEOUT_S)
            except TimeoutError:
                logger.warning("webrtc peer %s: close took over %.0f s; forgotten", connection.pc_id, CLOSE_TIMEOUT_S)
            except Exception:
                logger.exception("webrtc peer %s: close failed", connection.pc_id)
            finally:
                self._peers.pop(connection.pc_id, None)
            logger.info("webrtc peer %s closed (%s, live=%d)", connection.pc_id, peer.end_reason, len(self._peers))
