"""Due follow-up calls as jobs on a PostgreSQL task queue (procrastinate), dialled by any worker.

Every due visit of a campaign becomes one job (``enqueue_ready``); each worker runs a procrastinate
worker that takes a job only while it has a free call slot (``SlotGate``), and the job:

1. skips, with a reason and never dialled, a visit whose patient was deleted or deactivated or who
   withdrew consent to follow-up calls (an active ``Flag`` coded ``CONSENT_WITHDRAWN``);
2. waits for calling hours (a new job at the next opening) and for the trunk's limits, which hold
   across workers: calls per minute (a shared counter) and concurrent calls (a PostgreSQL advisory
   lock per slot, freed by the server when a worker dies);
3. claims the attempt ``dialling`` in the schedule before the phone rings, dials through the
   worker's ``Dialler`` and records the outcome (done, retry later, unreachable).

A worker killed mid-call stops its heartbeat; every worker sweeps jobs whose worker has gone quiet
for ``stalled_after_s`` back to the queue. The retried job finds its attempt still ``dialling``,
marks it ``lost`` and dials once more; a second loss ends the visit as ``failed`` for the care
team. The queue library's own retries stay off: the schedule owns the retry policy.

The schedule's rows (``backends.embedded.schedule``) are the truth; a job carries only the visit
id and the care team, so a job that is run twice does no harm.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
import psycopg
import sqlalchemy as sa
from procrastinate import exceptions as queue_errors
from procrastinate.worker import Worker

from agent.campaign import CallResult, Campaign, CampaignSettings
from agent.dialler import Dialler, OutboundCall, OutboundCalls
from backends import CampaignSchedule, NotFoundError, Principal

logger = logging.getLogger("medvoice.call_queue")

QUEUE = "followup-calls"
TASK = "medvoice.dial_visit"
CONSENT_WITHDRAWN = ("https://medvoice.local/fhir/CodeSystem/followup-consent", "calls-withdrawn")
"""An active Flag with this code on a patient: no follow-up calls (the visit is skipped, never dialled)."""
SCHEMA_LOCK_KEY = 0x6D6564715F716565  # advisory lock: one worker applies the queue's schema


@dataclass(frozen=True)
class TrunkLimits:
    """What one trunk (a SIP trunk, or the ring-back service) may carry, across all workers.

    Parameters:
        name: The trunk's name (attempts record it).
        max_calls: Concurrent outbound calls on the trunk.
        calls_per_minute: New outbound calls per minute on the trunk.
    """

    name: str = "ws-ringback"
    max_calls: int = 20
    calls_per_minute: int = 120

    def __post_init__(self) -> None:
        if self.max_calls < 1 or self.calls_per_minute < 1:
            raise ValueError(f"trunk {self.name!r} needs max_calls >= 1 and calls_per_minute >= 1, got "
                             f"{self.max_calls} and {self.calls_per_minute}")


def queue_conninfo(database_url: str) -> str:
    """The libpq URL of a ``postgresql+psycopg://`` SQLAlchemy URL (the queue needs PostgreSQL).

    Raises:
        ValueError: the database is not PostgreSQL.
    """
    url = sa.make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"the call queue needs PostgreSQL (MEDVOICE_DATABASE_URL=postgresql+psycopg://...), "
                         f"not {url.get_backend_name()!r}; SQLite runs one worker: use Campaign.run_due")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def build_queue_app(database_url: str) -> procrastinate.App:
    """The procrastinate app on the database, with the dial task registered."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=queue_conninfo(database_url)))

    @app.task(name=TASK, queue=QUEUE, pass_context=True)
    async def dial_visit(context: procrastinate.JobContext, visit_id: str, team: dict[str, Any]) -> str:
        dialling: OutboundWorker = context.additional_context["outbound"]
        return await dialling.dial_visit(visit_id, Principal(**team))

    return app


async def apply_queue_schema(app: procrastinate.App, database_url: str) -> None:
    """Create the queue's tables once (idempotent; concurrent workers wait on an advisory lock)."""
    async with await psycopg.AsyncConnection.connect(queue_conninfo(database_url)) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        row = await cursor.fetchone()
        if row and row[0]:
            return
        await conn.execute(app.schema_manager.get_schema())


async def defer_visit(app: procrastinate.App, visit_id: str, team: Principal, at: datetime | None = None) -> bool:
    """Queue the dial of one visit (at ``at``); False when a job for it is already waiting."""
    lock = f"visit:{visit_id}"
    try:
        await app.configure_task(TASK, queueing_lock=lock, lock=lock, schedule_at=at).defer_async(
            visit_id=visit_id, team=asdict(team)
        )
    except queue_errors.AlreadyEnqueued:
        return False
    return True


async def enqueue_ready(app: procrastinate.App, campaign: Campaign, now: datetime) -> int:
    """Refresh the campaign from the records and queue every visit ready now; returns how many were queued."""
    await campaign.refresh(now)
    ready = await asyncio.to_thread(campaign.ready, now)
    queued = 0
    for call in ready:
        queued += await defer_visit(app, call.id, campaign.principal)
    return queued


