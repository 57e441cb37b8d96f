"""One SIP call: the PJSUA2 ``Call`` on the PJSIP thread (``CallLeg``) and the handle the event loop
holds (``SipCall``).

The leg connects its audio stream to a ``MediaBridge`` when media becomes active (again after a
re-INVITE that takes the call off hold), reports DTMF digits (RFC 4733 and SIP INFO), transfer
progress and its end to the handle through ``call_soon_threadsafe``, and tracks RTP arrival so
that a silent peer is hung up. The handle answers, refuses, transfers and hangs up by submitting
commands to the PJSIP thread; it never touches a PJSUA2 object itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from transport.sip.codec import preferred_codec
from transport.sip.media import MediaBridge, OutgoingAudio

if TYPE_CHECKING:
    from transport.sip.endpoint import SipEndpoint

logger = logging.getLogger("medvoice.sip")


@dataclass
class CallStats:
    """What ``/metrics`` shows of a live call (refreshed on the PJSIP thread's tick)."""

    codec: str | None = None
    rx_packets: int = 0
    rx_lost: int = 0
    rx_jitter_ms: float = 0.0
    tx_packets: int = 0


@dataclass
class SipCall:
    """A call as the event loop sees it.

    Parameters:
        call_id: PJSUA's call id (unique while the call lives).
        flow: The flow the INVITE was routed to.
        called: The called user part (``triage``, or a number of the number plan).
        source: The INVITE's source address (``ip:port``).
        remote_uri: The caller's URI (From).
    """

    call_id: int
    flow: str
    called: str
    source: str
    remote_uri: str
    endpoint: SipEndpoint = field(repr=False)
    incoming: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue, repr=False)
    outgoing: OutgoingAudio = field(default_factory=OutgoingAudio, repr=False)
    digits: asyncio.Queue[str] = field(default_factory=asyncio.Queue, repr=False)
    ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    media_ready: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    end_status: int | None = None
    end_reason: str = ""
    stats: CallStats = field(default_factory=CallStats)
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _transfer: asyncio.Future[tuple[int, str]] | None = field(default=None, repr=False)

    async def answer(self) -> None:
        """200 OK; media starts when the SDP negotiation completes."""
        await self.endpoint.thread.call(lambda: self.endpoint.answer(self.call_id))

    async def reject(self, status: int, reason: str = "", *, retry_after_s: int | None = None) -> None:
        """Refuse the INVITE (486, 503 with ``Retry-After``, 403 ...)."""
        await self.endpoint.thread.call(lambda: self.endpoint.reject(self.call_id, status, reason, retry_after_s))

    async def hangup(self) -> None:
        """BYE (or CANCEL/603 before answer); returns at once, ``ended`` is set when it is gone."""
        if not self.ended.is_set():
            try:
                await self.endpoint.thread.call(lambda: self.endpoint.hangup(self.call_id))
            except RuntimeError:  # the endpoint already stopped
                self.ended.set()

    async def transfer(self, target: str, headers: dict[str, str], timeout_s: float = 20.0) -> tuple[int, str]:
        """Blind transfer (REFER) to ``target``; the final status the transferee reported (NOTIFY),
        or (408, ...) if none came in ``timeout_s``. The call is not hung up here."""
        loop = asyncio.get_running_loop()
        self._transfer = loop.create_future()
        await self.endpoint.thread.call(lambda: self.endpoint.transfer(self.call_id, target, headers))
        try:
            return await asyncio.wait_for(asyncio.shield(self._transfer), timeout_s)
        except TimeoutError:
            return 408, "no transfer result"
        finally:
            self._transfer = None

    # -- from the PJSIP thread (through call_soon_threadsafe) ---------------------------------

    def _transfer_status(self, status: int, reason: str, final: bool) -> None:
        if final and self._transfer is not None and not self._transfer.done():
            self._transfer.set_result((status, reason))

    def _ended(self, status: int, reason: str) -> None:
        self.end_status, self.end_reason = status, reason
        if self._transfer is not None and not self._transfer.done():
            self._transfer.set_result((status or 487, reason or "call ended"))
        self.ended.set()


