"""The follow-up campaign's schedule half of the embedded store: due visits, dial attempts, rate counters.

Every worker reads and writes the same rows, so the schedule survives any worker. One row per care
team, patient, programme and due date (a unique key): a due visit cannot be scheduled twice. A dial
is claimed by a conditional transaction (the row locked on PostgreSQL, the write lock on SQLite)
that marks the attempt ``dialling`` before the phone rings; a worker that dies mid-call leaves that
mark, and the next claim turns it into a ``lost`` attempt and decides by policy whether to dial again.
The campaign's results (values, alerts) are clinical: sealed in ``result_blob`` like every other
personal field.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from backends.embedded.core import StoreCore, as_utc, new_id, now_utc
from backends.embedded.schema import metadata

__all__ = ["CampaignSchedule", "Claim", "VisitRow"]

# The tables (migration 0002) share the store's metadata.

campaign_calls = sa.Table(
    "campaign_calls",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("hospital_id", sa.String(64), nullable=False),
    sa.Column("team", sa.String(160), nullable=False),
    sa.Column("patient_id", sa.String(64), nullable=False),
    sa.Column("program", sa.String(32), nullable=False),
    sa.Column("due", sa.Date, nullable=False),
    sa.Column("next_attempt", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("lost_attempts", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(64), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=True),
    sa.Column("result_blob", sa.LargeBinary, nullable=True),
    sa.UniqueConstraint("team", "patient_id", "program", "due", name="uq_campaign_calls_visit"),
    sa.Index("ix_campaign_calls_ready", "team", "status", "next_attempt"),
)

campaign_attempts = sa.Table(
    "campaign_attempts",
    metadata,
    sa.Column("call_id", sa.String(64), sa.ForeignKey("campaign_calls.id"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("worker", sa.String(128), nullable=False),
    sa.Column("transport", sa.String(16), nullable=False),
    sa.Column("trunk", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(64), nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
)

rate_counters = sa.Table(
    "rate_counters",
    metadata,
    sa.Column("key", sa.String(160), primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
)

ACTIVE_STATUSES = ("pending", "dialling")
"""A visit in one of these states is still the campaign's to call (no new row for the same patient)."""


@dataclass
class VisitRow:
    """One scheduled visit as stored (``result`` decrypted)."""

    id: str
    hospital_id: str
    team: str
    patient_id: str
    program: str
    due: date
    next_attempt: datetime
    attempts: int
    lost_attempts: int
    status: str
    reason: str | None
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """What claiming a visit for a dial decided.

    Parameters:
        visit: The visit after the claim.
        attempt: The attempt number now ``dialling``; None when nothing may be dialled.
        reason: Why not (``done``, ``not_due_yet``, ``lost_twice``...), None when an attempt was made.
        lost: Whether an earlier attempt was found ``dialling`` (its worker died) and marked ``lost``.
    """

    visit: VisitRow
    attempt: int | None
    reason: str | None
    lost: bool = False


