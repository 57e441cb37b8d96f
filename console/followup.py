"""Follow-up for the care team: each programme's progress (due, reached, not reached, refused), alerts
with today's first (the value and the rule that fired, the action taken), and each patient's blood
pressure, fasting glucose and adherence across visits, drawn in the page (uPlot).

Everything is read from the follow-up calls' own records (``dialogue.followup.records``: Encounter,
Observations, QuestionnaireResponse); the action taken on an alert is written back onto the alert's
Encounter through the store's ordinary, audited update.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from backends import BackendError, VersionConflictError
from backends.embedded import CampaignSchedule
from backends.interfaces import CHINA_STANDARD_TIME
from console.roles import StaffUser
from console.web import Console, Refused, checked_id
from dialogue import PROGRAMS, Program, followup_extension
from dialogue.followup.classify import value_dangers

ACTION_EXTENSION = "https://medvoice.local/fhir/StructureDefinition/followup-staff-action"
ADHERENCE_SCORE = {"规律": 2, "间断": 1, "不服药": 0}
REACHED = ("completed", "partial")
ACTION_NAMES = {"urgent_referral": "紧急转诊", "referral": "转诊", "recall_2w": "2周内复诊",
                "measure_and_recall": "复测后复诊", "routine": "常规随访"}
OUTCOME_NAMES = {"completed": "已完成", "partial": "部分完成", "incomplete": "未接通", "refused": "拒绝"}


@dataclass
class Visit:
    encounter: dict[str, Any]
    patient_id: str
    program: str
    when: datetime
    outcome: str
    alert: bool
    action: str
    next_due: str
    values: dict[str, float] = field(default_factory=dict)
    staff_actions: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.encounter["id"])

    @property
    def version(self) -> int:
        return int(self.encounter.get("meta", {}).get("versionId", "1"))


def _visit(encounter: dict[str, Any]) -> Visit | None:
    program = followup_extension(encounter, "program")
    patient = (encounter.get("subject") or {}).get("reference", "")
    start = (encounter.get("period") or {}).get("start")
    if program not in PROGRAMS or not patient.startswith("Patient/") or not start:
        return None
    actions = [str(e.get("valueString", "")) for e in encounter.get("extension", []) if e.get("url") == ACTION_EXTENSION]
    return Visit(encounter, patient.removeprefix("Patient/"), str(program), datetime.fromisoformat(start),
                 str(followup_extension(encounter, "outcome") or ""), bool(followup_extension(encounter, "alert")),
                 str(followup_extension(encounter, "action") or ""), str(followup_extension(encounter, "next-due") or ""),
                 staff_actions=actions)


def observation_values(observation: dict[str, Any]) -> dict[str, float]:
    """systolic / diastolic / glucose from one follow-up Observation."""
    codes = {c.get("code") for c in (observation.get("code") or {}).get("coding", [])}
    found: dict[str, float] = {}
    if "85354-9" in codes:
        for component in observation.get("component", []):
            code = {c.get("code") for c in component.get("code", {}).get("coding", [])}
            value = (component.get("valueQuantity") or {}).get("value")
            if value is not None:
                found["systolic" if "8480-6" in code else "diastolic"] = float(value)
    elif "14771-0" in codes and (observation.get("valueQuantity") or {}).get("value") is not None:
        found["glucose"] = float(observation["valueQuantity"]["value"])
    return found


def rule_text(program: str, values: dict[str, float]) -> list[str]:
    """The danger rules the values meet, as '血压186/112（收缩压≥180 或 舒张压≥110）'."""
    rules = Program.load(program).danger
    texts = []
    for danger in value_dangers(Program.load(program), values):
        if danger.code == "blood_pressure_high":
            rule = f"收缩压≥{rules.get('systolic_gte'):g} 或 舒张压≥{rules.get('diastolic_gte'):g}"
        elif danger.code == "glucose_high":
            rule = f"空腹血糖≥{rules.get('glucose_gte'):g} mmol/L"
        elif danger.code == "glucose_low":
            rule = f"血糖≤{rules.get('glucose_lte'):g} mmol/L"
        else:
            rule = danger.code
        texts.append(f"{danger.name}（{rule}）")
    return texts


async def _visits(console: Console, user: StaffUser) -> list[Visit]:
    encounters = await console.store.list_recent(user.principal, "Encounter", 300)
    return sorted((v for e in encounters if (v := _visit(e))), key=lambda v: v.when)


def progress(visits: list[Visit], today: date) -> dict[str, dict[str, int]]:
    """Per programme: patients due, reached, not reached and refused (by each patient's latest call)."""
    latest: dict[tuple[str, str], Visit] = {}
    for visit in visits:
        latest[(visit.patient_id, visit.program)] = visit
    counts = {p: {"patients": 0, "due": 0, "reached": 0, "not_reached": 0, "refused": 0} for p in PROGRAMS}
    for (_, program), visit in latest.items():
        row = counts[program]
        row["patients"] += 1
        if visit.outcome in REACHED:
            row["reached"] += 1
        elif visit.outcome == "refused":
            row["refused"] += 1
        else:
            row["not_reached"] += 1
        if visit.next_due and date.fromisoformat(visit.next_due) <= today or visit.outcome not in REACHED:
            row["due"] += 1
    return counts


SCHEDULE_STATUSES = {"pending": "待拨打", "dialling": "拨打中", "done": "已接通", "unreachable": "多次未接通",
                     "skipped": "已跳过", "failed": "失败"}


def campaign_team(user: StaffUser) -> str:
    """The care team whose campaign schedule the user sees: the key the campaign itself files it under
    (``agent.campaign.team_key``: hospital, records role, department)."""
    principal = user.principal
    return f"{principal.hospital_id}|{principal.role}|{principal.department_id or ''}"


def schedule_progress(store: Any, user: StaffUser) -> dict[str, dict[str, int]]:
    """Per programme: the team's scheduled campaign calls by status (blocking)."""
    counts: dict[str, Counter[str]] = {}
    for visit in CampaignSchedule(store).visits(campaign_team(user)):
        counts.setdefault(visit.program, Counter())[visit.status] += 1
    return {program: dict(counter) for program, counter in counts.items()}


def add_routes(router: APIRouter, console: Console) -> None:
    async def alerts_for(user: StaffUser, visits: list[Visit]) -> list[dict[str, Any]]:
        today = datetime.now(UTC).astimezone(CHINA_STANDARD_TIME).date()
        alerted = [v for v in visits if v.alert]
        for patient_id in sorted({v.patient_id for v in alerted}):
            for observation in await console.store.search(user.principal, "Observation", {"patient": patient_id}):
                encounter = (observation.get("encounter") or {}).get("reference", "").removeprefix("Encounter/")
                for visit in alerted:
                    if visit.id == encounter:
                        visit.values.update(observation_values(observation))
        rows: list[dict[str, Any]] = []
        for visit in alerted:
            local_day = visit.when.astimezone(CHINA_STANDARD_TIME).date()
            rows.append({"visit": visit, "today": local_day == today,
                         "rules": rule_text(visit.program, visit.values) or ["危险症状（见随访记录）"]})
        rows.sort(key=lambda r: (not r["today"], -float(r["visit"].when.timestamp())))
        return rows

    @router.get("/followup")
    async def followup_page(request: Request) -> Response:
        user = await console.staff(request, "followup", "console/followup")
        visits = await _visits(console, user)
        today = datetime.now(UTC).astimezone(CHINA_STANDARD_TIME).date()
        alerts = await alerts_for(user, visits)
        patients = sorted({(v.patient_id, v.program) for v in visits})
        names = {pid: await _name(console, user, pid) for pid in sorted({p for p, _ in patients})}
        await console.audit(user.principal, "console_view", "console/followup")
        return await console.page(
            "followup.html", request, user, progress=progress(visits, today), alerts=alerts, names=names,
            schedule=await asyncio.to_thread(schedule_progress, console.store, user), schedule_statuses=SCHEDULE_STATUSES,
            patients=patients, programs={p: Program.load(p).name for p in PROGRAMS}, action_names=ACTION_NAMES,
            outcome_names=OUTCOME_NAMES, can_act=user.can("act_on_alerts"))

    @router.get("/followup/summary.csv")
    async def summary_csv(request: Request) -> Response:
        user = await console.staff(request, "followup", "console/followup.csv")
        visits = await _visits(console, user)
        buffer = io.StringIO()
        buffer.write("\ufeff")
        writer = csv.writer(buffer)
        writer.writerow(["patient_id", "program", "date", "outcome", "alert", "action", "next_due", "staff_actions"])
        for v in visits:
            writer.writerow([v.patient_id, v.program, v.when.isoformat(), v.outcome, v.alert, v.action, v.next_due,
                             " | ".join(v.staff_actions)])
        await console.audit(user.principal, "console_export", "console/followup.csv")
        return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="followup-summary.csv"'})

    @router.get("/followup/patients/{patient_id}")
    async def trend(request: Request, patient_id: str) -> Response:
        user = await console.staff(request, "followup", f"Patient/{patient_id}"[:160])
        patient_id = checked_id(patient_id)
        patient = await console.store.read(user.principal, "Patient", patient_id)
        points: dict[str, dict[str, float]] = {}
        for observation in await console.store.search(user.principal, "Observation", {"patient": patient_id}):
            when = observation.get("effectiveDateTime")
            if when:
                points.setdefault(when[:16], {}).update(observation_values(observation))
        for response in await console.store.search(user.principal, "QuestionnaireResponse", {"patient": patient_id}):
            for item in response.get("item", []):
                if item.get("linkId") == "adherence" and item.get("answer"):
                    answer = item["answer"][0].get("valueString")
                    if answer in ADHERENCE_SCORE and response.get("authored"):
                        points.setdefault(response["authored"][:16], {})["adherence"] = ADHERENCE_SCORE[answer]
        series = sorted(points.items())
        data = {
            "t": [datetime.fromisoformat(t).timestamp() for t, _ in series],
            **{k: [v.get(k) for _, v in series] for k in ("systolic", "diastolic", "glucose", "adherence")},
        }
        await console.audit(user.principal, "console_view", f"Patient/{patient_id}/trend")
        # JSON inside <script type="application/json">: '<' escaped so no text can close the element
        payload = Markup(json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
        rows = [(t, v) for t, v in series]
        return await console.page("trend.html", request, user, patient=patient, patient_name=_display_name(patient),
                                  payload=payload, rows=rows)

    @router.post("/followup/alerts/{encounter_id}/action")
    async def act(request: Request, encounter_id: str) -> Response:
        user = await console.staff(request, "act_on_alerts", f"Encounter/{encounter_id}"[:160])
        form = dict(await request.form())
        await console.check_csrf(request, form)
        encounter_id = checked_id(encounter_id)
        text = str(form.get("action") or "").strip()[:300]
        version = str(form.get("version") or "")
        if not text or not version.isdigit():
            raise Refused(400, "请填写采取的措施")
        encounter = await console.store.read(user.principal, "Encounter", encounter_id)
        if _visit(encounter) is None:
            raise Refused(404, "没有找到该随访记录")
        stamp = datetime.now(UTC).astimezone(CHINA_STANDARD_TIME).strftime("%m-%d %H:%M")
        updated = {**encounter, "extension": [*encounter.get("extension", []),
                                               {"url": ACTION_EXTENSION, "valueString": f"{stamp} {user.display_name}：{text}"}]}
        try:
            await console.store.update(user.principal, updated, expected_version=int(version))
        except VersionConflictError as error:
            raise Refused(409, "该报警已被他人处理，请刷新后查看最新记录（您的内容未保存）") from error
        return RedirectResponse("/console/followup#alerts", status_code=303)


async def _name(console: Console, user: StaffUser, patient_id: str) -> str:
    try:
        return _display_name(await console.store.read(user.principal, "Patient", patient_id))
    except BackendError:  # a patient the user may not read is listed by id only
        return patient_id[:8]


def _display_name(patient: dict[str, Any]) -> str:
    name = (patient.get("name") or [{}])[0]
    return str(name.get("text") or (name.get("family", "") + "".join(name.get("given", []))) or patient.get("id", ""))
