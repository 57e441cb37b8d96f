"""Consultation on SQLite and PostgreSQL: seed data, slots, booking under concurrency, cancellation,
and the hand-off queue."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from backends.crypto import KeyRing
from backends.embedded import EmbeddedStore
from backends.embedded.schema import resources, slots
from backends.embedded.seed import Session, load_seed, slot_times
from backends.interfaces import HandoffRequest, NotFoundError, Principal, SlotUnavailableError
from evals.records.resources import patient

HOSPITAL = "demo-hospital"
SERVICE = Principal("voice-agent", "service", HOSPITAL)
DESK = Principal("nurse-wu", "department", HOSPITAL, "dept-cardiology")
REPO = Path(__file__).resolve().parents[1]
REQUIRED_DEPARTMENTS = [
    "急诊科",
    "心血管内科",
    "神经内科",
    "呼吸内科",
    "消化内科",
    "内分泌科",
    "儿科",
    "妇产科",
    "骨科",
    "普外科",
    "泌尿外科",
    "皮肤科",
    "眼科",
    "耳鼻喉科",
    "口腔科",
    "精神心理科",
    "全科医学科",
    "感染科",
    "肾内科",
]


def test_seed_file_has_every_required_department_with_doctors() -> None:
    seed = load_seed()
    names = [d.name for d in seed.departments]
    assert set(REQUIRED_DEPARTMENTS) <= set(names)
    assert len(names) == len(set(names))
    assert all(d.doctors and all(doc.sessions for doc in d.doctors) for d in seed.departments)


def test_slot_times_follow_the_session_in_china_time() -> None:
    session = Session(
        weekdays=(1,),
        start=datetime.strptime("08:00", "%H:%M").time(),
        end=datetime.strptime("09:15", "%H:%M").time(),
        slot_minutes=30,
    )
    monday, tuesday = date(2026, 11, 23), date(2026, 11, 24)
    pairs = slot_times(session, monday)
    assert [(s.isoformat(), e.isoformat()) for s, e in pairs] == [
        ("2026-11-23T00:00:00+00:00", "2026-11-23T00:30:00+00:00"),
        ("2026-11-23T00:30:00+00:00", "2026-11-23T01:00:00+00:00"),
    ]  # 08:00 and 08:30 CST; 09:00-09:30 would overrun the session
    assert slot_times(session, tuesday) == []


def test_seed_file_override_must_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        load_seed(tmp_path / "nothing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"hospital": {}}', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json is malformed"):
        load_seed(bad)


async def test_departments_and_free_future_slots(store: EmbeddedStore) -> None:
    assert set(REQUIRED_DEPARTMENTS) <= set(await store.departments(HOSPITAL))
    assert await store.departments("no-such-hospital") == []
    found = await store.find_slots(HOSPITAL, "心血管内科", limit=5)
    assert len(found) == 5
    assert all(s.department == "心血管内科" and s.start > datetime.now(UTC) for s in found)
    assert [s.start for s in found] == sorted(s.start for s in found)
    assert (await store.find_slots(HOSPITAL, "dept-cardiology", limit=1))[0] == found[0]
    with pytest.raises(NotFoundError, match="no department '美容科'.*心血管内科"):
        await store.find_slots(HOSPITAL, "美容科")


async def test_parallel_bookings_of_one_slot_yield_exactly_one_appointment(store: EmbeddedStore) -> None:
    callers = [
        await store.create(SERVICE, patient(name=f"患者{i}", phone=f"1380000{i:04d}")) for i in range(16)
    ]
    slot = (await store.find_slots(HOSPITAL, "神经内科", limit=1))[0]
    results = await asyncio.gather(
        *(store.book(SERVICE, slot.slot_id, caller["id"]) for caller in callers), return_exceptions=True
    )
    booked = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, SlotUnavailableError)]
    assert len(booked) == 1 and len(refused) == 15, results
    with store.engine.connect() as conn:
        assert (
            conn.execute(sa.select(slots.c.appointment_id).where(slots.c.id == slot.slot_id)).scalar_one()
            == booked[0]
        )
        appointments = conn.execute(
            sa.select(sa.func.count()).where(resources.c.resource_type == "Appointment")
        ).scalar_one()
    assert appointments == 1
    assert slot.slot_id not in [s.slot_id for s in await store.find_slots(HOSPITAL, "神经内科", limit=50)]


BOOKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from backends.embedded import open_store
    from backends.interfaces import Principal, SlotUnavailableError

    url, key_file, slot_id, patient_id, start_at = sys.argv[1:6]
    store = open_store(url, key_file, seed=False)
    while time.time() < float(start_at):  # all processes fire together
        time.sleep(0.001)
    try:
        print("booked", asyncio.run(store.book(Principal("agent", "service", "demo-hospital"), slot_id, patient_id)))
    except SlotUnavailableError:
        print("taken")
    """
)


async def test_parallel_bookings_from_separate_processes_yield_one_appointment(
    store: EmbeddedStore, database_url: str, tmp_path: Path
) -> None:
    caller = await store.create(SERVICE, patient())
    slot = (await store.find_slots(HOSPITAL, "骨科", limit=1))[0]
    script = tmp_path / "booker.py"
    script.write_text(BOOKER, encoding="utf-8")
    start_at = time.time() + 4.0  # leaves time for every interpreter to start and open the store
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                database_url,
                str(tmp_path / "keys.json"),
                slot.slot_id,
                caller["id"],
                str(start_at),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    lines = [out.strip() for out, _ in outputs]
    assert all(p.returncode == 0 for p in processes), [err[-1500:] for _, err in outputs]
    assert sum(line.startswith("booked") for line in lines) == 1 and lines.count("taken") == 5, lines
    with store.engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).where(resources.c.resource_type == "Appointment")
        ).scalar_one()
    assert count == 1