class SlotGate:
    """The procrastinate worker's job semaphore: a job is fetched only while a call slot is free.

    A slot is free while the worker's live calls plus the outbound jobs it holds stay under
    ``capacity`` and its outbound jobs under ``outbound_limit``. A held job reserves its slot
    (``OutboundCalls.reserved``) so inbound calls see it taken until the job ends.
    """

    def __init__(self, calls: OutboundCalls, active: Callable[[], int], capacity: int, outbound_limit: int,
                 *, poll_s: float = 0.2) -> None:
        self.calls, self.active, self.capacity, self.outbound_limit = calls, active, capacity, outbound_limit
        self.poll_s = poll_s
        self.held = 0
        self.closed = False

    def free(self) -> bool:
        occupied = self.active() + self.calls.reserved - self.calls.live
        return not self.closed and self.held < self.outbound_limit and occupied < self.capacity

    async def acquire(self) -> bool:
        while not self.free():
            await asyncio.sleep(self.poll_s)
        self.held += 1
        self.calls.reserved += 1
        return True

    def release(self) -> None:
        self.held -= 1
        self.calls.reserved -= 1


class _GatedWorker(Worker):
    """procrastinate 3.10's worker with its job semaphore replaced by the call-slot gate.

    (Its fetch loop acquires ``_job_semaphore`` before each fetch and releases it when the job
    ends or no job came; the version is pinned and a test checks the gate holds.)
    """

    def __init__(self, gate: SlotGate, **kwargs: Any) -> None:
        self._gate = gate
        super().__init__(**kwargs)

    @property  # type: ignore[override]
    def _job_semaphore(self) -> SlotGate:
        return self._gate

    @_job_semaphore.setter
    def _job_semaphore(self, _value: Any) -> None:
        pass  # the worker resets it to a plain semaphore at start-up; the gate stays


