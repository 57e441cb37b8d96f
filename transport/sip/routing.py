"""Inbound routing: which flow an INVITE goes to, and whether its source may call at all.

Pure functions over the request text and the source address, so they run on the PJSIP thread
without touching the event loop and are tested without a SIP stack.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

_REQUEST_LINE = re.compile(r"^INVITE\s+(?P<uri>\S+)\s+SIP/2\.0", re.IGNORECASE)
_TO = re.compile(r"^(?:To|t)\s*:\s*(?P<value>.+)$", re.IGNORECASE | re.MULTILINE)
_USER = re.compile(r"(?:sips?:(?P<user>[^@;>?\s:]+)@|tel:(?P<number>[^;>?\s]+))", re.IGNORECASE)


@dataclass(frozen=True)
class Route:
    """Where an accepted INVITE goes: the flow and the user part it was called by."""

    flow: str
    called: str


def called_user(message: str) -> str | None:
    """The user part the INVITE calls: the Request-URI's, else the To header's (``triage`` of
    ``INVITE sip:triage@10.0.0.5 SIP/2.0``); None when neither has one."""
    first = message.lstrip().split("\n", 1)[0]
    for candidate in (_REQUEST_LINE.match(first), _TO.search(message)):
        if candidate is None:
            continue
        found = _USER.search(candidate.group(1))
        if found is not None:
            return found.group("user") or found.group("number")
    return None


def route(user: str | None, routes: Iterable[tuple[str, str]]) -> Route | None:
    """The flow for ``user`` (case-insensitive; a number's visual separators ignored), or None."""
    if not user:
        return None
    key = _normalise(user)
    for called, flow in routes:
        if _normalise(called) == key:
            return Route(flow, user)
    return None


def source_allowed(source: str, allow_from: Iterable[str]) -> bool:
    """Whether ``source`` (``ip:port``, ``[v6]:port`` or a bare address) is in the allow-list."""
    host = source.rsplit(":", 1)[0] if source.count(":") == 1 or source.startswith("[") else source
    host = host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allow_from)


def _normalise(user: str) -> str:
    return re.sub(r"[-.()\s]", "", user).lower()
