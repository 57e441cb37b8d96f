"""The records behind the console: a triage call written as it goes by the recorder the call session uses
(created once routed or flagged, rewritten, finished; a 10-minute utterance cut; a records failure never
reaches the call), on SQLite and PostgreSQL (conftest's ``store``), and ``medvoice console seed-demo`` end to
end on a fresh database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.triage_records import TriageCallRecorder
from backends import Principal
from backends.embedded import open_store
from console.demo import SERVICE
from dialogue import TriageCall
from dialogue.triage.records import MAX_LINE_CHARS, is_triage_call

EMERGENCY_NURSE = Principal("n1", "department", "demo-hospital", "dept-emergency")
CARDIOLOGY_NURSE = Principal("n2", "department", "demo-hospital", "dept-cardiology")


async def _calls(store: Any, principal: Principal) -> list[TriageCall]:
    return [TriageCall.of(r) for r in await store.list_recent(principal, "Encounter", 50) if is_triage_call(r)]


async def test_a_triage_call_is_recorded_live_then_finished_in_its_department(store: Any) -> None:
    recorder = TriageCallRecorder(store, SERVICE, "call-1")
    recorder.observe({"type": "transcript", "role": "agent", "text": "请问哪里不舒服？"})
    recorder.observe({"type": "transcript", "role": "caller", "text": "胸口疼" + "很" * 30000})
    recorder.observe({"type": "state", "level": None, "department": None, "red_flags": []})
    await asyncio.sleep(0.2)
    assert await _calls(store, EMERGENCY_NURSE) == []  # not routed, nothing flagged: nothing written yet
    recorder.observe({"type": "state", "level": 1, "department": "急诊科", "reason": "疑似急性冠脉综合征",
                      "red_flags": ["chest_pain_acs"], "handoff": "t-1"})
    for _ in range(50):
        live = await _calls(store, EMERGENCY_NURSE)
        if live:
            break
        await asyncio.sleep(0.05)
    assert live and live[0].live and live[0].level == 1 and live[0].red_flags == ("chest_pain_acs",)
    recorder.observe({"type": "transcript", "role": "agent", "text": "请立即拨打120。"})
    await recorder.finish()
    (call,) = await _calls(store, EMERGENCY_NURSE)
    assert not call.live and call.ended is not None and call.handoff == "t-1"
    assert call.last("agent") == "请立即拨打120。" and len(call.last("caller")) == MAX_LINE_CHARS
    assert await _calls(store, CARDIOLOGY_NURSE) == []  # routed to the emergency department only


async def test_a_records_failure_never_reaches_the_call(store: Any) -> None:
    class Broken:
        async def department_id(self, hospital_id: str, department: str) -> str:
            raise RuntimeError("database down")

    recorder = TriageCallRecorder(Broken(), SERVICE, "call-2")
    recorder.observe({"type": "state", "level": 2, "department": "急诊科", "red_flags": []})
    await recorder.finish()  # logged, not raised
    assert recorder.encounter is None


def test_seed_demo_command_prints_the_logins_and_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEDVOICE_DATABASE_URL", f"sqlite:///{tmp_path / 'medvoice.db'}")
    monkeypatch.setenv("MEDVOICE_KEY_FILE", str(tmp_path / "keys.json"))
    assert main(["console", "seed-demo", "--password", "a-demo-password"]) == 0
    printed = capsys.readouterr().out
    for login in ("nurse1", "doctor1", "doctor2", "lead1", "a-demo-password"):
        assert login in printed
    assert main(["console", "seed-demo", "--password", "a-demo-password"]) == 0  # again: no duplicate records
    store = open_store(f"sqlite:///{tmp_path / 'medvoice.db'}", tmp_path / "keys.json", seed=False)
    try:
        calls = asyncio.run(_calls(store, EMERGENCY_NURSE))
        assert len(calls) == 5 and sum(c.live for c in calls) == 1
        assert store.verify_audit_sync().intact
    finally:
        store.close()
