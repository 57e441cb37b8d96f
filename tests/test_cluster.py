"""A real cluster on this machine: PostgreSQL, two workers (real models, ``medvoice serve``) and HAProxy,
as ``scripts/cluster.sh`` runs them. A short follow-up campaign is dialled by both workers through the
queue to scripted patient phones; one worker is SIGKILLed mid-call. The other keeps taking calls
through HAProxy, the killed call is redialled once (its attempt marked lost), no visit is dialled
twice otherwise or skipped, withdrawn consent is never dialled, and ``medvoice audit verify`` passes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path

import pytest
import sqlalchemy as sa
import websockets

from agent.call_queue import CONSENT_WITHDRAWN, apply_queue_schema, build_queue_app, enqueue_ready
from agent.campaign import CallingHours, Campaign, CampaignSettings
from backends.embedded import CampaignSchedule, open_store
from backends.interfaces import Principal
from deploy.cluster import LocalCluster
from evals.cluster.phones import Phones, PhoneServer

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs Debian's haproxy")]

CARDIO = Principal("nurse-cardio", "department", "demo-hospital", department_id="dept-cardiology")
ALWAYS_OPEN = CampaignSettings(hours=CallingHours(windows=((clock_time(0, 0), clock_time(23, 59)),), weekdays=frozenset(range(1, 8))))
CLUSTER_ENV = {
    "MEDVOICE_CAMPAIGN_HOURS": "00:00-23:59", "MEDVOICE_CAMPAIGN_WEEKDAYS": "1234567",
    # three call slots a worker, two of them for the campaign: inbound calls always find room somewhere
    "MEDVOICE_MAX_CALLS": "3", "MEDVOICE_OUTBOUND_CALLS": "2", "MEDVOICE_STALLED_WORKER_S": "3",
    "MEDVOICE_SAFETY_DETECTOR": "false",
}


def _free_base() -> int:
    for _ in range(50):
        base = random.randrange(20000, 60000, 10)
        try:
            for port in range(base, base + 3):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no three free consecutive ports")


@pytest.fixture
def cluster(tmp_path: Path):
    from backends.embedded.local_postgres import PostgresUnavailable, server_url

    try:
        server_url()
    except PostgresUnavailable as error:
        pytest.skip(f"POSTGRESQL COULD NOT START: {error}")
    local = LocalCluster(tmp_path / "cluster", workers=2, port=_free_base(),
                         database=f"medvoice_cluster_{uuid.uuid4().hex[:10]}", env=CLUSTER_ENV)
    try:
        local.up(timeout_s=240)
        yield local
    finally:
        local.down()
        engine = sa.create_engine(sa.make_url(server_url()).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{local.database}" WITH (FORCE)')
        engine.dispose()


async def _until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def _ws_call_answered(url: str) -> bool:
    """A new call through HAProxy is taken (the worker's ready message), then hung up."""
    try:
        async with websockets.connect(f"{url.replace('http', 'ws')}/ws/call?flow=triage", open_timeout=3) as ws:
            await ws.send(json.dumps({"type": "start", "sample_rate": 16000, "encoding": "pcm_s16le", "channels": 1}))
            ready = json.loads(await asyncio.wait_for(ws.recv(), 3))
            await ws.send(json.dumps({"type": "hangup"}))
            return bool(ready.get("type") == "ready")
    except (OSError, TimeoutError, websockets.WebSocketException):
        return False


async def test_a_campaign_survives_a_worker_killed_mid_call(cluster: LocalCluster, speak) -> None:
    url = cluster.database_url()
    store = open_store(url, cluster.key_file, seed=False)
    phones = Phones([speak("现在没时间")])  # a short call: the patient is busy, the agent says goodbye
    try:
        with PhoneServer(phones) as server:
            patients = []
            for i in range(4):
                patient = await store.create(CARDIO, {"resourceType": "Patient", "name": [{"text": f"集群测试{i}"}],
                                                      "telecom": [{"system": "url", "value": f"{server.url}/ring/p{i}"}]})
                await store.create(CARDIO, {
                    "resourceType": "Condition", "subject": {"reference": f"Patient/{patient['id']}"},
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]}})
                patients.append(patient["id"])
            await store.create(CARDIO, {
                "resourceType": "Flag", "status": "active", "subject": {"reference": f"Patient/{patients[3]}"},
                "code": {"coding": [{"system": CONSENT_WITHDRAWN[0], "code": CONSENT_WITHDRAWN[1]}]}})
            campaign = Campaign(store, CARDIO, ALWAYS_OPEN)
            queue = build_queue_app(url)
            async with queue.open_async():
                await apply_queue_schema(queue, url)
                assert await enqueue_ready(queue, campaign, datetime.now(UTC)) == 4
            schedule = CampaignSchedule(store)

            def dialling_on_w1() -> list[str]:
                return [a["call_id"] for a in schedule.attempts() if a["status"] == "dialling" and a["worker"] == "w1"]

            # Kill w1 while it is in a call (its phone has answered), not between calls.
            await _until(lambda: any(r.outcome == "ringing" for r in phones.rings) and dialling_on_w1(), 120,
                         "w1 to be in a call")
            killed_visits = set(dialling_on_w1())
            cluster.kill("w1")
            killed_at = time.monotonic()
            while not await _ws_call_answered(cluster.url):
                assert time.monotonic() - killed_at < 5, "no new call taken within 5 s of the kill"
                await asyncio.sleep(0.2)
            failover_s = time.monotonic() - killed_at

            def settled() -> bool:
                visits = schedule.visits(campaign.team)
                return all(v.status not in ("dialling",) and (v.attempts or v.status in ("skipped", "failed"))
                           for v in visits)

            await _until(settled, 150, "every visit to be dialled or skipped")
            visits = {v.patient_id: v for v in schedule.visits(campaign.team)}
            attempts = schedule.attempts()
    finally:
        store.close()
    assert failover_s < 5
    assert (visits[patients[3]].status, visits[patients[3]].reason) == ("skipped", "consent_withdrawn")
    assert not any(r.phone == "p3" for r in phones.rings)  # never dialled
    for patient in patients[:3]:
        visit = visits[patient]
        mine = [a for a in attempts if a["call_id"] == visit.id]
        answered = [a for a in mine if a["status"] == "answered"]
        assert len(answered) == 1, (visit, mine)  # dialled to an answer exactly once
        lost = [a for a in mine if a["status"] == "lost"]
        assert len(lost) == (1 if visit.id in killed_visits else 0)
        assert all(a["worker"] == "w2" for a in answered if visit.id in killed_visits)
    assert {a["worker"] for a in attempts} == {"w1", "w2"}
    verify = subprocess.run([sys.executable, "-m", "agent.cli", "audit", "verify"], capture_output=True, text=True,
                            env={**os.environ, "MEDVOICE_DATABASE_URL": url, "MEDVOICE_KEY_FILE": str(cluster.key_file)},
                            timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr

