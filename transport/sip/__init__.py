"""medvoice's telephone line: a SIP endpoint on PJSIP (the ``pjsua2`` wheel).

Modules, one concept each: ``config`` (settings), ``loop`` (the PJSIP thread and its bridge to
asyncio), ``endpoint`` (``SipEndpoint``: transports, account, call legs), ``account`` (registration
and the first answer to an INVITE), ``routing`` (called user -> flow, allow-list), ``call`` (a call
leg and its loop-side handle), ``media`` (the media port on the conference bridge), ``codec``
(codec preference, frames), ``transport`` (the pipecat transport of a call), ``dtmf`` (keypad
digits), ``transfer`` (blind transfer to a human), ``inbound`` (answered calls run to their end).

Names load lazily: importing the package does not load PJSIP.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "HandoffTransfer": "transport.sip.transfer",
    "InboundCalls": "transport.sip.inbound",
    "SipRegistration": "transport.sip.config",
    "SipCall": "transport.sip.call",
    "SipCallTransport": "transport.sip.transport",
    "SipConfig": "transport.sip.config",
    "SipEndpoint": "transport.sip.endpoint",
    "SipRefusal": "transport.sip.inbound",
    "called_user": "transport.sip.routing",
    "route": "transport.sip.routing",
    "source_allowed": "transport.sip.routing",
    "summary_headers": "transport.sip.transfer",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'transport.sip' has no attribute {name!r}")
