"""Crash safety: a real writer process is SIGKILLed in the middle of a burst of concurrent writes.

Every record the writer reported as committed must be readable afterwards, and the audit chain
must still verify, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa

from backends.embedded import open_store
from backends.embedded.schema import resources
from backends.interfaces import Principal
from evals.records.resources import blood_pressure, patient

HOSPITAL = "demo-hospital"
SERVICE = Principal("voice-agent", "service", HOSPITAL)
DOCTOR = Principal("dr-li", "doctor", HOSPITAL, "dept-cardiology")
REPO = Path(__file__).resolve().parents[1]
COMMITS_BEFORE_KILL = 120

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from backends.embedded import open_store
    from backends.interfaces import Principal
    from evals.records.resources import blood_pressure

    url, key_file, patient_id = sys.argv[1:4]
    store = open_store(url, key_file, seed=False)
    doctor = Principal("dr-li", "doctor", "demo-hospital", "dept-cardiology")

    async def writer(number: int) -> None:
        reading = 0
        while True:
            reading += 1
            created = await store.create(doctor, blood_pressure(patient_id, 120 + reading % 60, 80))
            # Printed only after the transaction committed: the parent's list of what must survive.
            print(created["id"], flush=True)

    async def main() -> None:
        await asyncio.gather(*(writer(n) for n in range(4)))

    asyncio.run(main())
    """
)


async def test_sigkill_mid_burst_loses_no_committed_record(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    store = open_store(database_url, key_file, seed_days=2)
    person = await store.create(SERVICE, patient())
    slot = (await store.find_slots(HOSPITAL, "心血管内科", limit=1))[0]
    await store.book(SERVICE, slot.slot_id, person["id"])
    store.close()

    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, str(script), database_url, str(key_file), person["id"]],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    committed: list[str] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            committed.append(line.strip())
            if len(committed) >= COMMITS_BEFORE_KILL:
                child.send_signal(signal.SIGKILL)
                break
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
    stderr = child.stderr.read() if child.stderr else ""
    assert len(committed) >= COMMITS_BEFORE_KILL, f"writer stopped early: {stderr[-2000:]}"
    assert child.returncode == -signal.SIGKILL

    reopened = open_store(database_url, key_file, seed=False)
    try:
        for resource_id in committed:
            reading = await reopened.read(DOCTOR, "Observation", resource_id)
            assert reading["subject"] == {"reference": f"Patient/{person['id']}"}
        with reopened.engine.connect() as conn:
            stored = conn.execute(
                sa.select(sa.func.count()).where(resources.c.resource_type == "Observation")
            ).scalar_one()
        assert stored >= len(committed)  # some commits may have landed after the last line was read
        report = await reopened.verify_audit()
        assert report.intact, report.describe()
        assert report.entries >= 2 + len(committed)
        # The store keeps working after the crash.
        after = await reopened.create(DOCTOR, blood_pressure(person["id"]))
        assert (await reopened.read(DOCTOR, "Observation", after["id"]))["id"] == after["id"]
        assert (await reopened.verify_audit()).intact
    finally:
        reopened.close()
