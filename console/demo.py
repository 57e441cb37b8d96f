"""A living demo hospital for the console, from one command (``medvoice console seed-demo``): staff of two
departments (a nurse, two doctors, a care-team lead), a few days of triage calls and hand-offs, follow-up
calls with an alert, and a dictated note waiting for review. Everything is written through the store's
ordinary operations by the identities that write it in real life (the voice agent, the care team, the
doctor), so the audit chain shows it too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from backends import HandoffRequest, Principal
from backends.fhir import DEPARTMENT_TAG_SYSTEM
from console.accounts import Accounts
from dialogue.dictation.flow import composition
from dialogue.dictation.note import Note
from dialogue.dictation.review import ReviewMark
from dialogue.followup.records import encounter, observations, questionnaire_response
from dialogue.triage.records import triage_encounter

HOSPITAL = "demo-hospital"
EMERGENCY, CARDIOLOGY = "dept-emergency", "dept-cardiology"


@dataclass(frozen=True)
class DemoUser:
    user_id: str
    department_id: str
    username: str
    display_name: str
    role: str


DEMO_USERS = (
    DemoUser("nurse-emergency-1", EMERGENCY, "nurse1", "陈静", "nurse"),
    DemoUser("doc-emergency-1", EMERGENCY, "doctor1", "王建国", "doctor"),
    DemoUser("doc-cardiology-1", CARDIOLOGY, "doctor2", "张志强", "doctor"),
    DemoUser("lead-cardiology-1", CARDIOLOGY, "lead1", "周敏", "lead"),
)
"""The doctors' ids are the demo hospital's doctor ids (backends/data/demo_hospital.json)."""

SERVICE = Principal("voice-agent", "service", HOSPITAL, purpose="triage")


def _tag(department_id: str) -> dict[str, Any]:
    return {"tag": [{"system": DEPARTMENT_TAG_SYSTEM, "code": department_id}]}


def _patient(name: str, gender: str, birth: str, phone: str, department_id: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"text": name}], "gender": gender, "birthDate": birth,
            "telecom": [{"system": "phone", "value": phone}], "meta": _tag(department_id)}


async def seed_demo(store: Any, accounts: Accounts, password: str, now: datetime | None = None) -> list[DemoUser]:
    """Add the demo staff (password ``password``) and, the first time, the demo records."""
    now = now or datetime.now(UTC)
    first_time = accounts.user_by_username(HOSPITAL, DEMO_USERS[0].username) is None
    for user in DEMO_USERS:
        accounts.add_user(user_id=user.user_id, hospital_id=HOSPITAL, department_id=user.department_id,
                          username=user.username, display_name=user.display_name, role=user.role, password=password)
    if first_time:
        await _records(store, now)
    return list(DEMO_USERS)


def staff_principal(user: DemoUser) -> Principal:
    role = {"nurse": "department", "doctor": "doctor", "lead": "department"}[user.role]
    return Principal(user.user_id, role, HOSPITAL, user.department_id)


async def _records(store: Any, now: datetime) -> None:
    lead = staff_principal(DEMO_USERS[3])
    doctor = staff_principal(DEMO_USERS[1])
    emergency_patient = await store.create(SERVICE, _patient("李桂芳", "female", "1958-04-12", "13900001001", EMERGENCY))
    await _triage_calls(store, now)
    await _followup(store, lead, now)
    await _note(store, doctor, emergency_patient["id"], now)


TRIAGE_CALLS: tuple[tuple[float, int | None, int, str, list[str], str, str, str, bool], ...] = (
    # (hours ago, minutes long or None = live, level, department, red flags, reason, caller, agent, hand-off)
    (0.05, None, 2, "急诊科", ["severe_dyspnea"], "呼吸困难，需尽快就诊", "我喘不上气，走两步就不行了",
     "请您先坐下休息，我马上为您转接护士。", True),
    (0.6, 6, 1, "急诊科", ["chest_pain_acs"], "胸痛伴大汗，疑似急性冠脉综合征", "我胸口疼，出了很多汗",
     "请立即拨打120，保持安静不要走动。我已通知护士回电。", True),
    (3, 5, 4, "急诊科", [], "轻度咽痛，可门诊就诊", "嗓子有点疼，两天了", "建议您到门诊就诊，已为您查询号源。", False),
    (26, 7, 3, "急诊科", [], "发热38.5度，伴咳嗽", "发烧三十八度五，还咳嗽", "建议今天到急诊就诊。", False),
    (50, 4, 3, "急诊科", [], "腹痛半天", "肚子疼了半天了", "建议您今天到医院就诊。", False),
    (1.5, 5, 2, "心血管内科", ["hypertensive_crisis"], "血压190/120伴头痛", "量了血压一百九，头疼",
     "请尽快就医，我已通知心内科护士回电。", True),
)


async def _triage_calls(store: Any, now: datetime) -> None:
    for index, (hours, minutes, level, department, flags, reason, caller, agent, handoff) in enumerate(TRIAGE_CALLS):
        started = now - timedelta(hours=hours)
        call_id = f"demo-call-{index + 1}"
        ticket = None
        if handoff:
            ticket = await store.request_handoff(SERVICE, HandoffRequest(
                call_id=call_id, flow="triage", summary=f"分诊热线：{reason}", level=level, red_flags=tuple(flags),
                extra={"intent": "red_flag" if flags else "triage", "department": department}))
        resource = triage_encounter(
            call_id, started, level=level, department=department, reason=reason, red_flags=flags,
            transcript=[("agent", "您好，这里是医院分诊热线，请问哪里不舒服？"), ("caller", caller), ("agent", agent)],
            handoff=ticket, ended=started + timedelta(minutes=minutes) if minutes else None)
        department_id = await store.department_id(HOSPITAL, department)
        resource["meta"] = _tag(department_id)
        await store.create(SERVICE, resource)


FOLLOWUP_PATIENTS: tuple[tuple[str, str, str, str, list[tuple[int, int, int, str, str]]], ...] = (
    # name, gender, birth, phone, [(days ago, systolic, diastolic, adherence, outcome)], last call's alert
    ("王秀兰", "female", "1952-06-03", "13900002001",
     [(270, 152, 94, "间断", "completed"), (180, 146, 90, "规律", "completed"), (90, 158, 98, "间断", "completed"),
      (0, 186, 114, "不服药", "completed")]),
    ("赵德明", "male", "1949-11-20", "13900002002",
     [(200, 138, 86, "规律", "completed"), (110, 134, 84, "规律", "completed"), (20, 131, 82, "规律", "completed")]),
    ("孙玉珍", "female", "1960-02-14", "13900002003", [(95, 148, 92, "间断", "completed"), (2, 0, 0, "", "incomplete")]),
    ("钱卫国", "male", "1955-08-08", "13900002004", [(100, 150, 95, "规律", "completed"), (1, 0, 0, "", "refused")]),
)


async def _followup(store: Any, lead: Principal, now: datetime) -> None:
    questionnaire = "https://medvoice.local/fhir/Questionnaire/followup-hypertension"
    for name, gender, birth, phone, visits in FOLLOWUP_PATIENTS:
        patient = await store.create(lead, _patient(name, gender, birth, phone, CARDIOLOGY))
        pid = patient["id"]
        await store.create(lead, {
            "resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}], "text": "高血压"}})
        for days, systolic, diastolic, adherence, outcome in visits:
            when = now - timedelta(days=days, hours=1)
            alert = systolic >= 180 or diastolic >= 110
            action = "urgent_referral" if alert else "routine"
            next_due = (when.date() + timedelta(days=14 if alert else 90)) if outcome == "completed" else date.today()
            result = {"outcome": outcome, "alert": alert, "streak": 0, "action": action,
                      "next_due": next_due.isoformat(), "visit_class": "不满意" if alert else "满意"}
            enc = await store.create(lead, encounter(pid, "hypertension", when - timedelta(minutes=5), when, result))
            if outcome != "completed":
                continue
            for obs in observations(pid, enc["id"], when, {"systolic": systolic, "diastolic": diastolic}):
                await store.create(lead, obs)
            await store.create(lead, questionnaire_response(
                pid, enc["id"], questionnaire, when, True,
                [("method", "随访方式", "3 电话"), ("adherence", "服药依从性", adherence)]))


DICTATION = (
    "主诉，胸闷气短三天。",
    "现病史，患者三天前活动后出现胸闷气短，休息后可缓解，伴乏力，无胸痛，无发热。",
    "既往史，高血压十年，平素口服阿司匹林肠溶片。过敏史，青霉素过敏。",
    "查体，血压一百五十比九十五，双肺呼吸音清。辅助检查，心电图未见明显异常。",
    "初步诊断，胸闷待查，高血压病。处理意见，完善心肌酶谱检查，门诊随诊。",
)


async def _note(store: Any, doctor: Principal, patient_id: str, now: datetime) -> None:
    note = Note()
    for line in DICTATION:
        note.dictate(line)
    marks = [ReviewMark("阿司匹林肠溶片", "平素口服阿司匹林肠溶片", "corrected", 0.41),
             ReviewMark("心肌酶谱", "完善心肌酶谱检查", "unsure", 0.38)]
    await store.create(doctor, composition(note, patient_id, doctor, None, review=marks, transcript=list(DICTATION)))


def run_seed(store: Any, accounts: Accounts, password: str) -> list[DemoUser]:
    return asyncio.run(seed_demo(store, accounts, password))
