"""Crash consistency: the service is SIGKILLed at random moments while clients write, and restarted.

Each round starts the service (``evals.reliability.crash_service``: the production records,
consultation and campaign routes on the real store) on a fresh port, lets concurrent clients write
for a random time (FHIR creates and updates, bookings, hand-offs, follow-up attempts of the
campaign API), SIGKILLs it, restarts it and checks, against what the clients were acknowledged
(a 2xx received):

- every acknowledged write is there: each created Observation reads back with the identifier it
  was sent with, each Patient is at least at its acknowledged version (and at that version holds
  exactly what was acknowledged), each booked Appointment reads, each hand-off is queued, each
  follow-up attempt is counted;
- nothing half-written is visible: every Observation row of the test patients decodes and carries
  an identifier some client sent, every stored resource has the audit entry of its write and every
  successful ``create`` entry has its row;
- ``medvoice audit verify`` (the real command, on the database) exits 0.

The very first start is killed 0.2-2.5 s in (creating the schema, seeding), and one round in ten
kills a restarting process 0-1.5 s after it was started (migration check, seeding, start-up). SQLite and
PostgreSQL (``scripts/postgres.sh``, a database of its own, dropped afterwards) each get ``kills``
rounds (50 each by default: 100 kills in all), at once. ``run(out_dir, quick)`` returns flat metrics and writes ``crash.png``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from backends.crypto import KeyRing
from backends.interfaces import Principal
from backends.tokens import TokenSigner
from evals.records.resources import blood_pressure, patient

REPO = Path(__file__).resolve().parents[2]
HOSPITAL = "demo-hospital"
DEPARTMENT = "dept-cardiology"
DEPARTMENT_NAME = "心血管内科"
MARKER_SYSTEM = "urn:medvoice:crash-harness"
SERVICE = Principal("voice-agent", "service", HOSPITAL)
DOCTOR = Principal("dr-crash", "doctor", HOSPITAL, DEPARTMENT)
TEAM = Principal("nurse-crash", "department", HOSPITAL, DEPARTMENT)
START_TIMEOUT_S = 60.0
EARLY_KILL_SHARE = 0.1


@dataclass
class Ledger:
    """What the clients were acknowledged, and what they sent (acknowledged or not)."""

    observations: dict[str, str] = field(default_factory=dict)  # id -> marker
    sent_markers: set[str] = field(default_factory=set)
    patient_acks: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (version, counter)
    patient_sent: dict[str, int] = field(default_factory=dict)  # id -> highest counter sent
    appointments: list[str] = field(default_factory=list)
    handoffs: list[str] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)  # patient id -> attempts acknowledged
    rows_seen: set[str] = field(default_factory=set)  # Observation rows already checked
    statuses: dict[str, int] = field(default_factory=dict)  # "kind status" -> responses
    acked_updates: int = 0
    acked_attempts: int = 0

    def saw(self, kind: str, status: int) -> None:
        key = f"{kind} {status}"
        self.statuses[key] = self.statuses.get(key, 0) + 1

    def acked(self) -> int:
        return (len(self.observations) + self.acked_updates + len(self.appointments) + len(self.handoffs)
                + self.acked_attempts)


@dataclass
class RoundResult:
    backend: str
    alive_s: float
    acked: int
    lost: dict[str, int]
    half_written: int
    audit_ok: bool
    restart_s: float
    kills: int = 1


@dataclass
class Fixture:
    """The patients the writers use (created once per backend, before the first kill)."""

    writer_patient: str
    update_patients: list[str]
    campaign_patient: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """``evals.reliability.crash_service`` as a child process on a fresh port."""

    def __init__(self, database_url: str, key_file: Path, log: Path) -> None:
        self.env = {**os.environ, "MEDVOICE_DATABASE_URL": database_url, "MEDVOICE_KEY_FILE": str(key_file),
                    "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MEDVOICE_LOG_LEVEL": "WARNING"}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.started_at = 0.0
        self.ready_at = 0.0

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "evals.reliability.crash_service", "--port", str(port)],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        self.started_at = time.monotonic()

    async def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> float:
        """Seconds from start until ``/healthz`` answers."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"service exited with {self.process.returncode}; see {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        self.ready_at = time.monotonic()
                        return self.ready_at - self.started_at
                await asyncio.sleep(0.05)
        raise RuntimeError(f"service did not answer within {timeout_s} s; see {self.log}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class Clients:
    """Bearer headers for the principals the harness acts as."""

    def __init__(self, key_file: Path) -> None:
        signer = TokenSigner(KeyRing.load_or_create(key_file).token_key)
        self.headers = {p.subject: {"Authorization": f"Bearer {signer.issue(p, 24 * 3600.0)}"}
                        for p in (SERVICE, DOCTOR, TEAM)}

    def of(self, principal: Principal) -> dict[str, str]:
        return self.headers[principal.subject]


def _marked(resource: dict[str, Any], marker: str) -> dict[str, Any]:
    return {**resource, "identifier": [{"system": MARKER_SYSTEM, "value": marker}]}


def _marker_of(resource: dict[str, Any]) -> str | None:
    return next((i.get("value") for i in resource.get("identifier", []) if i.get("system") == MARKER_SYSTEM), None)


async def _setup(url: str, auth: Clients, updaters: int) -> Fixture:
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        async def create(principal: Principal, body: dict[str, Any]) -> str:
            response = await http.post(f"/fhir/{body['resourceType']}", json=body, headers=auth.of(principal))
            response.raise_for_status()
            return str(response.json()["id"])

        writer_patient = await create(TEAM, patient("陈平安", "110101195001011234", "13800000001"))
        update_patients = [await create(TEAM, _marked(patient(f"李{i}", f"11010119600101{i:04d}", "13800000002"),
                                                      "0")) for i in range(updaters)]
        campaign_patient = await create(TEAM, patient("王随访", "110101197001011234", "13800000003"))
        await create(TEAM, {
            "resourceType": "Condition", "subject": {"reference": f"Patient/{campaign_patient}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
        })
    return Fixture(writer_patient, update_patients, campaign_patient)


async def _write_loop(stop: asyncio.Event, attempt: Any) -> None:
    """Call ``attempt()`` until ``stop``; a refused or cut connection is simply tried again."""
    while not stop.is_set():
        try:
            await attempt()
        except (httpx.HTTPError, OSError):
            await asyncio.sleep(0.05)


async def _writers(url: str, auth: Clients, fixture: Fixture, ledger: Ledger, stop: asyncio.Event,
                   rng: random.Random, observation_writers: int) -> None:
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=url, timeout=10.0, limits=limits) as http:
        async def observe() -> None:
            marker = f"obs-{rng.getrandbits(64):016x}"
            ledger.sent_markers.add(marker)
            body = _marked(blood_pressure(fixture.writer_patient, rng.randint(90, 200), rng.randint(50, 120)), marker)
            response = await http.post("/fhir/Observation", json=body, headers=auth.of(DOCTOR))
            ledger.saw("observation", response.status_code)
            if response.status_code == 201:
                ledger.observations[response.json()["id"]] = marker

        def updater(patient_id: str) -> Any:
            async def update() -> None:
                counter = ledger.patient_sent.get(patient_id, 0) + 1
                ledger.patient_sent[patient_id] = counter
                body = {**_marked(patient("李更新", "110101196001019999", f"139{counter:08d}"), str(counter)),
                        "id": patient_id}
                response = await http.put(f"/fhir/Patient/{patient_id}", json=body, headers=auth.of(TEAM))
                ledger.saw("update", response.status_code)
                if response.status_code == 200:
                    ledger.patient_acks[patient_id] = (int(response.json()["meta"]["versionId"]), counter)
                    ledger.acked_updates += 1
            return update

        async def book() -> None:
            slots = await http.get("/consultation/slots", params={"department": DEPARTMENT_NAME, "limit": 20},
                                   headers=auth.of(SERVICE))
            if slots.status_code != 200 or not slots.json():
                await asyncio.sleep(0.2)
                return
            slot = rng.choice(slots.json())["slot_id"]
            response = await http.post("/consultation/appointments", headers=auth.of(SERVICE),
                                       json={"slot_id": slot, "patient_id": fixture.writer_patient})
            ledger.saw("booking", response.status_code)
            if response.status_code == 201:
                ledger.appointments.append(response.json()["appointment_id"])

        async def hand_off() -> None:
            response = await http.post("/consultation/handoffs", headers=auth.of(SERVICE), json={
                "call_id": f"call-{rng.getrandbits(32):08x}", "flow": "triage", "summary": "胸痛，需人工",
                "level": rng.randint(1, 4), "red_flags": ["chest_pain"], "patient_id": fixture.writer_patient})
            ledger.saw("handoff", response.status_code)
            if response.status_code == 201:
                ledger.handoffs.append(response.json()["ticket_id"])

        async def follow_up() -> None:
            if fixture.campaign_patient not in ledger.attempts:
                due = await http.get("/campaign/due", headers=auth.of(TEAM))
                if due.status_code != 200:
                    return
            response = await http.post("/campaign/attempts", headers=auth.of(TEAM), json={
                "patient_id": fixture.campaign_patient, "program": "hypertension", "answered": False})
            ledger.saw("attempt", response.status_code)
            if response.status_code == 200:
                ledger.attempts[fixture.campaign_patient] = int(response.json()["attempts"])
                ledger.acked_attempts += 1
            elif response.status_code == 404:  # schedule not loaded in this process yet
                await http.get("/campaign/due", headers=auth.of(TEAM))
            await asyncio.sleep(0.1)

        loops = [observe] * observation_writers + [updater(p) for p in fixture.update_patients] + [
            book, hand_off, follow_up]
        await asyncio.gather(*(_write_loop(stop, work) for work in loops))


async def _check(url: str, auth: Clients, fixture: Fixture, ledger: Ledger, round_ledger: Ledger,
                 database_url: str) -> tuple[dict[str, int], dict[str, int]]:
    """(acknowledged writes missing per kind, half-written things seen) after a restart."""
    lost = {"observation": 0, "patient_update": 0, "appointment": 0, "handoff": 0, "campaign_attempt": 0}
    half = {"wrong_content": 0, "update_mismatch": 0, "undecodable_or_unknown_row": 0,
            "row_without_audit_or_audit_without_row": 0}
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        for resource_id, marker in round_ledger.observations.items():
            response = await http.get(f"/fhir/Observation/{resource_id}", headers=auth.of(DOCTOR))
            if response.status_code != 200:
                lost["observation"] += 1
            elif _marker_of(response.json()) != marker:
                half["wrong_content"] += 1
        for patient_id, (version, counter) in round_ledger.patient_acks.items():
            response = await http.get(f"/fhir/Patient/{patient_id}", headers=auth.of(TEAM))
            if response.status_code != 200:
                lost["patient_update"] += 1
                continue
            stored = response.json()
            stored_version, stored_counter = int(stored["meta"]["versionId"]), int(_marker_of(stored) or 0)
            if stored_version < version or stored_counter < counter:
                lost["patient_update"] += 1
            elif (stored_version == version) != (stored_counter == counter) or stored_counter > ledger.patient_sent[
                    patient_id]:
                half["update_mismatch"] += 1
        for appointment_id in round_ledger.appointments:
            response = await http.get(f"/fhir/Appointment/{appointment_id}", headers=auth.of(SERVICE))
            lost["appointment"] += response.status_code != 200
        # The queue route lists the 200 most urgent tickets only, so the rows are looked up directly.
        queued = await http.get("/consultation/handoffs", headers=auth.of(TEAM))
        queued.raise_for_status()
        tickets = _handoff_ids(database_url)
        lost["handoff"] += sum(1 for t in round_ledger.handoffs if t not in tickets)
        if round_ledger.attempts:
            await http.get("/campaign/due", headers=auth.of(TEAM))
            summary = await http.get("/campaign/summary", headers=auth.of(TEAM))
            summary.raise_for_status()
            counted = {row["patient_id"]: row["attempts"] for row in summary.json() if row["program"] == "hypertension"}
            for patient_id, attempts in round_ledger.attempts.items():
                lost["campaign_attempt"] += max(0, attempts - counted.get(patient_id, 0))
        # Every Observation row of the writer's patient not seen before decodes and is one a client sent.
        for resource_id in sorted(_observation_ids(database_url, fixture.writer_patient) - ledger.rows_seen):
            response = await http.get(f"/fhir/Observation/{resource_id}", headers=auth.of(DOCTOR))
            if response.status_code != 200 or _marker_of(response.json()) not in ledger.sent_markers:
                half["undecodable_or_unknown_row"] += 1
            ledger.rows_seen.add(resource_id)
    half["row_without_audit_or_audit_without_row"] += _unaudited_rows(database_url)
    return lost, half


def _observation_ids(database_url: str, patient_id: str) -> set[str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {str(i) for (i,) in conn.execute(sa.text(
                "SELECT id FROM resources WHERE resource_type = 'Observation' AND patient_id = :p"),
                {"p": patient_id})}
    finally:
        engine.dispose()


def _handoff_ids(database_url: str) -> set[str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {str(i) for (i,) in conn.execute(sa.text("SELECT id FROM handoffs WHERE status = 'queued'"))}
    finally:
        engine.dispose()


def _unaudited_rows(database_url: str) -> int:
    """Rows without the audit entry of their creation, plus successful creations without their row."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            stored = {f"{t}/{i}" for t, i in conn.execute(sa.text("SELECT resource_type, id FROM resources"))}
            stored |= {f"Handoff/{i}" for (i,) in conn.execute(sa.text("SELECT id FROM handoffs"))}
            created = {t for (t,) in conn.execute(sa.text(
                "SELECT target FROM audit_log WHERE action IN ('create', 'book', 'handoff') AND outcome = 'success'"))}
            return len(stored ^ created)
    finally:
        engine.dispose()


def audit_verify(database_url: str, key_file: Path) -> tuple[bool, str]:
    """``medvoice audit verify`` on the database, as an operator runs it."""
    env = {**os.environ, "MEDVOICE_DATABASE_URL": database_url, "MEDVOICE_KEY_FILE": str(key_file),
           "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "agent.cli", "audit", "verify"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    return done.returncode == 0, (done.stdout + done.stderr).strip()[-500:]


async def run_backend(backend: str, database_url: str, workdir: Path, kills: int, seed: int,
                      observation_writers: int = 4, updaters: int = 2) -> list[RoundResult]:
    """``kills`` rounds of write, SIGKILL, restart, check on one database."""
    rng = random.Random(seed)
    key_file = workdir / f"{backend}-keys.json"
    auth = Clients(key_file)
    service = Service(database_url, key_file, workdir / f"{backend}-service.log")
    ledger = Ledger()
    rounds: list[RoundResult] = []
    service.start()
    try:
        # The very first start is killed too, somewhere in creating the schema and seeding.
        await asyncio.sleep(rng.uniform(0.2, 2.5))
        first_alive = -(time.monotonic() - service.started_at)
        service.kill()
        service.start()
        restart_s = await service.wait_ready()
        ok, _ = await asyncio.to_thread(audit_verify, database_url, key_file)
        rounds.append(RoundResult(backend, first_alive, 0, {}, 0, ok, restart_s))
        fixture = await _setup(service.url, auth, updaters)
        for number in range(kills):
            round_ledger = Ledger(sent_markers=ledger.sent_markers, patient_sent=ledger.patient_sent,
                                  rows_seen=ledger.rows_seen)
            stop = asyncio.Event()
            writing = asyncio.create_task(_writers(service.url, auth, fixture, round_ledger, stop, rng,
                                                   observation_writers))
            writers_started = time.monotonic()
            sent = 1
            if number > 0 and rng.random() < EARLY_KILL_SHARE:
                # Killed during start-up (migration, seeding, binding), with the clients knocking.
                service.kill()
                service.start()
                stop.set()
                await writing
                stop = asyncio.Event()
                writing = asyncio.create_task(_writers(service.url, auth, fixture, round_ledger, stop, rng,
                                                       observation_writers))
                await asyncio.sleep(rng.uniform(0.0, 1.5))
                alive_s = -(time.monotonic() - service.started_at)  # negative: before it was ready
                sent = 2
            else:
                await asyncio.sleep(rng.uniform(0.5, 5.0))
                alive_s = time.monotonic() - writers_started
            service.kill()
            stop.set()
            await writing
            service.start()
            restart_s = await service.wait_ready()
            lost, half = await _check(service.url, auth, fixture, ledger, round_ledger, database_url)
            ok, _ = await asyncio.to_thread(audit_verify, database_url, key_file)
            rounds.append(RoundResult(backend, alive_s, round_ledger.acked(), lost, sum(half.values()), ok, restart_s,
                                      sent))
            _merge(ledger, round_ledger)
            print(f"  {backend} kill {number + 1}/{kills}: alive {alive_s:.2f} s, acked {round_ledger.acked()}, "
                  f"lost {sum(lost.values())} {_nonzero(lost)}, half-written {_nonzero(half)}, audit {'ok' if ok else 'BROKEN'}; "
                  f"responses {dict(sorted(round_ledger.statuses.items()))}", flush=True)
        # Everything acknowledged in any round, checked once more at the end.
        final_lost, final_half = await _check(service.url, auth, fixture, ledger, ledger, database_url)
        if sum(final_lost.values()) or sum(final_half.values()):
            print(f"  {backend} final check: lost {_nonzero(final_lost)}, half-written {_nonzero(final_half)}",
                  flush=True)
    finally:
        service.stop()
    return rounds


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def _merge(into: Ledger, part: Ledger) -> None:
    into.observations.update(part.observations)
    into.patient_acks.update(part.patient_acks)
    into.appointments += part.appointments
    into.handoffs += part.handoffs
    for patient_id, attempts in part.attempts.items():
        into.attempts[patient_id] = max(into.attempts.get(patient_id, 0), attempts)


@contextlib.contextmanager
def databases(workdir: Path, backends: tuple[str, ...]) -> Iterator[list[tuple[str, str]]]:
    """(backend, URL) pairs: a SQLite file, and a database of our own on the local PostgreSQL."""
    from backends.embedded.local_postgres import PostgresUnavailable, server_url, temporary_database

    found = []
    with contextlib.ExitStack() as stack:
        for backend in backends:
            if backend == "sqlite":
                found.append(("sqlite", f"sqlite:///{workdir / 'crash.db'}"))
            elif backend == "postgres":
                try:
                    base = server_url()
                except PostgresUnavailable as error:
                    print(f"  PostgreSQL unavailable, skipped: {error}", flush=True)
                    continue
                found.append(("postgres", stack.enter_context(temporary_database(base, "medvoice_crash"))))
            else:
                raise ValueError(f"unknown backend {backend!r}; use sqlite or postgres")
        yield found


def summarise(rounds: list[RoundResult]) -> dict[str, Any]:
    flat: dict[str, Any] = {
        "kills": sum(r.kills for r in rounds),
        "crash_rounds": len(rounds),
        "acked_writes": sum(r.acked for r in rounds),
        "acked_writes_lost": sum(sum(r.lost.values()) for r in rounds),
        "half_written_visible": sum(r.half_written for r in rounds),
        "audit_verify_failures": sum(1 for r in rounds if not r.audit_ok),
    }
    for kind in ("observation", "patient_update", "appointment", "handoff", "campaign_attempt"):
        flat[f"acked_{kind}s_lost"] = sum(r.lost.get(kind, 0) for r in rounds)
    for backend in sorted({r.backend for r in rounds}):
        mine = [r for r in rounds if r.backend == backend]
        flat[f"{backend}_kills"] = sum(r.kills for r in mine)
        flat[f"{backend}_acked_writes"] = sum(r.acked for r in mine)
        flat[f"{backend}_acked_writes_lost"] = sum(sum(r.lost.values()) for r in mine)
        flat[f"{backend}_restart_p50_s"] = round(sorted(r.restart_s for r in mine)[len(mine) // 2], 2)
    return flat


def plot(rounds: list[RoundResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for backend, colour in (("sqlite", "#0b4f8a"), ("postgres", "#b5651d")):
        mine = [r for r in rounds if r.backend == backend]
        if not mine:
            continue
        ax1.scatter([r.alive_s for r in mine], [r.acked for r in mine], s=12, color=colour, label=backend)
        lost = [sum(r.lost.values()) for r in mine]
        ax2.plot(range(1, len(mine) + 1), lost, marker="o", ms=3, color=colour, label=f"{backend} lost")
    ax1.set_xlabel("seconds of writing before SIGKILL (negative: killed during start-up)")
    ax1.set_ylabel("writes acknowledged in the round")
    ax1.set_title("Kill points")
    ax1.legend()
    ax2.set_xlabel("kill")
    ax2.set_ylabel("acknowledged writes missing after restart")
    ax2.set_title("Acknowledged writes lost per kill")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(out_dir: Path, quick: bool, *, kills: int | None = None,
        backends: tuple[str, ...] = ("sqlite", "postgres"), seed: int = 22) -> dict[str, Any]:
    """``kills`` rounds on each backend (default 50 each, 100 kills in all; 3 each with ``quick``), the
    backends at once; flat metrics, ``crash.png``."""
    kills = kills if kills is not None else (3 if quick else 50)
    out_dir.mkdir(parents=True, exist_ok=True)
    rounds: list[RoundResult] = []
    with tempfile.TemporaryDirectory(prefix="medvoice-crash-") as tmp, databases(Path(tmp), backends) as found:
        print(f"crash: {kills} SIGKILLs on each of {', '.join(b for b, _ in found)} (at once)", flush=True)

        async def every_backend() -> list[list[RoundResult]]:
            return await asyncio.gather(*(run_backend(backend, url, Path(tmp), kills, seed + number)
                                          for number, (backend, url) in enumerate(found)))

        for backend_rounds in asyncio.run(every_backend()):
            rounds += backend_rounds
    flat = summarise(rounds)
    (out_dir / "crash_rounds.json").write_text(json.dumps([r.__dict__ for r in rounds], indent=1))
    if rounds:
        plot(rounds, out_dir / "crash.png")
    return flat
