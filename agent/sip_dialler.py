"""Follow-up campaign calls over SIP: ``SipDialler``, the ``sip`` implementation of the campaign's
``Dialler`` interface (``agent.dialler``), on the service's SIP line (``transport.sip``).

The queue (``agent.call_queue``) decides when and whether a visit is dialled (calling hours, the
trunk's limits, retries); this module only places the call. It dials the patient's ``phone``
contact at the trunk/PBX URI template (``MEDVOICE_SIP_DIAL_URI``, e.g. ``sip:{phone}@pbx.local``)
with ``SipEndpoint.make_call``, waits up to the ring timeout for an answer, and runs the answered
call through the same ``InboundCalls.serve`` (the shared pipeline, hand-off transfer, hang-up) as
an inbound call (no second pipeline). How the attempt ended, with the SIP status in its reason:

- answered and the follow-up flow ended the call: ``answered`` with the dialogue's snapshot;
- 486 Busy Here, 600 Busy Everywhere, 603 Decline: ``busy``;
- 408, 480, or still ringing at the ring timeout (hung up: 487): ``no_answer``;
- answered, and a hand-off transferred the patient to the human extension (REFER accepted):
  ``answered`` with the flow's last state (its ``handoff``), so the visit is not dialled again;
- answered, then the patient hung up mid-call: ``failed`` (``hung_up_mid_call``), as the WebSocket
  ring-back reports it; the flow itself saved the answers given as ``partial`` (``Dialogue.hangup``);
- anything else (404, 503, no call slot, no phone number): ``failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from agent.dialler import DialOutcome, OutboundCall, OutboundCalls
from agent.session import CallLog, CallOptions

if TYPE_CHECKING:
    from transport import InboundCalls, SipEndpoint

__all__ = ["BUSY", "NO_ANSWER", "SipDialler", "dial_uri", "last_state", "outcome_of_status", "service_dialler"]

logger = logging.getLogger("medvoice.sip")

BUSY = frozenset({486, 600, 603})
NO_ANSWER = frozenset({408, 480, 487})
FLOW = "followup"
# After hanging up at the ring timeout, how long the CANCEL's final answer (487) may take.
CANCEL_WAIT_S = 5.0
_PHONE = re.compile(r"\+?[0-9]{3,20}")


class SipLineLike(Protocol):
    """What the dialler needs of the service's SIP line (``agent.app.SipLine``)."""

    endpoint: SipEndpoint
    calls: InboundCalls


def dial_uri(template: str, phone: str) -> str | None:
    """The SIP URI for ``phone`` (spaces and dashes dropped), or None if it is not a phone number."""
    number = re.sub(r"[\s\-()]", "", phone)
    if not _PHONE.fullmatch(number):
        return None
    return template.replace("{phone}", number)


def outcome_of_status(status: int | None) -> DialOutcome:
    """The attempt's outcome for a call that ended before it was answered, with the SIP status."""
    reason = f"sip_{status or 0}"
    if status in BUSY:
        return DialOutcome("busy", reason=reason)
    if status in NO_ANSWER:
        return DialOutcome("no_answer", reason=reason)
    return DialOutcome("failed", reason=reason)


def last_state(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The flow's state as of its last ``state`` event (each turn ends with one carrying ``snapshot()``)."""
    state: dict[str, Any] = {}
    for event in events:
        if event.get("type") == "state":
            state.update({key: value for key, value in event.items() if key != "type"})
    return state


class SipDialler:
    """Dials a patient's phone over the SIP trunk/PBX and runs the answered call's follow-up flow.

    Args:
        line: The service's SIP line, looked up at each dial (it starts after the call queue).
        uri_template: ``MEDVOICE_SIP_DIAL_URI``.
        calls: This worker's outbound call table: an answered call is counted live in it, so the
            slot its queue job reserved is not counted twice.
        ring_timeout_s: How long the phone may ring before the attempt is ``no_answer``.
    """

    transport = "sip"

    def __init__(self, line: Callable[[], SipLineLike | None], uri_template: str, calls: OutboundCalls | None = None,
                 *, ring_timeout_s: float = 30.0) -> None:
        self.line = line
        self.uri_template = uri_template
        self.calls = calls if calls is not None else OutboundCalls()
        self.ring_timeout_s = ring_timeout_s

    async def dial(self, call: OutboundCall) -> DialOutcome:
        line = self.line()
        if line is None:
            return DialOutcome("failed", reason="sip_off")
        phone = next((value for system, value in call.contacts if system == "phone"), None)
        if phone is None:
            return DialOutcome("failed", reason="no_phone_contact")
        uri = dial_uri(self.uri_template, phone)
        if uri is None:
            return DialOutcome("failed", reason="bad_phone_contact")
        try:
            sip_call = await line.endpoint.make_call(uri, FLOW)
        except RuntimeError as error:  # no call slot, or PJSIP refused the URI
            logger.warning("SIP dial of visit %s not placed: %s", call.visit_id, error)
            return DialOutcome("failed", reason="sip_not_placed")
        if not await self._answered(sip_call):
            return outcome_of_status(sip_call.end_status)
        options = CallOptions(program=call.program, patient_id=call.patient_id, principal=call.principal)
        ticket = self.calls.expect(options)
        self.calls.connect(ticket)  # live: the session fills the slot the job reserved
        result: Any = None
        try:
            result = await line.calls.serve(sip_call, options)
        finally:
            # nobody waits on the ticket of a SIP call: finish it with whatever log there is
            self.calls.finish(ticket, result if isinstance(result, CallLog) else CallLog(str(sip_call.call_id), FLOW))
            self.calls.forget(ticket)
        if isinstance(result, CallLog):
            return DialOutcome("answered", snapshot=result.result)
        if any(transfer.call is sip_call and transfer.succeeded for transfer in line.calls.transfers):
            # handed to the human extension (a hand-off): reached, not to be called again in two hours
            return DialOutcome("answered", snapshot=last_state(sip_call.events))
        return DialOutcome("failed", reason=f"hung_up_mid_call_sip_{sip_call.end_status or 0}")

    async def _answered(self, sip_call: Any) -> bool:  # a transport.sip.SipCall
        """Wait for media (answered) or the end; at the ring timeout hang up (CANCEL) and wait for 487."""
        media = asyncio.ensure_future(sip_call.media_ready.wait())
        ended = asyncio.ensure_future(sip_call.ended.wait())
        try:
            await asyncio.wait({media, ended}, timeout=self.ring_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (media, ended):
                waiter.cancel()
        if sip_call.media_ready.is_set() and not sip_call.ended.is_set():
            return True
        if not sip_call.ended.is_set():
            await sip_call.hangup()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sip_call.ended.wait(), CANCEL_WAIT_S)
            if not sip_call.ended.is_set():
                sip_call.end_status = sip_call.end_status or 487
        return False


def service_dialler(state: Any, settings: Any) -> SipDialler:
    """The service's SIP dialler (``MEDVOICE_SIP_DIAL_URI``) over ``state.sip``, the app's SIP line.

    Raises:
        ValueError: the dial URI is set but SIP is off.
    """
    if settings.sip_config() is None:
        raise ValueError("MEDVOICE_SIP_DIAL_URI needs SIP on (MEDVOICE_SIP=true or MEDVOICE_SIP_PORT)")
    return SipDialler(lambda: state.sip, settings.sip_dial_uri, state.outbound, ring_timeout_s=settings.sip_ring_timeout_s)
