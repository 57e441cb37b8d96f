"""The chronic-care follow-up campaign: who is due for a call, when to call, retries, the care-team summary.

Patients come from the records: an active Condition coded for a programme (ICD-10 I10 hypertension,
E11 type-2 diabetes, from the programme data) makes the patient eligible; the programme's last
completed follow-up Encounter says when the next call is due (its ``next-due`` extension, written by the
follow-up flow from the visit class: 90 days routine, 14 days recall/referral). Calls are placed only
within calling hours (China time); an unanswered call is retried after ``retry_after`` up to
``max_attempts``, then the patient is listed as unreachable for the care team. The summary puts alerts
first. The campaign reads the records as the care team (department or doctor principal): the voice
agent's service identity may not read clinical history. The schedule itself lives in the store's
shared tables (``backends.embedded.schedule``), so every worker of a cluster sees the same one.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from backends import CHINA_STANDARD_TIME, Principal, RecordsBackend
from dialogue import PROGRAMS, Program, followup_extension

ACTION_ORDER = ("urgent_referral", "referral", "recall_2w", "measure_and_recall", "routine")


@dataclass(frozen=True)
class CallingHours:
    """When patients may be called: windows of local time on the given ISO weekdays (1 = Monday)."""

    windows: tuple[tuple[time, time], ...] = ((time(9, 0), time(11, 30)), (time(14, 30), time(17, 30)))
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5, 6})
    tz: timezone = CHINA_STANDARD_TIME

    def __post_init__(self) -> None:
        if not self.windows or any(start >= end for start, end in self.windows):
            raise ValueError(f"calling windows must be non-empty (start, end) pairs with start < end, got {self.windows}")
        if not self.weekdays or not self.weekdays <= set(range(1, 8)):
            raise ValueError(f"weekdays must be ISO weekday numbers 1-7, got {sorted(self.weekdays)}")

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        return local.isoweekday() in self.weekdays and any(s <= local.time() < e for s, e in self.windows)

    def next_open(self, at: datetime) -> datetime:
        """``at`` if calling is allowed then, else the start of the next calling window."""
        if self.is_open(at):
            return at
        local = at.astimezone(self.tz)
        for days in range(8):
            day = local.date() + timedelta(days=days)
            if day.isoweekday() not in self.weekdays:
                continue
            for start, _ in sorted(self.windows):
                candidate = datetime.combine(day, start, self.tz)
                if candidate > local:
                    return candidate
        raise ValueError("calling hours never open")  # unreachable: __post_init__ guarantees a weekday


@dataclass(frozen=True)
class CampaignSettings:
    """How the campaign schedules: calling hours, retries, the programmes it covers."""

    hours: CallingHours = field(default_factory=CallingHours)
    max_attempts: int = 3
    retry_after: timedelta = timedelta(hours=2)
    programs: tuple[str, ...] = PROGRAMS

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        unknown = set(self.programs) - set(PROGRAMS)
        if unknown:
            raise ValueError(f"unknown programme(s) {sorted(unknown)}; use {', '.join(PROGRAMS)}")


@dataclass
class ScheduledCall:
    """One patient-programme call of the campaign and what happened to it (a row of the shared schedule)."""

    patient_id: str
    program: str
    due: date
    next_attempt: datetime
    attempts: int = 0
    status: str = "pending"  # pending | dialling | done | unreachable | skipped | failed
    result: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    lost_attempts: int = 0
    reason: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.patient_id, self.program)


@dataclass(frozen=True)
class CallResult:
    """What the dialer reports: ``answered`` and, if so, the follow-up dialogue's ``snapshot()``."""

    answered: bool
    snapshot: dict[str, Any] = field(default_factory=dict)


Dialer = Callable[[ScheduledCall], Awaitable[CallResult]]


