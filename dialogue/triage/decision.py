"""The triage decision: level 1-4 (2018 急诊预检分诊专家共识 scale), department, and a reason a nurse can audit.

Order of precedence: red flags (level 1/2, emergency department) > severe pain score > complaint
level with escalations (fever, intensity, elderly abdominal pain, pain score 4-6) > unknown (level 3:
missing information never lowers urgency). Routing: red flag or level <= 2 -> emergency; then special
populations (child -> pediatrics, pregnancy -> obstetrics); then the complaint with the highest priority.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialogue.safety import RedFlagHit
from dialogue.triage.catalogue import DepartmentCatalogue
from dialogue.triage.slots import Complaint, TriageSlots

LEVEL_NAMES = {1: "一级（急危）", 2: "二级（急重）", 3: "三级（急症）", 4: "四级（非急症）"}
_ABDOMINAL = {"abdominal_pain", "rlq_pain", "stomach_pain", "renal_colic"}
_SPECIALTIES_FOR_CHILDREN = {"ophthalmology", "stomatology", "psychiatry"}
_GLUCOSE_REVIEW_GTE = 10.0  # mmol/L: well above the 7.0 target, below the 16.7 danger line (DOMAIN.md §2.2)


@dataclass(frozen=True)
class TriageDecision:
    """The outcome of triage.

    Parameters:
        level: 1 (most urgent) to 4.
        department: The hospital's department name.
        department_key: Catalogue key (``"emergency"``, ``"pediatrics"`` ...).
        reasons: Why, in Mandarin a nurse can audit, most important first.
        red_flags: Codes of the red flags raised.
    """

    level: int
    department: str
    department_key: str
    reasons: tuple[str, ...]
    red_flags: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return "；".join(self.reasons)


def decide(slots: TriageSlots, hits: list[RedFlagHit], catalogue: DepartmentCatalogue) -> TriageDecision:
    """Decide level and department from what is known (see the module docstring for the order)."""
    level, reasons = _level(slots, hits)
    key, route_reason = _route(slots, level, hits)
    return TriageDecision(level, catalogue.name(key), key, (*reasons, route_reason),
                          tuple(hit.code for hit in hits))


def _level(slots: TriageSlots, hits: list[RedFlagHit]) -> tuple[int, list[str]]:
    reasons = [f"红旗征：{hit.name}（来电者原话：{hit.evidence}）" for hit in hits]
    candidates = [hit.level for hit in hits]
    if slots.severity is not None and slots.severity >= 7:
        candidates.append(2)
        reasons.append(f"疼痛评分{slots.severity}分（7-10分为重度疼痛）")
    if slots.complaints:
        level, why = _complaint_level(slots)
        candidates.append(level)
        reasons.extend(why)
    elif not hits:
        candidates.append(3)
        reasons.append("主诉不明确，信息不足时不降低紧急程度，按三级处理")
    floor = slots.assessment.floor()
    if floor is not None:
        candidates.append(floor.level)
        reasons.extend(floor.reasons)
    level = min(candidates)
    return level, [f"分级{LEVEL_NAMES[level]}", *reasons]


def _complaint_level(slots: TriageSlots) -> tuple[int, list[str]]:
    main = _main_complaint(slots.complaints)
    names = "、".join(c.name for c in slots.complaints)
    level = min(c.level for c in slots.complaints)
    if level == 3 and slots.chronic and not slots.acute and not slots.intense:
        chronic = [c.chronic_level for c in slots.complaints if c.level == 3]
        if all(chronic):
            level = 4
    why = [f"主诉：{names}（主要：{main.name}）"]
    acute_levels = [c.acute_level for c in slots.complaints if c.acute_level is not None]
    if level == 4 and acute_levels and slots.acute and not slots.settled and not slots.routine:
        level = min(acute_levels)  # 2018 consensus: level 4 is "no acute symptom"; a symptom that began days ago is acute
        why.append("新近出现且仍在的症状，按急症（三级）处理")
    elif level == 3 and slots.routine and (slots.chronic or slots.settled) and not slots.acute and not slots.intense:
        level = 4  # a follow-up or a question about something settled or long-standing
        why.append("复查、开药或咨询，症状已平稳或为慢性，按非急症（四级）处理")
    escalations = _escalations(slots)
    why.extend(escalations)
    if escalations:
        level = min(level, 3)
    return level, why


def _escalations(slots: TriageSlots) -> list[str]:
    """Findings that make a complaint at least level 3 (all listed, so the reason is complete)."""
    found = []
    fever = slots.vitals.temperature_c
    if any(c.id == "fever" for c in slots.complaints) and (fever is None or fever >= 38.0):
        found.append("伴发热" + (f"{fever:g}℃" if fever is not None else ""))
    if slots.intense:
        found.append("症状较重或加重")
    if slots.severity is not None and 4 <= slots.severity < 7:
        found.append(f"疼痛评分{slots.severity}分（4-6分为中度疼痛）")
    if slots.person.age_group == "elderly" and any(c.id in _ABDOMINAL for c in slots.complaints):
        found.append("65岁以上老人腹痛")
    glucose = slots.vitals.glucose
    if glucose is not None and glucose >= _GLUCOSE_REVIEW_GTE:
        found.append(f"血糖偏高（{glucose:g}）")
    if _raised_blood_pressure(slots):
        found.append(f"血压偏高（{slots.vitals.systolic or 0:g}/{slots.vitals.diastolic or 0:g}）并有症状")
    return found


def _raised_blood_pressure(slots: TriageSlots) -> bool:
    systolic, diastolic = slots.vitals.systolic, slots.vitals.diastolic
    high = (systolic is not None and systolic >= 140) or (diastolic is not None and diastolic >= 90)
    return high and any(c.id in ("dizziness", "headache", "chest_tightness", "palpitations") for c in slots.complaints)


def _main_complaint(complaints: list[Complaint]) -> Complaint:
    return max(complaints, key=lambda c: (c.priority, -c.position))


def _route(slots: TriageSlots, level: int, hits: list[RedFlagHit]) -> tuple[str, str]:
    if hits:
        return "emergency", "有红旗征，转急诊科"
    if level <= 2:
        return "emergency", f"{LEVEL_NAMES[level]}，转急诊科"
    person = slots.person
    if person.pregnant and person.age_days is None:  # a pregnant caller's 孩子 is the baby she carries
        return "obstetrics", "孕期优先分到产科"
    if person.age_group in ("infant", "child"):
        main = _main_complaint(slots.complaints) if slots.complaints else None
        if main is not None and main.dept in _SPECIALTIES_FOR_CHILDREN:
            return main.dept, f"儿童的{main.name}由专科诊治"
        return "pediatrics", "儿童优先分到儿科"
    if person.pregnant:
        return "obstetrics", "孕期优先分到产科"
    if not slots.complaints:
        return "general", "主诉不明确，先到全科"
    main = _main_complaint(slots.complaints)
    if main.id in ("dizziness", "headache") and _raised_blood_pressure(slots):
        return "cardiology", f"主诉{main.name}且血压偏高，分到心血管内科"
    return main.dept, f"按主诉“{main.name}”分诊"