class OutboundWorker:
    """What a worker's dial jobs need: the store, the schedule, the dialler, the limits.

    Args:
        store: The records store (an ``EmbeddedStore`` on PostgreSQL in a cluster).
        dialler: How this worker places calls.
        name: The worker's name, written on its attempts.
        campaign: Calling hours and retries.
        trunk: The trunk's limits.
        clock: Current time (tests).
    """

    def __init__(self, store: Any, dialler: Dialler, name: str, *, campaign: CampaignSettings | None = None,
                 trunk: TrunkLimits | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store, self.dialler, self.name = store, dialler, name
        self.schedule = CampaignSchedule(store)
        self.campaign = campaign or CampaignSettings()
        self.trunk = trunk or TrunkLimits()
        self.clock = clock
        self.queue: procrastinate.App | None = None

    async def _again(self, visit_id: str, team: Principal, at: datetime) -> None:
        if self.queue is not None:
            await defer_visit(self.queue, visit_id, team, at)

    async def unreachable_reason(self, team: Principal, patient_id: str) -> tuple[str | None, tuple[tuple[str, str], ...]]:
        """Why the patient must not be called (None if they may be), and their contacts."""
        try:
            patient = await self.store.read(team, "Patient", patient_id)
        except NotFoundError:
            return "patient_deleted", ()
        if patient.get("active") is False:
            return "patient_inactive", ()
        for flag in await self.store.search(team, "Flag", {"patient": patient_id}):
            codes = {(c.get("system"), c.get("code")) for c in flag.get("code", {}).get("coding", [])}
            if flag.get("status") == "active" and CONSENT_WITHDRAWN in codes:
                return "consent_withdrawn", ()
        contacts = tuple((t.get("system", ""), t.get("value", "")) for t in patient.get("telecom", []))
        return None, contacts

    async def dial_visit(self, visit_id: str, team: Principal) -> str:
        """One job: check, claim, dial, record. Returns what happened (the job's result)."""
        visit = await asyncio.to_thread(self.schedule.visit, visit_id)
        if visit.status not in ("pending", "dialling"):
            return f"not_dialled:{visit.status}"
        reason, contacts = await self.unreachable_reason(team, visit.patient_id)
        if reason is not None:
            await asyncio.to_thread(self.schedule.skip_visit, visit_id, reason)
            logger.info("visit %s skipped: %s", visit_id, reason)
            return f"skipped:{reason}"
        now = self.clock()
        if not self.campaign.hours.is_open(now):
            await self._again(visit_id, team, self.campaign.hours.next_open(now))
            return "outside_hours"
        if not await asyncio.to_thread(self.schedule.count_hit, f"trunk:{self.trunk.name}:per-minute",
                                       timedelta(minutes=1), self.trunk.calls_per_minute, now):
            await self._again(visit_id, team, now + timedelta(seconds=5))
            return "trunk_rate_limited"
        slot = self.schedule.trunk_slot(self.trunk.name, self.trunk.max_calls)
        if not await asyncio.to_thread(slot.__enter__):
            await asyncio.to_thread(slot.__exit__, None, None, None)
            await self._again(visit_id, team, now + timedelta(seconds=2))
            return "trunk_full"
        try:
            return await self._dial(visit_id, team, contacts)
        finally:
            await asyncio.to_thread(slot.__exit__, None, None, None)

    async def _dial(self, visit_id: str, team: Principal, contacts: tuple[tuple[str, str], ...]) -> str:
        claim = await asyncio.to_thread(self.schedule.claim_dial, visit_id, worker=self.name,
                                        transport=self.dialler.transport, trunk=self.trunk.name, now=self.clock())
        if claim.attempt is None:
            return f"not_dialled:{claim.reason}"
        campaign = Campaign(self.store, team, self.campaign, schedule=self.schedule)
        call = campaign._call(claim.visit)
        outcome = await self.dialler.dial(OutboundCall(visit_id, claim.attempt, call.patient_id, call.program, team,
                                                       contacts))
        now = self.clock()
        await asyncio.to_thread(campaign.record, call, CallResult(outcome.answered, outcome.snapshot), now)
        await asyncio.to_thread(self.schedule.finish_dial, visit_id, claim.attempt, outcome.status, outcome.reason,
                                now)
        if call.status == "pending":
            await self._again(visit_id, team, call.next_attempt)
        return f"{outcome.status}:{call.status}"


class CallQueue:
    """A worker's part in the queue: the gated procrastinate worker and the stalled-job sweeper.

    Args:
        database_url: The PostgreSQL the schedule and the queue live in.
        outbound: What the dial jobs need.
        gate: The call-slot gate.
        stalled_after_s: A job whose worker sent no heartbeat for this long goes back to the queue.
    """

    def __init__(self, database_url: str, outbound: OutboundWorker, gate: SlotGate, *,
                 stalled_after_s: float = 6.0) -> None:
        self.app = build_queue_app(database_url)
        self.database_url = database_url
        self.outbound, self.gate, self.stalled_after_s = outbound, gate, stalled_after_s
        outbound.queue = self.app
        self._tasks: list[asyncio.Task[Any]] = []
        self._worker: _GatedWorker | None = None

    async def start(self) -> None:
        await self.app.open_async()
        await apply_queue_schema(self.app, self.database_url)
        self._worker = _GatedWorker(
            self.gate, app=self.app, queues=[QUEUE], name=self.outbound.name, concurrency=self.gate.outbound_limit,
            additional_context={"outbound": self.outbound}, install_signal_handlers=False,
            fetch_job_polling_interval=1.0, update_heartbeat_interval=max(0.5, self.stalled_after_s / 4),
            stalled_worker_timeout=self.stalled_after_s,
        )
        self._tasks = [asyncio.create_task(self._worker.run(), name="call-queue worker"),
                       asyncio.create_task(self._sweep(), name="call-queue sweeper")]

    async def _sweep(self) -> None:
        manager = self.app.job_manager
        while True:
            await asyncio.sleep(self.stalled_after_s / 2)
            try:
                for job in await manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=self.stalled_after_s):
                    try:
                        await manager.retry_job(job)
                        logger.warning("job %s of a silent worker is back on the queue", job.id)
                    except queue_errors.ProcrastinateException:
                        pass  # another worker's sweeper was first
            except Exception as error:  # the database restarting: try again on the next round
                logger.warning("stalled-job sweep failed: %s", type(error).__name__)

    def drain(self) -> None:
        """Take no new job (pre-stop); calls in progress go on."""
        self.gate.closed = True

    async def stop(self, grace_s: float = 5.0) -> None:
        self.gate.closed = True
        if self._worker is not None:
            self._worker.stop()
        sweeper = self._tasks[1:] if self._tasks else []
        for task in sweeper:
            task.cancel()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.app.close_async()


def default_worker_name(port: int) -> str:
    """``host:port:pid``: unique per worker process, readable in the attempts table."""
    return f"{socket.gethostname()}:{port}:{os.getpid()}"


async def start_call_queue(state: Any, settings: Any) -> CallQueue | None:
    """Start this worker's part of the queue when ``settings.queue_worker`` is on (else None).

    Args:
        state: The app's ``state`` (store, sessions, outbound tickets); ``state.call_queue`` is set.
        settings: ``agent.config.Settings``.
    """
    if not settings.queue_worker:
        return None
    from agent.dialler import RingbackDialler

    dialler: Dialler = RingbackDialler(state.outbound, settings.callback_url or f"ws://{settings.host}:{settings.port}")
    if settings.sip_dial_uri:  # patients' phones over the SIP trunk/PBX instead (agent.sip_dialler)
        from agent.sip_dialler import service_dialler

        dialler = service_dialler(state, settings)
    outbound = OutboundWorker(
        state.store, dialler, settings.worker_name or default_worker_name(settings.port),
        campaign=settings.campaign_settings(),
        trunk=TrunkLimits(settings.trunk, settings.trunk_max_calls, settings.trunk_calls_per_minute),
    )
    gate = SlotGate(state.outbound, lambda: state.sessions.active if state.sessions is not None else 0,
                    settings.max_calls, settings.outbound_calls)
    queue = CallQueue(settings.database_url, outbound, gate, stalled_after_s=settings.stalled_worker_s)
    await queue.start()
    state.call_queue = queue
    return queue
