"""The campaign schedule in the database (SQLite and PostgreSQL): a visit is scheduled once, a dial is
claimed by one worker only, a worker that died mid-call leaves a lost attempt that is retried once,
and the rate counters and trunk slots hold across connections (what separate workers use)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

from backends.embedded.schedule import CampaignSchedule

MONDAY_10 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
TEAM = "demo-hospital|department|dept-cardiology"


def _schedule(store) -> tuple[CampaignSchedule, str]:
    schedule = CampaignSchedule(store)
    [visit] = schedule.schedule_visits("demo-hospital", TEAM, [("p1", "hypertension", date(2026, 11, 20))], MONDAY_10)
    return schedule, visit.id


def test_a_due_visit_is_scheduled_once(store) -> None:
    schedule, _ = _schedule(store)
    again = CampaignSchedule(store).schedule_visits(
        "demo-hospital", TEAM, [("p1", "hypertension", date(2026, 11, 20)), ("p1", "hypertension", date(2026, 11, 21))],
        MONDAY_10,
    )
    assert again == []  # the same due visit, and a later one while the first is still pending
    assert [v.status for v in schedule.visits(TEAM)] == ["pending"]
    assert [v.patient_id for v in schedule.visits(TEAM, ready_at=MONDAY_10)] == ["p1"]
    assert schedule.visits(TEAM, ready_at=MONDAY_10 - timedelta(minutes=1)) == []


def test_one_claim_wins_and_a_dead_workers_attempt_is_retried_once(store) -> None:
    schedule, visit_id = _schedule(store)
    claims = []

    def claim(worker: str) -> None:
        claims.append(CampaignSchedule(store).claim_dial(visit_id, worker=worker, transport="ws", trunk="t",
                                                         now=MONDAY_10))

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The other three found the visit 'dialling': each such claim stands for a retry of a job whose
    # worker died, so the first turns the attempt into 'lost' and dials again, and the second gives up.
    won = [c for c in claims if c.attempt is not None]
    assert [c.attempt for c in won] == [1, 2] and [c.lost for c in won] == [False, True]
    assert sorted(c.reason or "" for c in claims if c.attempt is None) == ["failed", "lost_twice"]
    assert [(a["number"], a["status"]) for a in schedule.attempts(visit_id)] == [(1, "lost"), (2, "lost")]
    assert schedule.visit(visit_id).status == "failed" and schedule.visit(visit_id).reason == "lost_twice"


def test_an_answered_visit_is_never_claimed_again(store) -> None:
    schedule, visit_id = _schedule(store)
    first = schedule.claim_dial(visit_id, worker="w1", transport="ws", trunk="t", now=MONDAY_10)
    assert first.attempt == 1
    visit = schedule.visit(visit_id)
    visit.status, visit.attempts, visit.result = "done", 1, {"outcome": "completed", "values": {"sbp": 128.0}}
    schedule.save_visit(visit)
    schedule.finish_dial(visit_id, 1, "answered", None, MONDAY_10)
    again = schedule.claim_dial(visit_id, worker="w2", transport="ws", trunk="t", now=MONDAY_10)
    assert again.attempt is None and again.reason == "done"
    assert schedule.visit(visit_id).result == {"outcome": "completed", "values": {"sbp": 128.0}}
    assert [a["status"] for a in schedule.attempts(visit_id)] == ["answered"]


def test_rate_counters_and_trunk_slots_hold_across_connections(store) -> None:
    schedule = CampaignSchedule(store)
    other = CampaignSchedule(store)  # another worker's view of the same database
    hits = [s.count_hit("trunk:t:per-minute", timedelta(minutes=1), 3, MONDAY_10) for s in (schedule, other) * 2]
    assert hits == [True, True, True, False]
    assert schedule.count_hit("trunk:t:per-minute", timedelta(minutes=1), 3, MONDAY_10 + timedelta(minutes=1))
    with schedule.trunk_slot("t", 1) as first:
        assert first
        gate = other if store.engine.dialect.name == "postgresql" else schedule
        with gate.trunk_slot("t", 1) as second:
            assert not second  # the trunk's one slot is held by the first worker
    with other.trunk_slot("t", 1) as freed:
        assert freed
