"""A follow-up campaign dials its patients over SIP, for real: the live service (real models, SIP on
loopback) dials through ``agent.sip_dialler.SipDialler`` (the dialler the queue's job uses when
``MEDVOICE_SIP_DIAL_URI`` is set) to a real PJSUA2 user agent (tests/sip/peer.py) acting as the
PBX's number plan: one number answers, one is busy (486), one rings and is never picked up.

The answered patient hears the follow-up greeting (transcribed back from the phone's recording),
answers the first question with rendered speech (a symptom), and hangs up mid-call: the flow saves the follow-up
as ``partial`` in the records, and the attempt is ``failed`` (hung up mid-call) as the WebSocket
ring-back reports it. Another presses 0 and is transferred to the nurse's extension (REFER): the
attempt is answered and the visit done with the hand-off. The busy attempt records SIP 486 and is retried by the campaign's policy (next
attempt after ``retry_after`` within calling hours, unreachable after ``max_attempts``); the
unanswered one is hung up at the ring timeout and records 487 as no answer. The visits are dialled
by the queue job's own body (``OutboundWorker.dial_visit``) on SQLite, without the PostgreSQL queue
around it (tests/test_call_queue.py covers the queue).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from backends.interfaces import Principal
from tests.sip.client import SipPeer

pytest.importorskip("pjsua2")

CARDIO = Principal("nurse-cardio", "department", "demo-hospital", department_id="dept-cardiology")
MONDAY_10 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 China time: calling hours
ANSWERS, BUSY, SILENT, TRANSFERRED = "13800001001", "13800001002", "13800001003", "13800001004"
RING_TIMEOUT_S = 2.0
DIZZY = "最近有点头晕。"  # the first question's answer; a symptom named is kept, so a hang-up is partial


async def _enrol(store, name: str, phone: str) -> str:
    patient = await store.create(CARDIO, {"resourceType": "Patient", "name": [{"text": name}],
                                          "telecom": [{"system": "phone", "value": phone}]})
    await store.create(CARDIO, {
        "resourceType": "Condition", "subject": {"reference": f"Patient/{patient['id']}"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
    })
    return str(patient["id"])


async def _until(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def _agent_lines(call) -> list[str]:
    return [e["text"] for e in list(call.events)
            if e.get("type") == "transcript" and e.get("role") == "agent" and e.get("final")]


async def _agent_quiet(call, quiet_s: float = 0.8, timeout_s: float = 40.0) -> None:
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        if call.outgoing.played_frames and call.outgoing.queued == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= quiet_s:
                return
        else:
            quiet_since = None
        await asyncio.sleep(0.05)
    raise AssertionError("the agent never went quiet")


async def test_campaign_dials_an_answering_a_busy_and_an_unanswered_phone(engines, settings, speak, tmp_path: Path):
    from agent.app import create_app
    from agent.call_queue import OutboundWorker, TrunkLimits
    from agent.campaign import Campaign, CampaignSettings
    from agent.sip_dialler import SipDialler, service_dialler
    from backends.embedded import open_store
    from dialogue import followup_extension

    store = open_store(database_url=f"sqlite:///{tmp_path / 'medvoice.db'}", key_file=tmp_path / "keys.json",
                       seed_days=1)
    recording = tmp_path / "phone.wav"
    pbx = await asyncio.to_thread(SipPeer, "--user", "patient", "--record", str(recording),
                                  "--status-for", f"{BUSY}=486,{SILENT}=180", "answer")
    nurse = await asyncio.to_thread(SipPeer, "--user", "nurse", "answer")
    app = create_app(settings.model_copy(update={
        "silence_timeout_s": 6.0, "sip_port": 0, "sip_bind": "127.0.0.1", "sip_allow_from": "127.0.0.1",
        "sip_dial_uri": f"sip:{{phone}}@127.0.0.1:{pbx.port}", "sip_ring_timeout_s": RING_TIMEOUT_S,
        "sip_human_uri": f"sip:nurse@127.0.0.1:{nurse.port}",
    }), engines=engines, store=store)
    policy = CampaignSettings(max_attempts=2, retry_after=timedelta(hours=2))
    clock = [MONDAY_10]
    try:
        async with app.router.lifespan_context(app):
            ids = {phone: await _enrol(store, f"电话随访{i}", phone) for i, phone in enumerate((ANSWERS, BUSY, SILENT, TRANSFERRED))}
            dialler = service_dialler(app.state, app.state.settings)
            assert isinstance(dialler, SipDialler) and dialler.transport == "sip"
            worker = OutboundWorker(store, dialler, "sip-test-worker", campaign=policy,
                                    trunk=TrunkLimits("sip-test", 3, 100), clock=lambda: clock[0])
            campaign = Campaign(store, CARDIO, policy)
            await campaign.refresh(MONDAY_10)
            visits = {c.patient_id: c.id for c in campaign.ready(MONDAY_10) if c.patient_id in ids.values()}
            assert set(visits) == set(ids.values())
            endpoint = app.state.sip.endpoint

            # 1. The phone answers: greeting, one spoken answer, then the patient hangs up mid-call.
            job = asyncio.create_task(worker.dial_visit(visits[ids[ANSWERS]], CARDIO))
            await _until(lambda: endpoint.calls() and endpoint.calls()[-1].media_ready.is_set(), 15, "never answered")
            call = endpoint.calls()[-1]
            assert call.flow == "followup"
            await _until(lambda: len(_agent_lines(call)) >= 2, 30, "no follow-up greeting")
            greeting = "".join(_agent_lines(call))
            assert "随访" in greeting, greeting
            await _agent_quiet(call)
            answer = tmp_path / "answer.wav"
            sf.write(answer, speak(DIZZY), 16000, subtype="PCM_16")
            pbx.send(f"play {answer}")
            await _until(lambda: len(_agent_lines(call)) > 2, 30, "no next question after the patient's answer")
            pbx.send("hangup")
            assert await asyncio.wait_for(job, 20) == "failed:pending"

            # 1b. The patient presses 0: the hand-off transfers them to the nurse; reached, not redialled.
            job = asyncio.create_task(worker.dial_visit(visits[ids[TRANSFERRED]], CARDIO))
            await _until(lambda: endpoint.calls() and endpoint.calls()[-1] is not call
                         and endpoint.calls()[-1].media_ready.is_set(), 15, "never answered")
            handed = endpoint.calls()[-1]
            await _until(lambda: len(_agent_lines(handed)) >= 2, 30, "no follow-up greeting")
            await _agent_quiet(handed)
            pbx.send("dtmf 0")
            assert await asyncio.wait_for(job, 40) == "answered:done"
            assert (await asyncio.to_thread(nurse.wait_for, "invite", 5))["headers"].get("X-Medvoice-Summary")
            assert campaign.schedule.visit(visits[ids[TRANSFERRED]]).result.get("handoff")
            nurse.send("hangup")

            # 2. Busy (486): recorded, retried after retry_after, unreachable after max_attempts.
            assert await worker.dial_visit(visits[ids[BUSY]], CARDIO) == "busy:pending"
            busy = campaign.schedule.visit(visits[ids[BUSY]])
            assert busy.next_attempt == policy.hours.next_open(MONDAY_10 + policy.retry_after)
            assert visits[ids[BUSY]] not in {c.id for c in campaign.ready(MONDAY_10)}

            # 3. Never answered: hung up at the ring timeout (CANCEL -> 487), no answer.
            started = time.monotonic()
            assert await worker.dial_visit(visits[ids[SILENT]], CARDIO) == "no_answer:pending"
            assert RING_TIMEOUT_S <= time.monotonic() - started < RING_TIMEOUT_S + 6

            clock[0] = busy.next_attempt
            assert visits[ids[BUSY]] in {c.id for c in campaign.ready(clock[0])}
            assert await worker.dial_visit(visits[ids[BUSY]], CARDIO) == "busy:unreachable"

            await _until(lambda: not (endpoint.live_calls or endpoint.media_ports or app.state.sessions.active),
                         15, "a SIP call, media port or session outlived the campaign")
            assert dialler.calls.live == 0 and app.state.outbound.reserved == 0

            attempts = {(a["call_id"], a["number"]): a for a in campaign.schedule.attempts()}
            answered = attempts[(visits[ids[ANSWERS]], 1)]
            assert answered["transport"] == "sip" and answered["trunk"] == "sip-test"
            assert answered["status"] == "failed" and answered["reason"].startswith("hung_up_mid_call"), answered
            for number in (1, 2):
                assert (attempts[(visits[ids[BUSY]], number)]["status"],
                        attempts[(visits[ids[BUSY]], number)]["reason"]) == ("busy", "sip_486")
            assert (attempts[(visits[ids[SILENT]], 1)]["status"],
                    attempts[(visits[ids[SILENT]], 1)]["reason"]) == ("no_answer", "sip_487")
            assert attempts[(visits[ids[TRANSFERRED]], 1)]["status"] == "answered"

            # The records: the follow-up Encounter the flow wrote, partial, as a WebSocket call writes it.
            encounters = await store.search(CARDIO, "Encounter", {"patient": ids[ANSWERS]})
            outcomes = [followup_extension(e, "outcome") for e in encounters]
            assert outcomes == ["partial"], outcomes
            assert not await store.search(CARDIO, "Encounter", {"patient": ids[BUSY]})
    finally:
        await asyncio.to_thread(pbx.close)
        await asyncio.to_thread(nurse.close)
        store.close()

    # What the patient's phone played: the greeting, transcribed back by the project's recogniser.
    audio, rate = sf.read(recording, dtype="float32")
    assert rate == 16000 and len(audio) > 16000 * 2, f"recorded {len(audio) / rate:.1f} s"
    heard = engines.transcriber.transcribe(np.asarray(audio[: 16000 * 6])).text
    assert "随访" in heard or "社区医院" in heard, heard


def test_dial_uri_and_sip_status_outcomes() -> None:
    from agent.sip_dialler import dial_uri, outcome_of_status

    template = "sip:0{phone}@pbx.local"
    assert dial_uri(template, "138-0000 1001") == "sip:013800001001@pbx.local"
    assert dial_uri(template, "+8613800001001") == "sip:0+8613800001001@pbx.local"
    for junk in ("", "12", "1380000@evil", "138;user=x", "sip:1001@x"):
        assert dial_uri(template, junk) is None, junk
    assert [(o.status, o.reason) for o in map(outcome_of_status, (486, 600, 603, 408, 480, 487, 404, 503, None))] == [
        ("busy", "sip_486"), ("busy", "sip_600"), ("busy", "sip_603"), ("no_answer", "sip_408"),
        ("no_answer", "sip_480"), ("no_answer", "sip_487"), ("failed", "sip_404"), ("failed", "sip_503"),
        ("failed", "sip_0")]


@pytest.mark.postgres
async def test_the_queue_worker_dials_over_sip_when_a_dial_uri_is_set(tmp_path: Path) -> None:
    """The service's hook: ``start_call_queue`` builds the SIP dialler from the settings (and refuses a
    dial URI without SIP on)."""
    from types import SimpleNamespace

    from agent.call_queue import start_call_queue
    from agent.config import Settings
    from agent.dialler import OutboundCalls
    from backends.embedded.local_postgres import PostgresUnavailable, server_url, temporary_database

    try:
        base = server_url()
    except PostgresUnavailable as error:
        pytest.skip(f"POSTGRESQL COULD NOT START: {error}")
    with temporary_database(base, prefix="medvoice_sipq") as url:
        state = SimpleNamespace(outbound=OutboundCalls(), store=None, sessions=None, sip=None, call_queue=None)
        common = {"_env_file": None, "queue_worker": True, "database_url": url, "sip_dial_uri": "sip:{phone}@pbx.local"}
        with pytest.raises(ValueError, match="needs SIP on"):
            await start_call_queue(state, Settings(**common))
        queue = await start_call_queue(state, Settings(**common, sip_port=0, sip_ring_timeout_s=12))
        assert queue is not None
        try:
            dialler = queue.outbound.dialler
            assert dialler.transport == "sip" and dialler.ring_timeout_s == 12 and dialler.calls is state.outbound
        finally:
            await queue.stop()
    with pytest.raises(ValueError, match="MEDVOICE_SIP_DIAL_URI"):
        Settings(_env_file=None, sip_dial_uri="sip:1001@pbx.local")
