"""Transports: WebSocket audio endpoint, WebRTC signalling and transport, the browser page, the
file caller of ``medvoice call``, the SIP endpoint (``transport.sip``), and what each transport declares
about its audio output
(``capabilities``).

The names load lazily so that reading the capabilities does not import aiortc.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "STATIC_DIR": "transport.static",
    "AudioOutput": "transport.capabilities",
    "DEFAULT_SIP_PORT": "transport.sip.config",
    "FileCallTransport": "transport.file",
    "IceServerConfig": "transport.webrtc",
    "InboundCalls": "transport.sip.inbound",
    "ProtocolError": "transport.ws_protocol",
    "QueuedAudio": "transport.capabilities",
    "SignallingError": "transport.webrtc",
    "SipConfig": "transport.sip.config",
    "SipEndpoint": "transport.sip.endpoint",
    "SipRefusal": "transport.sip.inbound",
    "SipRegistration": "transport.sip.config",
    "WebRTCCalls": "transport.webrtc",
    "WebRTCConfig": "transport.webrtc",
    "audio_output": "transport.capabilities",
    "build_signalling_router": "transport.signalling",
    "declare_audio_output": "transport.capabilities",
    "parse_start": "transport.ws_protocol",
    "webrtc_call_transport": "transport.webrtc",
    "websocket_transport": "transport.websocket",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'transport' has no attribute {name!r}")
