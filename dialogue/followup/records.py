"""Follow-up results in the records: Encounter (随访方式 = 电话), Observations, QuestionnaireResponse,
and the previous visit's class and unsatisfactory streak read back for the cross-call state machine.

The state machine's memory lives on the programme's follow-up Encounters (extensions below), so any
records backend that stores FHIR keeps it; no side table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from backends.interfaces import Principal, RecordsBackend

EXT = "https://medvoice.local/fhir/StructureDefinition/followup-"
FOLLOWUP_METHOD_SYSTEM = "https://medvoice.local/fhir/CodeSystem/followup-method"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
_OBSERVATIONS = {
    "glucose": ("14771-0", "空腹血糖", "mmol/L", "mmol/L", "laboratory"),
    "heart_rate": ("8867-4", "心率", "/min", "次/分", "vital-signs"),
    "weight": ("29463-7", "体重", "kg", "kg", "vital-signs"),
}


@dataclass(frozen=True)
class History:
    """The programme's last *completed* follow-up call: its class and the unsatisfactory streak after it."""

    previous_class: str | None = None
    streak: int = 0
    last_call: str | None = None


def followup_extension(resource: dict[str, Any], name: str) -> Any:
    """The value of the follow-up extension ``name`` (``program``, ``outcome``, ``next-due``…) on a
    resource this module wrote, or None."""
    for extension in resource.get("extension", []):
        if extension.get("url") == EXT + name:
            return next((v for k, v in extension.items() if k.startswith("value")), None)
    return None


async def load_history(records: RecordsBackend, principal: Principal, patient_id: str, program: str) -> History:
    """The last completed follow-up of ``program`` for the patient (needs a principal that may search
    Encounters: the care team's department or doctor role)."""
    encounters = await records.search(principal, "Encounter", {"patient": patient_id})
    calls = [e for e in encounters
             if followup_extension(e, "program") == program and followup_extension(e, "outcome") == "completed"]
    if not calls:
        return History()
    last = max(calls, key=lambda e: e.get("period", {}).get("start", ""))
    return History(followup_extension(last, "class"), int(followup_extension(last, "streak") or 0),
                   last.get("period", {}).get("start"))


def _reference(kind: str, resource_id: str) -> dict[str, str]:
    return {"reference": f"{kind}/{resource_id}"}


def encounter(patient_id: str, program: str, started: datetime, ended: datetime, result: dict[str, Any]) -> dict[str, Any]:
    """The call as an Encounter: class VR, type 随访方式 3 电话, the outcome and state-machine fields."""
    extensions = [
        {"url": EXT + "program", "valueCode": program},
        {"url": EXT + "outcome", "valueCode": result["outcome"]},
        {"url": EXT + "alert", "valueBoolean": bool(result["alert"])},
        {"url": EXT + "streak", "valueInteger": int(result["streak"])},
        {"url": EXT + "action", "valueCode": result["action"]},
        {"url": EXT + "next-due", "valueDate": result["next_due"]},
    ]
    if result.get("visit_class"):
        extensions.append({"url": EXT + "class", "valueString": result["visit_class"]})
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR", "display": "virtual"},
        "type": [{"coding": [{"system": FOLLOWUP_METHOD_SYSTEM, "code": "3", "display": "电话"}], "text": "随访方式：电话"}],
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority",
                                 "code": "UR" if result["alert"] else "R"}]},
        "subject": _reference("Patient", patient_id),
        "period": {"start": started.isoformat(), "end": ended.isoformat()},
        "extension": extensions,
    }


def observations(patient_id: str, encounter_id: str, when: datetime, values: dict[str, float]) -> list[dict[str, Any]]:
    """One Observation per confirmed value (BP as the vital-signs panel 85354-9)."""
    base = {"resourceType": "Observation", "status": "final", "subject": _reference("Patient", patient_id),
            "encounter": _reference("Encounter", encounter_id), "effectiveDateTime": when.isoformat(),
            "note": [{"text": "患者电话随访自报（家庭自测）"}]}
    found = []
    if "systolic" in values and "diastolic" in values:
        found.append({
            **base,
            "category": [_category("vital-signs")],
            "code": {"coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}], "text": "血压"},
            "component": [
                _component("8480-6", "收缩压", values["systolic"], "mm[Hg]", "mmHg"),
                _component("8462-4", "舒张压", values["diastolic"], "mm[Hg]", "mmHg"),
            ],
        })
    for name, (code, text, ucum, unit, category) in _OBSERVATIONS.items():
        if name in values:
            found.append({**base, "category": [_category(category)],
                          "code": {"coding": [{"system": LOINC, "code": code}], "text": text},
                          "valueQuantity": _quantity(values[name], ucum, unit)})
    return found


def _category(code: str) -> dict[str, Any]:
    return {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": code}]}


def _quantity(value: float, ucum: str, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": ucum}


def _component(code: str, text: str, value: float, ucum: str, unit: str) -> dict[str, Any]:
    return {"code": {"coding": [{"system": LOINC, "code": code}], "text": text}, "valueQuantity": _quantity(value, ucum, unit)}


def questionnaire_response(
    patient_id: str, encounter_id: str, questionnaire: str, when: datetime, complete: bool, items: list[tuple[str, str, Any]]
) -> dict[str, Any]:
    """The form as a QuestionnaireResponse; ``items`` are (linkId, Mandarin label, answer) with answers
    already known (a partial call carries only those, status ``stopped``)."""
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire,
        "status": "completed" if complete else "stopped",
        "subject": _reference("Patient", patient_id),
        "encounter": _reference("Encounter", encounter_id),
        "authored": when.isoformat(),
        "item": [{"linkId": link, "text": label, "answer": [_answer(v) for v in _as_list(answer)]}
                 for link, label, answer in items],
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _answer(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueDecimal": value}
    if isinstance(value, date):
        return {"valueDate": value.isoformat()}
    return {"valueString": str(value)}
