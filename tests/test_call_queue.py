"""Due follow-up calls on the PostgreSQL queue (procrastinate): two workers in this process dial every
due visit once, in parallel, within the trunk's limit; deleted patients and withdrawn consent are
skipped with a reason; a job left by a dead worker is swept back, its attempt marked lost and dialled
once more; a worker with no free call slot takes no job.

The dialler here is a stand-in that only records when it was asked to dial (a real call needs the
models and a patient's phone: the cluster test, tests/test_cluster.py, dials the ring-back way).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.call_queue import (
    CONSENT_WITHDRAWN,
    QUEUE,
    CallQueue,
    OutboundWorker,
    SlotGate,
    TrunkLimits,
    apply_queue_schema,
    build_queue_app,
    enqueue_ready,
)
from agent.campaign import Campaign, CampaignSettings
from agent.dialler import DialOutcome, OutboundCall, OutboundCalls
from backends.embedded.schedule import CampaignSchedule
from backends.interfaces import Principal

pytestmark = pytest.mark.postgres

CARDIO = Principal("nurse-cardio", "department", "demo-hospital", department_id="dept-cardiology")
MONDAY_10 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 China time: calling hours


@dataclass
class RecordingDialler:
    """Stands in for a call: takes ``seconds`` and answers (or not, for the listed patients)."""

    worker: str
    dials: list[tuple[str, str, int, float, float]]
    live: list[int]
    seconds: float = 0.4
    unanswered: set[str] = field(default_factory=set)
    transport: str = "ws"

    async def dial(self, call: OutboundCall) -> DialOutcome:
        start = time.monotonic()
        self.live[0] += 1
        self.live[1] = max(self.live[1], self.live[0])
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.live[0] -= 1
        self.dials.append((self.worker, call.visit_id, call.attempt, start, time.monotonic()))
        if call.patient_id in self.unanswered:
            return DialOutcome("no_answer")
        return DialOutcome("answered", {"outcome": "completed", "alert": False, "values": {"sbp": 128.0}})


@pytest.fixture
def pg_store(tmp_path: Path):
    from backends.embedded import open_store
    from backends.embedded.local_postgres import PostgresUnavailable, server_url, temporary_database

    try:
        base = server_url()
    except PostgresUnavailable as error:
        pytest.skip(f"POSTGRESQL COULD NOT START: {error}")
    with temporary_database(base, prefix="medvoice_queue") as url:
        store = open_store(url, tmp_path / "keys.json", seed_days=1)
        yield store, url
        store.close()


async def _enrol(store, name: str) -> str:
    patient = await store.create(CARDIO, {"resourceType": "Patient", "name": [{"text": name}],
                                          "telecom": [{"system": "url", "value": "http://127.0.0.1:9/ring"}]})
    await store.create(CARDIO, {
        "resourceType": "Condition", "subject": {"reference": f"Patient/{patient['id']}"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
    })
    return str(patient["id"])


def _worker(store, url: str, name: str, dials, live, *, outbound: int = 2, trunk_calls: int = 3,
            **dialler) -> CallQueue:
    calls = OutboundCalls()
    work = OutboundWorker(store, RecordingDialler(name, dials, live, **dialler), name,
                          campaign=CampaignSettings(), trunk=TrunkLimits("t1", trunk_calls, 1000),
                          clock=lambda: MONDAY_10)
    gate = SlotGate(calls, lambda: 0, capacity=4, outbound_limit=outbound, poll_s=0.05)
    return CallQueue(url, work, gate, stalled_after_s=1.0)


async def _until(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_two_workers_dial_every_due_visit_once_within_the_trunk_limit(pg_store) -> None:
    store, url = pg_store
    patients = [await _enrol(store, f"队列测试{i}") for i in range(7)]
    deleted, withdrawn, unanswered = patients[-1], patients[-2], patients[-3]
    await store.create(CARDIO, {
        "resourceType": "Flag", "status": "active", "subject": {"reference": f"Patient/{withdrawn}"},
        "code": {"coding": [{"system": CONSENT_WITHDRAWN[0], "code": CONSENT_WITHDRAWN[1]}]},
    })
    campaign = Campaign(store, CARDIO, CampaignSettings())
    queue_app = build_queue_app(url)
    async with queue_app.open_async():
        await apply_queue_schema(queue_app, url)
        assert await enqueue_ready(queue_app, campaign, MONDAY_10) == 7
        assert await enqueue_ready(queue_app, campaign, MONDAY_10) == 0  # already queued: not twice
    with store.engine.begin() as conn:  # the hospital's system deletes one patient after the jobs were queued
        conn.execute(sa.text("DELETE FROM resource_tokens WHERE resource_id IN "
                             "(SELECT id FROM resources WHERE patient_id = :p OR id = :p)"), {"p": deleted})
        conn.execute(sa.text("DELETE FROM resources WHERE patient_id = :p OR id = :p"), {"p": deleted})
    dials: list = []
    live = [0, 0]
    workers = [_worker(store, url, name, dials, live, unanswered={unanswered}) for name in ("w1", "w2")]
    schedule = CampaignSchedule(store)
    for worker in workers:
        await worker.start()
    try:
        await _until(lambda: all(v.status not in ("pending", "dialling") or v.attempts
                                 for v in schedule.visits(campaign.team)), 30)
    finally:
        for worker in workers:
            await worker.stop()
    visits = {v.patient_id: v for v in schedule.visits(campaign.team)}
    assert (visits[deleted].status, visits[deleted].reason) == ("skipped", "patient_deleted")
    assert (visits[withdrawn].status, visits[withdrawn].reason) == ("skipped", "consent_withdrawn")
    dialled = [visit for _, visit, *_ in dials]
    assert sorted(dialled) == sorted(visits[p].id for p in patients[:5])  # each once, the skipped never
    assert {worker for worker, *_ in dials} == {"w1", "w2"} and 2 <= live[1] <= 3  # parallel, trunk max 3
    assert visits[unanswered].status == "pending" and visits[unanswered].attempts == 1
    assert all(visits[p].status == "done" and visits[p].result["values"] == {"sbp": 128.0} for p in patients[:4])
    attempts = schedule.attempts()
    assert sorted(a["status"] for a in attempts) == ["answered"] * 4 + ["no_answer"]


async def test_a_dead_workers_job_is_swept_back_and_its_attempt_dialled_once_more(pg_store) -> None:
    store, url = pg_store
    patient = await _enrol(store, "队列测试死")
    campaign = Campaign(store, CARDIO, CampaignSettings())
    schedule = CampaignSchedule(store)
    queue_app = build_queue_app(url)
    async with queue_app.open_async():
        await apply_queue_schema(queue_app, url)
        assert await enqueue_ready(queue_app, campaign, MONDAY_10) == 1
        # A worker takes the job, marks the attempt and dies mid-call: no heartbeat ever again.
        dead = await queue_app.job_manager.register_worker()
        job = await queue_app.job_manager.fetch_job([QUEUE], dead)
        assert job is not None
        [visit] = schedule.visits(campaign.team)
        assert schedule.claim_dial(visit.id, worker="dead", transport="ws", trunk="t1", now=MONDAY_10).attempt == 1
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
                                 "WHERE id = :id"), {"id": dead})
    dials: list = []
    survivor = _worker(store, url, "w2", dials, [0, 0])
    await survivor.start()
    try:
        await _until(lambda: schedule.visit(visit.id).status == "done", 20)
    finally:
        await survivor.stop()
    assert [(a["number"], a["worker"], a["status"]) for a in schedule.attempts(visit.id)] == [
        (1, "dead", "lost"), (2, "w2", "answered")]
    assert [(worker, attempt) for worker, _, attempt, *_ in dials] == [("w2", 2)]
    assert schedule.visit(visit.id).lost_attempts == 1 and patient


async def test_a_worker_without_a_free_call_slot_takes_no_job() -> None:
    calls = OutboundCalls()
    busy = [4]
    gate = SlotGate(calls, lambda: busy[0], capacity=4, outbound_limit=2, poll_s=0.02)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(gate.acquire(), 0.2)
    busy[0] = 3
    await asyncio.wait_for(gate.acquire(), 1)
    assert calls.reserved == 1 and not gate.free()  # the reserved slot fills the worker
    gate.release()
    busy[0] = 0
    await gate.acquire()
    await gate.acquire()
    assert not gate.free()  # two outbound jobs: its outbound limit
