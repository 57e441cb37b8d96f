"""SIP settings: where the endpoint listens, which peers may call, where it registers, how calls
are routed to flows, and the limits (concurrent calls, RTP timeout). A frozen dataclass that checks
itself; ``agent.config.Settings.sip_config()`` builds it from the ``MEDVOICE_SIP_*`` variables."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

DEFAULT_SIP_PORT = 5060
DEFAULT_ROUTES: tuple[tuple[str, str], ...] = (("triage", "triage"), ("followup", "followup"),
                                                ("dictation", "dictation"))
SrtpUse = Literal["disabled", "optional", "mandatory"]


@dataclass(frozen=True)
class SipRegistration:
    """Register to a PBX as an extension.

    Parameters:
        registrar: ``sip:pbx.example.hospital`` (the PBX's registrar URI).
        user: The extension, e.g. ``8001``; the account is ``sip:8001@<registrar host>``.
        password: Digest password (never logged).
        realm: Digest realm; ``*`` answers any realm the PBX asks for.
    """

    registrar: str
    user: str
    password: str = field(repr=False)
    realm: str = "*"

    def __post_init__(self) -> None:
        if not self.registrar.startswith(("sip:", "sips:")):
            raise ValueError(f"SIP registrar {self.registrar!r} must be a sip: or sips: URI, e.g. sip:pbx.local")
        if not self.user:
            raise ValueError("SIP registration needs a user (the extension), e.g. MEDVOICE_SIP_USER=8001")

    @property
    def host(self) -> str:
        return self.registrar.split(":", 1)[1].split(";", 1)[0]

    @property
    def id_uri(self) -> str:
        return f"sip:{self.user}@{self.host}"


@dataclass(frozen=True)
class SipConfig:
    """The SIP endpoint's configuration.

    Parameters:
        port: UDP and TCP listening port (both on the same number).
        bind: Address the SIP and RTP sockets bind to (``0.0.0.0`` = all).
        public_address: Address written in Contact and SDP (default: ``bind`` unless it is 0.0.0.0).
        rtp_port: First RTP port (each call takes a pair from here up); 0 = any free port.
        allow_from: Trunk/PBX addresses or networks (``10.1.2.3``, ``10.1.0.0/16``) whose INVITEs are
            answered; others get 403. Empty = nobody but the registrar's host (with a registration).
        registration: Register to a PBX as an extension (optional).
        routes: Called user part or number -> flow (``triage@`` -> triage); the number plan.
        max_calls: Concurrent SIP calls; more get 503 with ``Retry-After``.
        retry_after_s: The ``Retry-After`` of a refusal for capacity.
        invites_per_minute: New calls one source address may start a minute; more get 503 with
            ``Retry-After`` (a flood from one trunk or a scanner cannot take every slot).
        rtp_timeout_s: A call that receives no RTP for this long is hung up (and freed).
        srtp: ``mandatory`` refuses a call without SDES-SRTP; ``optional`` offers/accepts it.
        tls_port: Also listen for SIP over TLS on this port (needs ``tls_cert``/``tls_key``); 0 = off.
        human_uri: Where a hand-off is transferred (blind REFER), e.g. ``sip:8000@pbx.local``; None = no
            live transfer (the flow's queued hand-off only).
    """

    port: int = DEFAULT_SIP_PORT
    bind: str = "0.0.0.0"
    public_address: str | None = None
    rtp_port: int = 0
    allow_from: tuple[str, ...] = ()
    registration: SipRegistration | None = None
    routes: tuple[tuple[str, str], ...] = DEFAULT_ROUTES
    max_calls: int = 8
    retry_after_s: int = 30
    invites_per_minute: int = 120
    rtp_timeout_s: float = 30.0
    srtp: SrtpUse = "disabled"
    tls_port: int = 0
    tls_cert: str | None = None
    tls_key: str | None = None
    human_uri: str | None = None
    log_level: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"SIP port {self.port} must be 1-65535 (0: any free port, for tests)")
        for entry in self.allow_from:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"SIP allow-list entry {entry!r} is not an address or network (10.1.2.3, 10.1.0.0/16)"
                ) from exc
        if self.srtp not in ("disabled", "optional", "mandatory"):
            raise ValueError(f"SIP srtp {self.srtp!r} must be disabled, optional or mandatory")
        if self.tls_port and not (self.tls_cert and self.tls_key):
            raise ValueError(f"SIP over TLS on port {self.tls_port} needs a certificate and a key file")
        if self.human_uri is not None and not self.human_uri.startswith(("sip:", "sips:", "tel:")):
            raise ValueError(f"SIP human_uri {self.human_uri!r} must be a sip:, sips: or tel: URI")
        if self.invites_per_minute < 1:
            raise ValueError(f"SIP invites_per_minute {self.invites_per_minute} must be at least 1")
        if self.max_calls < 1:
            raise ValueError(f"SIP max_calls {self.max_calls} must be at least 1")

    @property
    def contact_address(self) -> str:
        """The address peers reach us at (Contact, SDP)."""
        if self.public_address:
            return self.public_address
        return "127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind
