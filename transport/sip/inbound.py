"""Inbound calls: from a ringing INVITE to a finished session.

``InboundCalls.on_call`` is the ``SipEndpoint``'s ``on_call``. For each call it asks the service's
admission check (the one every transport uses) whether and how to take it, answers or refuses
with the SIP status it maps to, runs the call through the shared pipeline (``run_call``, the same
callable the WebSocket and WebRTC paths use), transfers it to a human on a hand-off when an
extension is configured, and hangs up — or cancels the session when the caller hangs up or RTP
stops. Every task it starts is awaited in ``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from pipecat.frames.frames import TTSSpeakFrame
from pipecat.transports.base_transport import BaseTransport

from transport.sip.call import SipCall
from transport.sip.transfer import HandoffTransfer, handoff_of
from transport.sip.transport import sip_call_transport

logger = logging.getLogger("medvoice.sip")

MEDIA_TIMEOUT_S = 5.0
# After the flow ends the call, the caller hears the last words before the BYE.
HANGUP_GRACE_S = 0.3

RunCall = Callable[[str, BaseTransport, Any], Coroutine[Any, Any, Any]]
"""(flow, transport, call options from the admission check) -> runs the call to its end."""


@dataclass
class SipRefusal(Exception):
    """The service does not take the call: ``status`` is the SIP final response."""

    status: int
    reason: str
    retry_after_s: int | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"


class InboundCalls:
    """Runs every answered SIP call to its end.

    Args:
        admit: ``admit(flow)`` -> call options, or raises ``SipRefusal``.
        run_call: Runs the call through the shared pipeline.
        human_uri: Where hand-offs are transferred (None: no live transfer).
    """

    def __init__(self, admit: Callable[[str], Any], run_call: RunCall, human_uri: str | None = None) -> None:
        self._admit = admit
        self._run_call = run_call
        self.human_uri = human_uri
        self._tasks: set[asyncio.Task[None]] = set()
        self.transfers: list[HandoffTransfer] = []

    def on_call(self, call: SipCall) -> None:
        task = asyncio.create_task(self._run(call), name=f"sip-call-{call.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def active(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every call and wait for its cleanup."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, call: SipCall) -> None:
        try:
            options = self._admit(call.flow)
        except SipRefusal as refusal:
            logger.info("SIP call %s refused: %s", call.call_id, refusal)
            await call.reject(refusal.status, refusal.reason, retry_after_s=refusal.retry_after_s)
            return
        try:
            await call.answer()
            await asyncio.wait_for(call.media_ready.wait(), MEDIA_TIMEOUT_S)
        except (TimeoutError, RuntimeError) as exc:
            logger.warning("SIP call %s: no media after answer (%s); hanging up", call.call_id, exc)
            await call.hangup()
            return
        await self.serve(call, options)

    async def serve(self, call: SipCall, options: Any) -> Any:
        """Run an answered call (media flowing) through the shared pipeline to its end, then hang up.

        Inbound calls come here after admission; outbound calls (``agent.sip_dialler``) when the
        callee answers. Returns the session's result (its ``CallLog``), or None when the call ended
        first (the other side hung up, RTP stopped, a transfer took the call) or the session failed.
        """
        result: Any = None
        transport = sip_call_transport(call)
        transfer = self._transfer(call, transport)
        session: asyncio.Task[Any] = asyncio.create_task(self._run_call(call.flow, transport, options), name=f"sip-session-{call.call_id}")
        hung_up = asyncio.create_task(call.ended.wait())
        try:
            await asyncio.wait({session, hung_up}, return_when=asyncio.FIRST_COMPLETED)
            if not session.done():  # the caller hung up, RTP stopped, or a transfer took the call
                session.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                result = await session
            if transfer is not None and not transfer.done.is_set() and not call.ended.is_set():
                await transfer.done.wait()
            if not call.ended.is_set():
                await asyncio.sleep(HANGUP_GRACE_S)
        except Exception:
            logger.exception("SIP call %s: session failed", call.call_id)
        finally:
            hung_up.cancel()
            if transfer is not None:
                transfer_task = getattr(transfer, "task", None)
                if transfer_task is not None:
                    transfer_task.cancel()
                    await asyncio.gather(transfer_task, return_exceptions=True)
            await call.hangup()
            logger.info("SIP call %s ended (%s %s)", call.call_id, call.end_status, call.end_reason)
        return result

    def _transfer(self, call: SipCall, transport: BaseTransport) -> HandoffTransfer | None:
        if self.human_uri is None:
            return None

        async def say(text: str) -> None:
            await transport.input().push_frame(TTSSpeakFrame(text))

        transfer = HandoffTransfer(call, self.human_uri, say)

        async def transfer_first() -> None:
            if handoff_of(call.events) is not None:
                await transfer.done.wait()

        transport.input().before_end = transfer_first  # type: ignore[attr-defined]
        transfer.task = asyncio.create_task(self._transfer_then_end(call, transfer))  # type: ignore[attr-defined]
        self.transfers.append(transfer)
        del self.transfers[:-16]
        return transfer

    @staticmethod
    async def _transfer_then_end(call: SipCall, transfer: HandoffTransfer) -> None:
        await transfer.run()
        if transfer.succeeded:  # the caller is with the nurse: our leg ends
            await call.hangup()
