"""Example FHIR R4 resources of every type the records store keeps (used by tests and the benchmark).

Synthetic values written for medvoice; LOINC codes per DOMAIN.md §4.1 (BP 85354-9 with 8480-6 /
8462-4, heart rate 8867-4, body weight 29463-7, fasting glucose 14771-0).
"""

from __future__ import annotations

from typing import Any

LOINC = "http://loinc.org"
NOTE_SECTIONS = ("主诉", "现病史", "既往史", "过敏史", "体格检查", "辅助检查", "初步诊断", "处理意见")
"""The eight sections of an outpatient note (《病历书写基本规范》)."""


def patient(
    name: str = "张三丰", national_id: str = "110101199001011234", phone: str = "13800138000"
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": national_id}],
        "name": [{"text": name}],
        "telecom": [{"system": "phone", "value": phone}],
        "gender": "male",
        "birthDate": "1990-01-01",
    }


def _ref(patient_id: str) -> dict[str, str]:
    return {"reference": f"Patient/{patient_id}"}


def _loinc(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}]}


def _quantity_observation(
    patient_id: str, code: str, display: str, value: float, unit: str
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": _loinc(code, display),
        "subject": _ref(patient_id),
        "effectiveDateTime": "2026-11-20T09:30:00+08:00",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def blood_pressure(patient_id: str, systolic: float = 162, diastolic: float = 96) -> dict[str, Any]:
    observation = _quantity_observation(patient_id, "85354-9", "Blood pressure panel", 0, "mm[Hg]")
    del observation["valueQuantity"]
    observation["component"] = [
        {
            "code": _loinc(code, display),
            "valueQuantity": {
                "value": value,
                "unit": "mm[Hg]",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }
        for code, display, value in (("8480-6", "Systolic", systolic), ("8462-4", "Diastolic", diastolic))
    ]
    return observation


def examples(patient_id: str) -> dict[str, dict[str, Any]]:
    """One example per stored type (besides Patient and Appointment, which the store books), keyed by a label."""
    note_sections = [
        {
            "title": title,
            "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{text}</div>'},
        }
        for title, text in zip(
            NOTE_SECTIONS,
            (
                "头晕三天",
                "三天前出现头晕，无胸痛",
                "高血压五年",
                "青霉素过敏",
                "血压162/96毫米汞柱",
                "心电图未见异常",
                "原发性高血压",
                "调整降压药，两周后复诊",
            ),
            strict=True,
        )
    ]
    return {
        "bp": blood_pressure(patient_id),
        "glucose": _quantity_observation(patient_id, "14771-0", "Fasting glucose", 7.8, "mmol/L"),
        "heart_rate": _quantity_observation(patient_id, "8867-4", "Heart rate", 88, "/min"),
        "weight": _quantity_observation(patient_id, "29463-7", "Body weight", 72.5, "kg"),
        "encounter": {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "VR",
                "display": "virtual",
            },
            "priority": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": "UR"}]
            },
            "subject": _ref(patient_id),
            "reasonCode": [{"text": "胸口闷痛二十分钟"}],
        },
        "condition": {
            "resourceType": "Condition",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "code": {
                "coding": [
                    {
                        "system": "urn:oid:2.16.156.10011.2.3.3.11",
                        "code": "I10.x00",
                        "display": "原发性高血压",
                    }
                ]
            },
            "subject": _ref(patient_id),
        },
        "allergy": {
            "resourceType": "AllergyIntolerance",
            "patient": _ref(patient_id),
            "code": {"text": "青霉素"},
            "reaction": [{"manifestation": [{"text": "皮疹"}]}],
        },
        "medication": {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": {"text": "氨氯地平片 5mg"},
            "subject": _ref(patient_id),
            "dosage": [{"text": "每日一次，每次一片"}],
        },
        "composition": {
            "resourceType": "Composition",
            "status": "preliminary",
            "type": _loinc("11488-4", "Consult note"),
            "subject": _ref(patient_id),
            "date": "2026-11-20T10:00:00+08:00",
            "author": [{"display": "李医生"}],
            "title": "门诊病历",
            "section": note_sections,
        },
        "flag": {
            "resourceType": "Flag",
            "status": "active",
            "code": {"text": "胸痛伴出汗：建议立即拨打120"},
            "subject": _ref(patient_id),
        },
        "questionnaire_response": {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "subject": _ref(patient_id),
            "item": [
                {"linkId": "symptoms", "text": "症状", "answer": [{"valueString": "无症状"}]},
                {"linkId": "adherence", "text": "服药依从性", "answer": [{"valueString": "规律"}]},
            ],
        },
    }
