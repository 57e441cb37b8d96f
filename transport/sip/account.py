"""The SIP account: who we are (a PBX extension, or a bare endpoint that trunks call directly), the
registration state, and the first answer to every INVITE.

An INVITE is refused here, on the PJSIP thread, when its source is not allowed (403), sent more
INVITEs this minute than ``invites_per_minute`` (503 with ``Retry-After``), nothing is routed at
its called user (404) or every SIP call slot is busy (503 with ``Retry-After``). The rest
ring (180) and go to the event loop, whose admission check answers or refuses them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pjsua2 as pj

from transport.sip.call import CallLeg, SipCall
from transport.sip.config import SipConfig
from transport.sip.routing import called_user, route, source_allowed
from transport.webrtc import SlidingWindowLimiter

if TYPE_CHECKING:
    from transport.sip.endpoint import SipEndpoint

logger = logging.getLogger("medvoice.sip")


@dataclass
class RegistrationState:
    """The PBX registration as ``/readyz`` shows it."""

    configured: bool = False
    active: bool = False
    status: int = 0
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"configured": self.configured, "registered": self.active, "status": self.status,
                "reason": self.reason}


def account_config(config: SipConfig) -> pj.AccountConfig:
    """PJSUA2's account configuration for ``config`` (registration, SRTP, RTP ports)."""
    acc = pj.AccountConfig()
    reg = config.registration
    if reg is not None:
        acc.idUri = reg.id_uri
        acc.regConfig.registrarUri = reg.registrar
        acc.regConfig.registerOnAdd = True
        acc.sipConfig.authCreds.append(pj.AuthCredInfo("digest", reg.realm, reg.user, 0, reg.password))
    else:
        acc.idUri = f"sip:medvoice@{config.contact_address}"
    acc.mediaConfig.srtpUse = {
        "disabled": pj.PJMEDIA_SRTP_DISABLED,
        "optional": pj.PJMEDIA_SRTP_OPTIONAL,
        "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
    }[config.srtp]
    # SDES keys travel in the SDP: over plain UDP/TCP they are readable on the wire, so TLS is
    # advised but not demanded (0); a site that has TLS sets its trunk to sips:.
    acc.mediaConfig.srtpSecureSignaling = 0
    acc.mediaConfig.transportConfig.port = config.rtp_port
    acc.mediaConfig.transportConfig.boundAddress = "" if config.bind in ("0.0.0.0", "::") else config.bind
    if config.public_address:
        acc.mediaConfig.transportConfig.publicAddress = config.public_address
    acc.natConfig.iceEnabled = False
    acc.natConfig.sdpNatRewriteUse = 0
    acc.natConfig.contactRewriteUse = 0
    acc.natConfig.viaRewriteUse = 0
    return acc


class SipAccount(pj.Account):
    """The endpoint's one account; lives on the PJSIP thread."""

    def __init__(self, endpoint: SipEndpoint, config: SipConfig, trusted: tuple[str, ...]) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.config = config
        self.trusted = trusted  # allow_from plus the registrar's addresses
        self.registration = RegistrationState(configured=config.registration is not None)
        self.limiter = SlidingWindowLimiter(config.invites_per_minute)

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        try:
            info = self.getInfo()
            self.registration = RegistrationState(True, bool(info.regIsActive), int(prm.code), prm.reason)
            logger.info("SIP registration: %s %s (active=%s)", prm.code, prm.reason, info.regIsActive)
        except Exception:
            logger.exception("SIP registration callback failed")

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        leg = CallLeg(self.endpoint, self, prm.callId)
        try:
            self._admit(leg, prm.rdata.wholeMsg, prm.rdata.srcAddress)
        except Exception:
            logger.exception("SIP: incoming call %s failed", prm.callId)
            self.endpoint.refuse(leg, 500, "Server Internal Error")

    def _admit(self, leg: CallLeg, message: str, source: str) -> None:
        if not source_allowed(source, self.trusted):
            logger.warning("SIP: INVITE from %s refused (not in the allow-list)", source)
            self.endpoint.refuse(leg, 403, "Forbidden")
            return
        wait_s = self.limiter.check(source.rsplit(":", 1)[0])
        if wait_s is not None:
            logger.warning("SIP: more than %d INVITEs a minute from %s; refused", self.config.invites_per_minute, source)
            self.endpoint.refuse(leg, 503, "Service Unavailable", retry_after_s=max(1, round(wait_s)))
            return
        user = called_user(message)
        target = route(user, self.config.routes)
        if target is None:
            logger.info("SIP: INVITE for unknown user %r from %s", user, source)
            self.endpoint.refuse(leg, 404, "Not Found")
            return
        if self.endpoint.live_calls >= self.config.max_calls:
            logger.warning("SIP: all %d call slots busy; INVITE from %s refused", self.config.max_calls, source)
            self.endpoint.refuse(leg, 503, "Service Unavailable", retry_after_s=self.config.retry_after_s)
            return
        info = leg.getInfo()
        leg.offer = message
        leg.handle = SipCall(leg.call_id, target.flow, target.called, source, info.remoteUri, self.endpoint)
        self.endpoint.ring(leg)
