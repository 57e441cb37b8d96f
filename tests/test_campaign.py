"""Follow-up campaign: patients due from the records, calling hours, retries, summary (alerts first) via the API."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.campaign import CallingHours, CallResult, Campaign, CampaignSettings
from agent.campaign_api import build_campaign_router
from backends.interfaces import Principal
from dialogue.followup.flow import FollowupDialogue

CARDIO = Principal("nurse-cardio", "department", "demo-hospital", department_id="dept-cardiology")
# Monday 2026-11-23 10:00 China time = 02:00 UTC; 20:00 China time is outside calling hours.
MONDAY_10 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MONDAY_20 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_calling_hours() -> None:
    hours = CallingHours()
    assert hours.is_open(MONDAY_10) and not hours.is_open(MONDAY_20)
    nxt = hours.next_open(MONDAY_20).astimezone(hours.tz)
    assert (nxt.isoweekday(), nxt.time()) == (2, time(9, 0))
    with pytest.raises(ValueError, match="weekday"):
        CallingHours(weekdays=frozenset({9}))


async def _enrol(store, name: str, code: str) -> str:
    patient = await store.create(CARDIO, {"resourceType": "Patient", "name": [{"text": name}],
                                          "telecom": [{"system": "phone", "value": "13900001111"}]})
    await store.create(CARDIO, {
        "resourceType": "Condition", "subject": {"reference": f"Patient/{patient['id']}"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]},
    })
    return patient["id"]


async def test_campaign_schedules_retries_and_ranks_alerts_first(records_store) -> None:
    calm = await _enrol(records_store, "活动测试甲", "I10")
    urgent = await _enrol(records_store, "活动测试乙", "I10")
    silent = await _enrol(records_store, "活动测试丙", "E11")
    campaign = Campaign(records_store, CARDIO, CampaignSettings(max_attempts=2))
    added = await campaign.refresh(MONDAY_20)
    keys = {(c.patient_id, c.program) for c in added}
    assert {(calm, "hypertension"), (urgent, "hypertension"), (silent, "diabetes")} <= keys
    assert campaign.ready(MONDAY_20) == []  # outside calling hours nothing is dialled
    tuesday_9 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)

    async def dial(call) -> CallResult:
        if call.patient_id == silent:
            return CallResult(False)
        answers = {calm: ["还行", "一百二十八，七十八", "对", "天天吃"],
                   urgent: ["还行", "一百九十，一百一十二", "对", "天天吃"]}.get(call.patient_id)
        if answers is None:
            return CallResult(False)
        dialogue = FollowupDialogue(program=call.program, records=records_store, principal=CARDIO,
                                    patient_id=call.patient_id)
        [r async for r in dialogue.open()]
        for answer in answers:
            if not dialogue.ended:
                [r async for r in dialogue.handle(answer)]
        if not dialogue.ended:
            await dialogue.hangup()
        return CallResult(True, dialogue.snapshot())

    assert await campaign.run_due(tuesday_9, dial) >= 3
    retry = campaign.calls[(silent, "diabetes")]
    assert retry.status == "pending" and retry.attempts == 1 and retry.next_attempt > tuesday_9
    await campaign.run_due(retry.next_attempt, dial)
    assert retry.status == "unreachable"
    rows = [r for r in campaign.summary() if r["patient_id"] in (calm, urgent, silent)]
    assert rows[0]["patient_id"] == urgent and rows[0]["alert"] and rows[0]["action"] == "urgent_referral"
    assert campaign.summary_csv().splitlines()[0].lstrip("\ufeff").startswith("patient_id,program,status,alert")

    # The urgent patient's call completed: the next follow-up is in two weeks, so not due again now.
    await campaign.refresh(tuesday_9)
    assert campaign.calls[(urgent, "hypertension")].status == "done"


def test_campaign_api_requires_the_care_team_and_exports_csv(records_store) -> None:
    app = FastAPI()
    app.include_router(build_campaign_router(records_store, clock=lambda: MONDAY_10))
    client = TestClient(app)
    assert client.get("/campaign/summary").status_code == 401
    service = records_store.tokens.issue(Principal("voice-agent", "service", "demo-hospital"))
    assert client.get("/campaign/due", headers={"Authorization": f"Bearer {service}"}).status_code == 403
    team = {"Authorization": f"Bearer {records_store.tokens.issue(CARDIO)}"}
    due = client.get("/campaign/due", headers=team)
    assert due.status_code == 200 and isinstance(due.json(), list)
    missing = client.post("/campaign/attempts", headers=team,
                          json={"patient_id": "nobody", "program": "diabetes", "answered": False})
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    if due.json():
        row = due.json()[0]
        reported = client.post("/campaign/attempts", headers=team,
                               json={"patient_id": row["patient_id"], "program": row["program"], "answered": False})
        # The schedule is the store's (the session's store, shared with the test above): one more attempt.
        assert reported.status_code == 200 and reported.json()["attempts"] == row["attempts"] + 1
    exported = client.get("/campaign/summary.csv", headers=team)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