async def test_parallel_bookings_of_one_patient_into_one_department_all_succeed(store: EmbeddedStore) -> None:
    caller = await store.create(SERVICE, patient())
    offered = await store.find_slots(HOSPITAL, "消化内科", limit=8)
    booked = await asyncio.gather(*(store.book(SERVICE, slot.slot_id, caller["id"]) for slot in offered))
    assert len(set(booked)) == 8


OPENER = textwrap.dedent(
    """
    import sys, time
    from backends.embedded import open_store

    url, key_file, start_at = sys.argv[1:4]
    while time.time() < float(start_at):
        time.sleep(0.001)
    store = open_store(url, key_file, seed_days=2)
    print(len(store._departments_sync("demo-hospital")))
    """
)


def test_workers_starting_together_on_a_fresh_database_migrate_and_seed_once(
    database_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "shared-keys.json"
    KeyRing.generate().save(key_file)
    script = tmp_path / "opener.py"
    script.write_text(OPENER, encoding="utf-8")
    start_at = time.time() + 4.0
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), database_url, str(key_file), str(start_at)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert all(p.returncode == 0 for p in processes), [err[-1500:] for _, err in outputs]
    assert {out.strip() for out, _ in outputs} == {str(len(load_seed().departments))}


async def test_cancellation_frees_the_slot_and_is_idempotent(store: EmbeddedStore) -> None:
    caller = await store.create(SERVICE, patient())
    slot = (await store.find_slots(HOSPITAL, "心血管内科", limit=1))[0]
    appointment_id = await store.book(SERVICE, slot.slot_id, caller["id"])
    appointment = await store.read(DESK, "Appointment", appointment_id)
    assert appointment["status"] == "booked"
    assert appointment["slot"] == [{"reference": f"Slot/{slot.slot_id}"}]
    assert {"reference": f"Patient/{caller['id']}"} in [p["actor"] for p in appointment["participant"]]
    with pytest.raises(SlotUnavailableError, match="already booked"):
        await store.book(SERVICE, slot.slot_id, caller["id"])
    await store.cancel(SERVICE, appointment_id)
    assert (await store.read(DESK, "Appointment", appointment_id))["status"] == "cancelled"
    await store.cancel(SERVICE, appointment_id)  # cancelling twice changes nothing
    assert (await store.read(DESK, "Appointment", appointment_id))["meta"]["versionId"] == "2"
    rebooked = await store.book(SERVICE, slot.slot_id, caller["id"])
    assert rebooked != appointment_id
    with pytest.raises(NotFoundError, match="Appointment/nope"):
        await store.cancel(SERVICE, "nope")
    with pytest.raises(SlotUnavailableError):
        await store.book(SERVICE, "no-such-slot", caller["id"])
    with pytest.raises(NotFoundError, match="Patient/ghost"):
        await store.book(SERVICE, (await store.find_slots(HOSPITAL, "眼科", limit=1))[0].slot_id, "ghost")


async def test_past_slots_cannot_be_booked(store: EmbeddedStore) -> None:
    caller = await store.create(SERVICE, patient())
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with store.engine.begin() as conn:
        conn.execute(
            slots.insert().values(
                id="past-slot",
                hospital_id=HOSPITAL,
                department_id="dept-cardiology",
                doctor_id="doc-cardiology-1",
                start=yesterday,
                end=yesterday + timedelta(minutes=30),
            )
        )
    past = "past-slot"
    with pytest.raises(SlotUnavailableError, match="in the past"):
        await store.book(SERVICE, past, caller["id"])


async def test_hand_off_queue_orders_by_urgency_and_is_encrypted(store: EmbeddedStore) -> None:
    caller = await store.create(SERVICE, patient())
    routine = await store.request_handoff(SERVICE, HandoffRequest("call-1", "followup", "想咨询用药", None))
    urgent = await store.request_handoff(
        SERVICE,
        HandoffRequest(
            "call-2", "triage", "胸痛伴出汗二十分钟", 2, ("chest_pain",), caller["id"], {"onset": "09:10"}
        ),
    )
    queue = await store.handoff_queue(DESK)
    assert [t.ticket_id for t in queue] == [urgent, routine]
    assert queue[0].request.summary == "胸痛伴出汗二十分钟"
    assert queue[0].request.red_flags == ("chest_pain",) and queue[0].request.extra == {"onset": "09:10"}
    with store.engine.connect() as conn:
        blobs = b"".join(bytes(b) for b in conn.exec_driver_sql("SELECT detail_blob FROM handoffs").scalars())
    assert "胸痛".encode() not in blobs


async def test_only_one_claimant_wins_a_hand_off(store: EmbeddedStore) -> None:
    ticket = await store.request_handoff(SERVICE, HandoffRequest("call-3", "triage", "呼吸困难", 1))
    nurses = [Principal(f"nurse-{i}", "department", HOSPITAL, "dept-emergency") for i in range(6)]
    results = await asyncio.gather(*(store.claim_handoff(n, ticket) for n in nurses), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1 and winners[0].status == "claimed"
    assert all(isinstance(r, NotFoundError) for r in results if isinstance(r, Exception))
    assert await store.handoff_queue(DESK) == []
    assert [t.claimed_by for t in await store.handoff_queue(DESK, status="claimed")] == [
        winners[0].claimed_by
    ]
