"""Blind transfer to a human (SIP REFER) when the flow hands the call off.

A flow records a hand-off (the caller asked for a person or pressed 0, a red flag, a follow-up
danger criterion) and its state events then carry the hand-off id. On a SIP call with a human
extension configured, ``HandoffTransfer`` waits until the agent has finished the sentence that
announced it, then REFERs the caller to the extension with the nurse's summary in the
``X-Medvoice-Summary`` header (URL-encoded UTF-8: flow, urgency level, department, red-flag codes,
the triage reason and the hand-off id; no name, no transcript), both on the REFER and embedded in
its Refer-To URI, so the caller's phone puts it on the INVITE that rings the nurse. A transfer that fails is told to
the caller in Mandarin and the call goes on; a transfer that succeeds ends our leg.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from transport.sip.call import SipCall

logger = logging.getLogger("medvoice.sip")

SUMMARY_HEADER = "X-Medvoice-Summary"
HANDOFF_HEADER = "X-Medvoice-Handoff"
TRANSFER_FAILED_SPEECH = "抱歉，转接人工没有成功，我会继续为您服务。工作人员也会尽快给您回电话。"
"""What the caller hears when the REFER fails (the call is not hung up)."""
MAX_SUMMARY_CHARS = 300
QUIET_BEFORE_TRANSFER_S = 0.8  # longer than the gap between two synthesised sentences


def handoff_of(events: list[dict[str, Any]]) -> str | None:
    """The hand-off id in the latest state event that has one."""
    for event in reversed(events):
        if event.get("type") == "state" and event.get("handoff"):
            return str(event["handoff"])
    return None


def summary(events: list[dict[str, Any]]) -> str:
    """What the nurse's phone shows, from the latest state: ``flow=triage;level=1;...`` (plain text)."""
    state: dict[str, Any] = next((e for e in reversed(events) if e.get("type") == "state"), {})
    parts = {
        "flow": state.get("flow"),
        "level": state.get("level"),
        "department": state.get("department"),
        "red_flags": ",".join(state.get("red_flags") or []) or None,
        "reason": state.get("reason"),
        "handoff": state.get("handoff"),
    }
    text = ";".join(f"{k}={v}" for k, v in parts.items() if v not in (None, ""))
    return text[:MAX_SUMMARY_CHARS]


def refer_to(target: str, headers: dict[str, str]) -> str:
    """The Refer-To URI with ``headers`` embedded (RFC 3261 19.1.5), so that the INVITE the caller's
    phone sends to the human carries them too: ``<sip:8000@pbx?X-Medvoice-Summary=...>``."""
    uri = target.strip().removeprefix("<").removesuffix(">")
    if not headers:
        return f"<{uri}>"
    embedded = "&".join(f"{name}={quote(value, safe='')}" for name, value in headers.items())
    return f"<{uri}{'&' if '?' in uri else '?'}{embedded}>"


def summary_headers(events: list[dict[str, Any]]) -> dict[str, str]:
    """The REFER's extra headers (URL-encoded, so any SIP stack passes them through intact)."""
    headers = {SUMMARY_HEADER: quote(summary(events), safe="=;,")}
    handoff = handoff_of(events)
    if handoff:
        headers[HANDOFF_HEADER] = quote(handoff, safe="")
    return headers


class HandoffTransfer:
    """Transfers ``call`` to ``target`` once a hand-off shows up in its events.

    Args:
        call: The live call (its ``events`` are the flow's, as the transport received them).
        target: The human extension's URI.
        say: Speaks a sentence to the caller in the running call (the transport injects it).
    """

    def __init__(self, call: SipCall, target: str, say: Callable[[str], Awaitable[None]]) -> None:
        self.call = call
        self.target = target
        self._say = say
        self.status: int | None = None
        self.reason = ""
        self.done = asyncio.Event()

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    async def run(self) -> None:
        """Wait for a hand-off, transfer, report; returns after one attempt (or when the call ends)."""
        try:
            while handoff_of(self.call.events) is None:
                if self.call.ended.is_set():
                    return
                await asyncio.sleep(0.1)
            await self._agent_quiet()
            if self.call.ended.is_set():
                return
            logger.info("SIP call %s: hand-off; transferring to %s", self.call.call_id, self.target)
            try:
                headers = summary_headers(self.call.events)
                self.status, self.reason = await self.call.transfer(refer_to(self.target, headers), headers)
            except Exception as exc:  # PJSIP refused to send the REFER
                self.status, self.reason = 500, str(exc)
            logger.info("SIP call %s: transfer result %s %s", self.call.call_id, self.status, self.reason)
            if not self.succeeded and not self.call.ended.is_set():
                await self._say(TRANSFER_FAILED_SPEECH)
        finally:
            self.done.set()

    async def _agent_quiet(self) -> None:
        quiet_since: float | None = None
        loop = asyncio.get_running_loop()
        while not self.call.ended.is_set():
            if self.call.outgoing.queued == 0:
                quiet_since = quiet_since or loop.time()
                if loop.time() - quiet_since >= QUIET_BEFORE_TRANSFER_S:
                    return
            else:
                quiet_since = None
            await asyncio.sleep(0.05)