async def due_patients(records: RecordsBackend, principal: Principal, today: date,
                       programs: tuple[str, ...] = PROGRAMS) -> list[tuple[str, str, date]]:
    """(patient id, programme, due date) for every enrolled patient whose next follow-up is due by ``today``."""
    found = []
    for program in programs:
        patients: set[str] = set()
        for code in Program.load(program).condition_codes:
            for condition in await records.search(principal, "Condition", {"code": code}):
                status = {c.get("code") for c in condition.get("clinicalStatus", {}).get("coding", [])}
                reference = condition.get("subject", {}).get("reference", "")
                if reference.startswith("Patient/") and (not status or "active" in status):
                    patients.add(reference.removeprefix("Patient/"))
        for patient_id in sorted(patients):
            due = await _next_due(records, principal, patient_id, program)
            if due is None or due <= today:
                found.append((patient_id, program, due or today))
    return found


async def _next_due(records: RecordsBackend, principal: Principal, patient_id: str, program: str) -> date | None:
    encounters = await records.search(principal, "Encounter", {"patient": patient_id})
    completed = [e for e in encounters
                 if followup_extension(e, "program") == program and followup_extension(e, "outcome") == "completed"]
    if not completed:
        return None
    last = max(completed, key=lambda e: e.get("period", {}).get("start", ""))
    value = followup_extension(last, "next-due")
    return date.fromisoformat(value) if value else None


def team_key(principal: Principal) -> str:
    """The care team a schedule belongs to: hospital, role and department of its principal."""
    return f"{principal.hospital_id}|{principal.role}|{principal.department_id or ''}"