class CampaignSchedule:
    """The campaign schedule on an embedded store's database and codec (blocking; run on a thread).

    Args:
        store: The open store (``backends.embedded.open_store``): its engine, transactions and codec.
    """

    def __init__(self, store: StoreCore) -> None:
        self._store = store
        self._trunk_gates: dict[str, threading.Semaphore] = {}

    @property
    def engine(self) -> sa.Engine:
        return self._store.engine

    def _transaction(self) -> AbstractContextManager[sa.Connection]:
        return self._store._transaction()

    @staticmethod
    def _visit_binding(visit_id: str, hospital_id: str) -> bytes:
        return f"campaign_calls|{visit_id}|{hospital_id}".encode()

    def _visit(self, row: Any) -> VisitRow:
        result: dict[str, Any] = {}
        if row.result_blob is not None:
            result = json.loads(
                self._store.codec.open(row.key_id, row.result_blob, self._visit_binding(row.id, row.hospital_id))
            )
        return VisitRow(
            row.id, row.hospital_id, row.team, row.patient_id, row.program, row.due,
            as_utc(row.next_attempt), row.attempts, row.lost_attempts, row.status, row.reason, result,
        )

    def schedule_visits(
        self, hospital_id: str, team: str, due: list[tuple[str, str, date]], first_attempt: datetime
    ) -> list[VisitRow]:
        """Add each (patient, programme, due date) the team has no visit in progress or as recent for.

        Returns the rows added (concurrent callers add each visit once: the unique key decides).
        """
        added = []
        with self._transaction() as conn:
            for patient_id, program, due_date in due:
                latest = conn.execute(
                    sa.select(campaign_calls.c.status, campaign_calls.c.due)
                    .where(campaign_calls.c.team == team, campaign_calls.c.patient_id == patient_id,
                           campaign_calls.c.program == program)
                    .order_by(campaign_calls.c.due.desc()).limit(1)
                ).first()
                if latest is not None and (latest.status in ACTIVE_STATUSES or latest.due >= due_date):
                    continue
                values: dict[str, Any] = {
                    "id": new_id(), "hospital_id": hospital_id, "team": team, "patient_id": patient_id,
                    "program": program, "due": due_date, "next_attempt": first_attempt.astimezone(UTC), "attempts": 0,
                    "lost_attempts": 0, "status": "pending", "reason": None, "updated_at": now_utc(),
                }
                dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
                inserted = conn.execute(
                    dialect_insert(campaign_calls).values(**values).on_conflict_do_nothing()
                ).rowcount
                if inserted:
                    added.append(VisitRow(**{k: v for k, v in values.items() if k != "updated_at"}))
        return added

    def visits(self, team: str, *, ready_at: datetime | None = None) -> list[VisitRow]:
        """The team's visits (oldest due first); with ``ready_at``, only pending ones whose time has come."""
        query = sa.select(campaign_calls).where(campaign_calls.c.team == team)
        if ready_at is not None:
            query = query.where(campaign_calls.c.status == "pending", campaign_calls.c.next_attempt <= ready_at.astimezone(UTC))
        with self._transaction() as conn:
            rows = conn.execute(query.order_by(campaign_calls.c.due, campaign_calls.c.next_attempt)).all()
            return [self._visit(row) for row in rows]

    def visit(self, visit_id: str) -> VisitRow:
        with self._transaction() as conn:
            row = conn.execute(sa.select(campaign_calls).where(campaign_calls.c.id == visit_id)).first()
            if row is None:
                raise KeyError(f"no campaign visit {visit_id!r}")
            return self._visit(row)

    def save_visit(self, visit: VisitRow) -> None:
        """Write the visit's state and result back (after an attempt's outcome)."""
        key_id, blob = None, None
        if visit.result:
            key_id, blob = self._store.codec.seal(
                json.dumps(visit.result, ensure_ascii=False).encode(), self._visit_binding(visit.id, visit.hospital_id)
            )
        with self._transaction() as conn:
            conn.execute(
                campaign_calls.update().where(campaign_calls.c.id == visit.id).values(
                    next_attempt=visit.next_attempt.astimezone(UTC), attempts=visit.attempts, lost_attempts=visit.lost_attempts,
                    status=visit.status, reason=visit.reason, updated_at=now_utc(), key_id=key_id, result_blob=blob,
                )
            )

    # -- dialling --------------------------------------------------------------------------

    def claim_dial(
        self, visit_id: str, *, worker: str, transport: str, trunk: str, now: datetime, lost_retries: int = 1
    ) -> Claim:
        """Mark the next attempt of ``visit_id`` as ``dialling`` by ``worker``, if it may be dialled now.

        A visit already ``dialling`` was left by a worker that died mid-call: that attempt becomes
        ``lost``, and the visit is dialled again only while it has lost at most ``lost_retries``.
        """
        with self._transaction() as conn:
            query = sa.select(campaign_calls).where(campaign_calls.c.id == visit_id)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is None:
                raise KeyError(f"no campaign visit {visit_id!r}")
            visit = self._visit(row)
            lost = False
            if visit.status == "dialling":
                lost = True
                conn.execute(
                    campaign_attempts.update()
                    .where(campaign_attempts.c.call_id == visit_id, campaign_attempts.c.status == "dialling")
                    .values(status="lost", reason="worker_died", ended_at=now.astimezone(UTC))
                )
                visit.lost_attempts += 1
                visit.status = "pending"
                if visit.lost_attempts > lost_retries:
                    visit.status, visit.reason = "failed", "lost_twice"
                    self._write_state(conn, visit)
                    return Claim(visit, None, "lost_twice", lost)
            if visit.status != "pending":
                return Claim(visit, None, visit.status, lost)
            if visit.next_attempt > now.astimezone(UTC):
                self._write_state(conn, visit)
                return Claim(visit, None, "not_due_yet", lost)
            number = visit.attempts + visit.lost_attempts + 1
            conn.execute(campaign_attempts.insert().values(
                call_id=visit_id, number=number, worker=worker, transport=transport, trunk=trunk,
                status="dialling", reason=None, started_at=now.astimezone(UTC), ended_at=None,
            ))
            visit.status = "dialling"
            self._write_state(conn, visit)
            return Claim(visit, number, None, lost)

    def finish_dial(self, visit_id: str, attempt: int, status: str, reason: str | None, now: datetime) -> None:
        """Close an attempt (``answered``, ``no_answer``, ``busy``, ``failed`` or ``skipped``)."""
        with self._transaction() as conn:
            conn.execute(
                campaign_attempts.update()
                .where(campaign_attempts.c.call_id == visit_id, campaign_attempts.c.number == attempt)
                .values(status=status, reason=reason, ended_at=now.astimezone(UTC))
            )

    def skip_visit(self, visit_id: str, reason: str) -> None:
        """Never dial this visit: the patient is gone or declined calls (``reason`` says which)."""
        with self._transaction() as conn:
            conn.execute(
                campaign_calls.update().where(campaign_calls.c.id == visit_id)
                .values(status="skipped", reason=reason, updated_at=now_utc())
            )

    def attempts(self, visit_id: str | None = None) -> list[dict[str, Any]]:
        """Dial attempts (of one visit, or all), in order: what the benchmark and the care team audit."""
        query = sa.select(campaign_attempts).order_by(campaign_attempts.c.call_id, campaign_attempts.c.number)
        if visit_id is not None:
            query = query.where(campaign_attempts.c.call_id == visit_id)
        with self._transaction() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    @staticmethod
    def _write_state(conn: sa.Connection, visit: VisitRow) -> None:
        conn.execute(
            campaign_calls.update().where(campaign_calls.c.id == visit.id).values(
                status=visit.status, reason=visit.reason, lost_attempts=visit.lost_attempts, updated_at=now_utc()
            )
        )

    # -- limits shared by every worker ------------------------------------------------------

    def count_hit(self, key: str, window: timedelta, limit: int, now: datetime) -> bool:
        """Count one event under ``key`` in the current fixed window; False when it exceeds ``limit``."""
        seconds = int(window.total_seconds())
        start = datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=UTC)
        with self._transaction() as conn:
            dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            statement = (
                dialect_insert(rate_counters).values(key=key, window_start=start, count=1)
                .on_conflict_do_update(index_elements=["key", "window_start"], set_={"count": rate_counters.c.count + 1})
                .returning(rate_counters.c.count)
            )
            count: int = conn.execute(statement).scalar_one()
        return count <= limit

    @contextmanager
    def trunk_slot(self, trunk: str, limit: int) -> Iterator[bool]:
        """Hold one of ``limit`` call slots of ``trunk`` across every worker; yields False when all are taken.

        On PostgreSQL a slot is a session advisory lock on a connection held for the call: a worker
        that dies drops its connection and the server frees its slots at once. On SQLite (one
        machine, one process) a semaphore per trunk does the same job.
        """
        if self.engine.dialect.name != "postgresql":
            gate = self._trunk_gates.setdefault(trunk, threading.Semaphore(limit))
            taken = gate.acquire(blocking=False)
            try:
                yield taken
            finally:
                if taken:
                    gate.release()
            return
        key = zlib.crc32(f"medvoice-trunk|{trunk}".encode()) & 0x7FFFFFFF
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            held = None
            for slot in range(limit):
                if conn.execute(sa.text("SELECT pg_try_advisory_lock(:k, :s)"), {"k": key, "s": slot}).scalar():
                    held = slot
                    break
            try:
                yield held is not None
            finally:
                if held is not None:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k, :s)"), {"k": key, "s": held})
