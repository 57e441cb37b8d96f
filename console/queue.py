"""The triage queue: hand-off requests (claim, call back, close with an outcome) and live and recent
triage calls, most urgent level on top, read through the store's access-controlled, audited operations."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from backends import HandoffTicket
from console.roles import StaffUser
from console.web import Console, Refused, checked_id
from dialogue.triage.records import TriageCall, is_triage_call

LEVELS = {1: "1级 濒危", 2: "2级 危重", 3: "3级 急症", 4: "4级 非急症"}
RECENT = timedelta(hours=48)
MAX_CALLS = 200
"""At most this many Encounters written in the window are read for the queue (newest first)."""
CALLBACK_RESULTS = {"reached": "已联系上患者", "not_reached": "未接通"}
MAX_NOTE_CHARS = 500


@cache
def red_flag_names() -> dict[str, str]:
    from dialogue.safety import SafetyRules

    return {rule.code: rule.name for rule in SafetyRules.load().rules}


def level_text(level: int | None) -> str:
    return LEVELS.get(level or 0, "未分级")


@dataclass(frozen=True)
class QueueView:
    open_tickets: list[HandoffTicket]
    closed_tickets: list[HandoffTicket]
    calls: list[TriageCall]
    calls_by_call_id: dict[str, TriageCall]


async def load_queue(console: Console, user: StaffUser) -> QueueView:
    principal = user.principal
    store = console.store
    tickets = await store.handoff_queue(principal, "queued") + await store.handoff_queue(principal, "claimed")
    tickets.sort(key=lambda t: (t.request.level or 99, t.created_at))
    closed = sorted(await store.handoff_queue(principal, "closed"),
                    key=lambda t: t.history[-1]["at"] if t.history else "", reverse=True)[:10]
    since = datetime.now(UTC) - RECENT
    # only what changed in the window is read (each row read is an audited search hit)
    recent = await store.list_recent(principal, "Encounter", MAX_CALLS, since=since)
    calls = [TriageCall.of(r) for r in recent if is_triage_call(r)]
    calls = [c for c in calls if c.live or c.started >= since]
    calls.sort(key=lambda c: (not c.live, c.level or 99, -c.started.timestamp()))
    return QueueView(tickets, closed, calls, {c.call_id: c for c in calls})


def add_routes(router: APIRouter, console: Console) -> None:
    def context(view: QueueView, user: StaffUser) -> dict[str, Any]:
        return {"view": view, "levels": LEVELS, "level_text": level_text, "flag_names": red_flag_names(),
                "callback_results": CALLBACK_RESULTS, "can_work": user.can("work_handoffs")}

    @router.get("/queue")
    async def queue_page(request: Request) -> Response:
        user = await console.staff(request, "queue", "console/queue")
        view = await load_queue(console, user)
        await console.audit(user.principal, "console_view", "console/queue")
        return await console.page("queue.html", request, user, **context(view, user))

    @router.get("/queue/rows")
    async def queue_rows(request: Request) -> Response:
        user = await console.staff(request, "queue", "console/queue")
        view = await load_queue(console, user)
        await console.audit(user.principal, "console_view", "console/queue")
        return await console.page("_queue_rows.html", request, user, **context(view, user))

    @router.get("/calls/{encounter_id}")
    async def call_page(request: Request, encounter_id: str) -> Response:
        user = await console.staff(request, "queue", f"Encounter/{encounter_id}"[:160])
        resource = await console.store.read(user.principal, "Encounter", checked_id(encounter_id))
        if not is_triage_call(resource):
            raise Refused(404, "没有找到该分诊来电")
        await console.audit(user.principal, "console_view", f"Encounter/{encounter_id}")
        return await console.page("call.html", request, user, call=TriageCall.of(resource), level_text=level_text,
                                  flag_names=red_flag_names())

    async def act(request: Request, ticket_id: str, action: str) -> Response:
        user = await console.staff(request, "work_handoffs", f"Handoff/{ticket_id}"[:160])
        form = dict(await request.form())
        await console.check_csrf(request, form)
        ticket_id = checked_id(ticket_id)
        principal = user.principal
        if action == "claim":
            current = await console.store.handoff(principal, ticket_id)  # 404 / 403 (audited) first
            if current.status != "queued":
                who = await asyncio.to_thread(console.accounts.display_names, user.hospital_id)
                raise Refused(409, f"该请求已由 {who.get(current.claimed_by or '', current.claimed_by)} 认领或已结案")
            await console.store.claim_handoff(principal, ticket_id)
        elif action == "callback":
            result = str(form.get("result") or "")
            if result not in CALLBACK_RESULTS:
                raise Refused(400, "请选择回电结果")
            note = str(form.get("note") or "")[:MAX_NOTE_CHARS]
            await console.store.work_handoff(principal, ticket_id, "callback",
                                             f"{CALLBACK_RESULTS[result]}{'：' + note if note else ''}")
        else:
            outcome = str(form.get("outcome") or "").strip()[:MAX_NOTE_CHARS]
            if not outcome:
                raise Refused(400, "结案需要填写处理结果")
            await console.store.work_handoff(principal, ticket_id, "close", outcome)
        if not request.headers.get("hx-request"):  # a plain form post (no script): back to the page
            return RedirectResponse("/console/queue", status_code=303)
        view = await load_queue(console, user)
        return await console.page("_queue_rows.html", request, user, **context(view, user))

    @router.post("/handoffs/{ticket_id}/claim")
    async def claim(request: Request, ticket_id: str) -> Response:
        return await act(request, ticket_id, "claim")

    @router.post("/handoffs/{ticket_id}/callback")
    async def callback(request: Request, ticket_id: str) -> Response:
        return await act(request, ticket_id, "callback")

    @router.post("/handoffs/{ticket_id}/close")
    async def close(request: Request, ticket_id: str) -> Response:
        return await act(request, ticket_id, "close")