class Campaign:
    """The schedule of one care team (see the module docstring), kept in the store's shared tables.

    Any worker may build a ``Campaign`` for the same team: they read and write the same rows.
    ``calls`` maps (patient, programme) to the latest visit and keeps handing out the same
    objects, so a call read before an attempt shows the attempt's outcome after it.

    Args:
        records: The records backend.
        principal: The care team (department or doctor role).
        settings: Calling hours, retries, programmes.
        schedule: Where the schedule lives (default: a ``CampaignSchedule`` on ``records``, the embedded store).
    """

    def __init__(self, records: RecordsBackend, principal: Principal, settings: CampaignSettings | None = None,
                 *, schedule: Any = None) -> None:
        if principal.role == "service":
            raise ValueError("a campaign reads follow-up history: use the care team's department or doctor principal, "
                             "not the voice agent's service identity")
        if schedule is None:
            from backends import CampaignSchedule

            if not hasattr(records, "engine"):
                raise ValueError(f"{type(records).__name__} keeps no campaign schedule; pass "
                                 "schedule=CampaignSchedule(<an open EmbeddedStore>)")
            schedule = CampaignSchedule(records)  # type: ignore[arg-type]  # an EmbeddedStore
        self.records, self.principal, self.schedule = records, principal, schedule
        self.team = team_key(principal)
        self.settings = settings or CampaignSettings()
        self._known: dict[str, ScheduledCall] = {}

    def _call(self, row: Any) -> ScheduledCall:
        """The one ``ScheduledCall`` object of a stored visit, brought up to date."""
        call = self._known.get(row.id)
        if call is None:
            call = self._known[row.id] = ScheduledCall(row.patient_id, row.program, row.due, row.next_attempt)
        call.id, call.due, call.next_attempt, call.attempts = row.id, row.due, row.next_attempt, row.attempts
        call.status, call.result, call.lost_attempts, call.reason = row.status, row.result, row.lost_attempts, row.reason
        return call

    @property
    def calls(self) -> dict[tuple[str, str], ScheduledCall]:
        """The latest visit of every (patient, programme) of this team's schedule."""
        return {call.key: call for call in map(self._call, self.schedule.visits(self.team))}

    async def refresh(self, now: datetime) -> list[ScheduledCall]:
        """Add newly due patients to the schedule (first attempt at the next calling time); returns the new calls."""
        today = now.astimezone(self.settings.hours.tz).date()
        due = await due_patients(self.records, self.principal, today, self.settings.programs)
        added = await asyncio.to_thread(self.schedule.schedule_visits, self.principal.hospital_id, self.team, due,
                                        self.settings.hours.next_open(now))
        return [self._call(row) for row in added]

    def ready(self, now: datetime) -> list[ScheduledCall]:
        """Pending calls whose attempt time has come, if calling hours are open now (oldest due first)."""
        if not self.settings.hours.is_open(now):
            return []
        ready = [self._call(row) for row in self.schedule.visits(self.team, ready_at=now)]
        return sorted(ready, key=lambda c: (c.due, c.next_attempt))

    def record(self, call: ScheduledCall, result: CallResult, now: datetime) -> None:
        """An attempt's outcome: answered → done with the dialogue's result; else retry or unreachable."""
        call.attempts += 1
        call.status = "pending"
        if result.answered:
            call.status = "done"
            call.result = {k: result.snapshot.get(k) for k in
                           ("outcome", "alert", "dangers", "red_flags", "visit_class", "action", "next_due",
                            "values", "adherence", "handoff")}
            if call.result.get("outcome") == "incomplete" and call.attempts < self.settings.max_attempts:
                call.status = "pending"  # refused or silent: try another day within the attempts allowed
                call.next_attempt = self.settings.hours.next_open(now + timedelta(days=1))
        elif call.attempts >= self.settings.max_attempts:
            call.status = "unreachable"
        else:
            call.next_attempt = self.settings.hours.next_open(now + self.settings.retry_after)
        self._save(call)

    def _save(self, call: ScheduledCall) -> None:
        from backends import VisitRow

        self.schedule.save_visit(VisitRow(
            call.id, self.principal.hospital_id, self.team, call.patient_id, call.program, call.due,
            call.next_attempt, call.attempts, call.lost_attempts, call.status, call.reason, call.result,
        ))

    async def run_due(self, now: datetime, dial: Dialer) -> int:
        """Place every ready call through ``dial`` one after another, in this process; returns how many.

        (The workers of a cluster dial through the queue instead: ``agent.call_queue``.)
        """
        calls = self.ready(now)
        for call in calls:
            self.record(call, await dial(call), now)
        return len(calls)

    def summary(self) -> list[dict[str, Any]]:
        """One row per scheduled call for the care team: alerts first, then by urgency of the action."""
        rows = []
        for call in self.calls.values():
            result = call.result or {}
            rows.append({
                "patient_id": call.patient_id, "program": call.program, "status": call.status,
                "attempts": call.attempts, "due": call.due.isoformat(), "next_attempt": call.next_attempt.isoformat(),
                "alert": bool(result.get("alert")),
                "alerts": "、".join([*(result.get("dangers") or []), *(result.get("red_flags") or [])]),
                "outcome": result.get("outcome") or "", "visit_class": result.get("visit_class") or "",
                "action": result.get("action") or "", "next_due": result.get("next_due") or "",
                "values": " ".join(f"{k}={v:g}" for k, v in (result.get("values") or {}).items()),
                "adherence": result.get("adherence") or "", "handoff": result.get("handoff") or "",
            })

        def urgency(row: dict[str, Any]) -> tuple[int, int, int, str]:
            action = ACTION_ORDER.index(row["action"]) if row["action"] in ACTION_ORDER else len(ACTION_ORDER)
            unreachable = 0 if row["status"] == "unreachable" else 1
            return (0 if row["alert"] else 1, action, unreachable, row["due"])

        return sorted(rows, key=urgency)

    def summary_csv(self) -> str:
        """:meth:`summary` as CSV (UTF-8 with BOM so spreadsheet programs show the Mandarin)."""
        rows = self.summary()
        columns = ["patient_id", "program", "status", "alert", "alerts", "action", "visit_class", "outcome",
                   "values", "adherence", "next_due", "attempts", "due", "next_attempt", "handoff"]
        buffer = io.StringIO()
        buffer.write("\ufeff")
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()