class CallLeg(pj.Call):
    """The PJSUA2 call (PJSIP thread only). Created by the account for an incoming INVITE."""

    def __init__(self, endpoint: SipEndpoint, account: pj.Account, call_id: int) -> None:
        super().__init__(account, call_id)
        self.endpoint = endpoint
        self.call_id = call_id
        self.handle: SipCall | None = None
        self.bridge: MediaBridge | None = None
        self.answered_at: float | None = None
        self.last_rx_change = time.monotonic()
        self.last_rx_packets = 0
        self.gone = False
        self.offer = ""
        """The INVITE as received (its SDP offer chooses the codec of the answer)."""

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the event loop (never waits)."""
        self.endpoint.post(fn, *args)

    # -- PJSUA2 callbacks: none of them may raise or block ------------------------------------

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        try:
            info = self.getInfo()
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.answered_at is None:
                self.answered_at = self.last_rx_change = time.monotonic()
                self._prefer_our_codec()
            if info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.gone:
                self.gone = True
                status, reason = int(info.lastStatusCode), info.lastReason
                self.endpoint.thread.defer(lambda: self.endpoint.forget(self))
                if self.handle is not None:
                    self.post(self.handle._ended, status, reason)
        except Exception:
            logger.exception("SIP call %s: state callback failed", self.call_id)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        try:
            info = self.getInfo()
            for index, media in enumerate(info.media):
                if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    self._connect(self.getAudioMedia(index))
                    break
        except Exception:
            logger.exception("SIP call %s: media callback failed", self.call_id)

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        try:
            if self.handle is not None and prm.digit:
                self.post(self.handle.digits.put_nowait, prm.digit[0])
        except Exception:
            logger.exception("SIP call %s: DTMF callback failed", self.call_id)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        try:
            if self.handle is not None:
                self.post(self.handle._transfer_status, int(prm.statusCode), prm.reason, bool(prm.finalNotify))
        except Exception:
            logger.exception("SIP call %s: transfer callback failed", self.call_id)

    def _prefer_our_codec(self) -> None:
        """Re-offer (re-INVITE, our codec order) when the caller's order won a codec we like less."""
        wanted = preferred_codec(self.offer)
        try:
            negotiated = self.getStreamInfo(0).codecName
        except pj.Error:
            return
        if wanted is not None and negotiated.upper() != wanted.upper():
            logger.info("SIP call %s: %s negotiated, %s offered too; re-offering", self.call_id, negotiated, wanted)
            self.endpoint.thread.defer(self._reoffer)

    def _reoffer(self) -> None:
        if not self.gone:
            try:
                self.reinvite(pj.CallOpParam(True))
            except pj.Error as exc:
                logger.info("SIP call %s: re-offer failed: %s", self.call_id, exc.info())

    # -- media --------------------------------------------------------------------------------

    def _connect(self, audio: pj.AudioMedia) -> None:
        handle = self.handle
        if handle is None:
            return
        if self.bridge is None:
            loop_put = handle.incoming.put_nowait
            self.bridge = MediaBridge(f"medvoice-{self.call_id}", lambda b: self.post(loop_put, b), handle.outgoing)
            self.endpoint.media_ports += 1
        audio.startTransmit(self.bridge)
        self.bridge.startTransmit(audio)
        self.post(handle.media_ready.set)

    def release_media(self) -> None:
        """Take the media port off the conference bridge and destroy it."""
        bridge, self.bridge = self.bridge, None
        if bridge is not None:
            # The C++ port first, while the Python object is whole: its destructor leaves the
            # conference, waiting out a clock callback in progress. Left to garbage collection, the
            # object's __dict__ was cleared while the port was still on the conference, and a clock
            # callback ran on it ('MediaBridge' object has no attribute '_outgoing'), before a
            # segfault in libpython in a latency benchmark run with SIP calls at load ~15.
            bridge.__swig_destroy__(bridge)
            del bridge
            self.endpoint.media_ports -= 1

    def refresh_stats(self) -> None:
        """Codec, RTP loss and jitter from PJSIP's stream statistics; notes when RTP last arrived."""
        if self.handle is None or self.bridge is None:
            return
        try:
            stream = self.getStreamInfo(0)
            stat = self.getStreamStat(0)
        except pj.Error:
            return
        rx = stat.rtcp.rxStat
        stats = CallStats(
            codec=f"{stream.codecName}/{stream.codecClockRate}",
            rx_packets=int(rx.pkt),
            rx_lost=int(rx.loss),
            rx_jitter_ms=float(rx.jitterUsec.last) / 1000.0,
            tx_packets=int(stat.rtcp.txStat.pkt),
        )
        if stats.rx_packets != self.last_rx_packets:
            self.last_rx_packets = stats.rx_packets
            self.last_rx_change = time.monotonic()
        self.handle.stats = stats
