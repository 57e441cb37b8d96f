"""Placing an outbound follow-up call: the ``Dialler`` interface and its WebSocket ring-back dialler.

A dialler turns one due visit into one call attempt and reports how it went (``DialOutcome``); the
queue (``agent.call_queue``) decides when and whether to dial, the dialler only how. Each transport
is one implementation behind the same interface, declared by its ``transport`` name:

- ``RingbackDialler`` (``ws``), today's path: the patient's app or a scripted peer is "rung" with an
  HTTP POST to the contact URL on the patient's record, carrying a one-time ``ticket``; the phone
  answers by opening the ordinary call WebSocket (``/ws/call?flow=followup&ticket=...``) on the
  worker that rang it, and the call runs the normal follow-up pipeline.
- A SIP dialler (``sip``, ``transport/sip``) sends an INVITE to the patient's phone number instead.

``OutboundCalls`` is the worker's table of tickets it has handed out: the WebSocket route turns a
ticket into the call's options (the patient and care team come from the ticket, never from the
URL), and the dialler waits on it for the call to connect and to end.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

from agent.session import CallLog, CallOptions
from backends import Principal

logger = logging.getLogger("medvoice.dialler")

DialStatus = Literal["answered", "no_answer", "busy", "failed"]


@dataclass(frozen=True)
class OutboundCall:
    """One attempt to reach a patient for a due follow-up visit.

    Parameters:
        visit_id: The visit of the campaign schedule.
        attempt: The attempt number (marked ``dialling`` before the dial).
        patient_id: The Patient to call.
        program: Follow-up programme.
        principal: The care team the call acts for (it reads and writes the follow-up records).
        contacts: The patient's ``telecom`` entries as (system, value): ``url`` for ring-back, ``phone`` for SIP.
    """

    visit_id: str
    attempt: int
    patient_id: str
    program: str
    principal: Principal
    contacts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DialOutcome:
    """How an attempt ended: ``answered`` (with the dialogue's ``snapshot()``), ``no_answer``,
    ``busy`` or ``failed`` (with a reason, never patient data)."""

    status: DialStatus
    snapshot: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    @property
    def answered(self) -> bool:
        return self.status == "answered"


class Dialler(Protocol):
    """Places one outbound call and waits for it to end."""

    transport: str
    """``ws``, ``webrtc`` or ``sip``: written on every attempt."""

    async def dial(self, call: OutboundCall) -> DialOutcome: ...


@dataclass
class _Pending:
    options: CallOptions
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Future[CallLog] | None = None


class UnknownTicket(KeyError):
    """The ticket was never handed out by this worker, or its call already connected."""


class OutboundCalls:
    """The tickets this worker handed out and the calls they became."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self._live: set[str] = set()
        self.reserved = 0  # call slots held by this worker's outbound jobs (``agent.call_queue.SlotGate``)

    @property
    def live(self) -> int:
        """Ticketed calls in progress (each fills the call slot its queue job had reserved)."""
        return len(self._live)

    def expect(self, options: CallOptions) -> str:
        ticket = uuid.uuid4().hex
        self._pending[ticket] = _Pending(options, ended=asyncio.get_running_loop().create_future())
        return ticket

    def connect(self, ticket: str) -> CallOptions:
        """The call's options for an arriving ticket (once; raises ``UnknownTicket``)."""
        pending = self._pending.get(ticket)
        if pending is None or pending.connected.is_set():
            raise UnknownTicket(ticket)
        pending.connected.set()
        self._live.add(ticket)
        return pending.options

    def finish(self, ticket: str, log: CallLog | None, error: BaseException | None = None) -> None:
        self._live.discard(ticket)
        pending = self._pending.get(ticket)
        if pending is None or pending.ended is None or pending.ended.done():
            return
        if log is not None:
            pending.ended.set_result(log)
        else:
            pending.ended.set_exception(error or RuntimeError("call ended without a log"))

    def forget(self, ticket: str) -> None:
        self._pending.pop(ticket, None)

    async def wait_connected(self, ticket: str, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._pending[ticket].connected.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def wait_ended(self, ticket: str) -> CallLog:
        ended = self._pending[ticket].ended
        assert ended is not None
        return await ended


class RingbackDialler:
    """Rings the patient's ``url`` contact and waits for the phone to call this worker back.

    Args:
        calls: This worker's ticket table (the app's ``state.outbound``).
        callback_url: The worker's own WebSocket base the phone dials, e.g. ``ws://10.0.0.5:8001``
            (the worker itself, not the balancer: the ticket lives here).
        ring_timeout_s: How long the phone may take to answer before the attempt is ``no_answer``.
    """

    transport = "ws"

    def __init__(self, calls: OutboundCalls, callback_url: str, *, ring_timeout_s: float = 30.0) -> None:
        self.calls = calls
        self.callback_url = callback_url.rstrip("/")
        self.ring_timeout_s = ring_timeout_s

    async def dial(self, call: OutboundCall) -> DialOutcome:
        url = next((value for system, value in call.contacts if system == "url"), None)
        if url is None:
            return DialOutcome("failed", reason="no_url_contact")
        options = CallOptions(program=call.program, patient_id=call.patient_id, principal=call.principal)
        ticket = self.calls.expect(options)
        try:
            try:
                async with httpx.AsyncClient(timeout=self.ring_timeout_s) as client:
                    response = await client.post(url, json={
                        "call_url": f"{self.callback_url}/ws/call?flow=followup&ticket={ticket}",
                        "visit": call.visit_id, "attempt": call.attempt,
                    })
            except httpx.HTTPError as error:
                return DialOutcome("failed", reason=f"ring_{type(error).__name__}")
            if response.status_code in (486, 603):
                return DialOutcome("busy", reason=f"http_{response.status_code}")
            if response.status_code >= 300:
                return DialOutcome("failed", reason=f"http_{response.status_code}")
            if not await self.calls.wait_connected(ticket, self.ring_timeout_s):
                return DialOutcome("no_answer")
            try:
                log = await self.calls.wait_ended(ticket)
            except Exception as error:  # the call's pipeline failed; the attempt failed, the queue goes on
                logger.warning("outbound call of visit %s failed: %s", call.visit_id, type(error).__name__)
                return DialOutcome("failed", reason=type(error).__name__)
            return DialOutcome("answered", snapshot=log.result)
        finally:
            self.calls.forget(ticket)
