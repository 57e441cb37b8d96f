"""Danger criteria, visit classification and the state machine across calls (规范 §2 of DOMAIN.md).

- Danger: a confirmed value past a programme threshold, or a danger symptom said without negation.
  The call then ends its survey with advice and a same-day hand-off.
- Class per visit: 并发症 > 不良反应 > 控制不满意 > 控制满意 (``None`` when no value was obtained).
- Across calls: the streak of consecutive unsatisfactory visits (控制不满意 / 不良反应) is carried in the
  records; first → recall in 2 weeks, two in a row → referral (active follow-up within 2 weeks).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources

from dialogue.followup.answers import mentioned, mentioned_now
from dialogue.followup.program import Program
from dialogue.triage.discriminators import concept_mentions, concept_rule
from medical_terms import DIGITS
from medical_terms.numerals import read_count

SATISFACTORY, UNSATISFACTORY, ADVERSE, COMPLICATION = "控制满意", "控制不满意", "不良反应", "并发症"
VISIT_CLASSES = (SATISFACTORY, UNSATISFACTORY, ADVERSE, COMPLICATION)
ACTIONS = ("routine", "recall_2w", "referral", "urgent_referral", "measure_and_recall")
_NEXT_DAYS = {"routine": 90, "recall_2w": 14, "referral": 14, "urgent_referral": 14, "measure_and_recall": 14}


@dataclass(frozen=True)
class Danger:
    """One danger criterion met: ``code`` (``systolic_gte``, a symptom code...), Mandarin ``name``, the
    advice key in the programme data."""

    code: str
    name: str
    advice: str


def value_dangers(program: Program, values: dict[str, float]) -> list[Danger]:
    """Danger criteria met by confirmed values."""
    rules = program.danger
    found = []
    sys_, dia = values.get("systolic"), values.get("diastolic")
    if (sys_ is not None and sys_ >= rules.get("systolic_gte", 1e9)) or (
        dia is not None and dia >= rules.get("diastolic_gte", 1e9)
    ):
        found.append(Danger("blood_pressure_high", f"血压{sys_:g}/{dia:g}", "high_bp"))
    glucose = values.get("glucose")
    if glucose is not None and glucose >= rules.get("glucose_gte", 1e9):
        found.append(Danger("glucose_high", f"血糖{glucose:g}", "high_glucose"))
    if glucose is not None and glucose <= rules.get("glucose_lte", -1):
        found.append(Danger("glucose_low", f"血糖{glucose:g}", "low_glucose"))
    heart_rate = values.get("heart_rate")
    if heart_rate is not None and heart_rate > rules.get("heart_rate_gt", 1e9):
        found.append(Danger("heart_rate_high", f"心率{heart_rate:g}", "fast_heart_rate"))
    temperature = values.get("temperature")
    if temperature is not None and temperature > rules.get("temperature_gt", 1e9):
        found.append(Danger("fever_high", f"体温{temperature:g}", "fever"))
    return found


_BOUND_RULES: tuple[tuple[str, str, str, str, str], ...] = (
    # value name, rule key, comparison, danger code, advice
    ("systolic", "systolic_gte", ">=", "blood_pressure_high", "high_bp"),
    ("diastolic", "diastolic_gte", ">=", "blood_pressure_high", "high_bp"),
    ("glucose", "glucose_gte", ">=", "glucose_high", "high_glucose"),
    ("glucose", "glucose_lte", "<=", "glucose_low", "low_glucose"),
    ("heart_rate", "heart_rate_gt", ">", "heart_rate_high", "fast_heart_rate"),
)
_BOUND_NAMES = {"systolic": "收缩压", "diastolic": "舒张压", "glucose": "血糖", "heart_rate": "心率"}


def bound_dangers(program: Program, bounds: dict[str, tuple[float, float]], unresolved: set[str]) -> list[Danger]:
    """Danger criteria met by values known only as bounds (一百八十几 is 181-189, 快两百, 二点几, the meter's
    HI): met when every value the words allow meets the criterion; for a value left unknown after asking
    (``unresolved``), already when some value does (missing data never lowers urgency, DOMAIN.md §1.4).
    Nothing here is a value for the record."""
    found = []
    for name, key, comparison, code, advice in _BOUND_RULES:
        if name not in bounds or key not in program.danger:
            continue
        low, high = bounds[name]
        threshold = program.danger[key]
        certain = {">=": low >= threshold, "<=": high <= threshold, ">": low > threshold}[comparison]
        possible = {">=": high >= threshold, "<=": low <= threshold, ">": high > threshold}[comparison]
        if certain or (possible and name in unresolved):
            sign = "≤" if comparison == "<=" else "≥" if certain else "可能≥"
            found.append(Danger(code, f"{_BOUND_NAMES[name]}{sign}{threshold:g}（未确认）", advice))
    return found


_BREASTFEEDING = re.compile(r"哺乳期|喂奶|母乳|奶孩子|喂着奶")


def pregnancy_dangers(program: Program, values: dict[str, float], text: str) -> list[Danger]:
    """Pregnant, just delivered or breastfeeding with blood pressure above normal (DOMAIN.md §2.1);
    pregnancy read through the shared concept layer and said as present now (not 以前怀孕的时候)."""
    systolic, diastolic = values.get("systolic"), values.get("diastolic")
    high = (systolic is not None and systolic >= program.danger.get("pregnant_systolic_gte", 1e9)) or (
        diastolic is not None and diastolic >= program.danger.get("pregnant_diastolic_gte", 1e9))
    if not high:
        return []
    pregnant = any(m.category == "pregnancy" and m.current
                   for part in text.split("。") if part.strip() for m in concept_mentions(part))
    pregnant = pregnant or mentioned_now(_BREASTFEEDING, text)
    return [Danger("pregnancy_high_bp", f"妊娠期血压{systolic:g}/{diastolic:g}", "high_bp")] if pregnant else []


# Passing water again and again at night, counted (夜里起来尿五六回, 一晚上跑四趟厕所): three or more is the
# marked polyuria of the danger criteria; so is drinking by the thermos (一天喝好几暖壶水).
_NIGHT_VOIDING = re.compile(
    rf"(?:夜里|晚上|一晚上?|一宿|半夜|夜间|一夜)[^，。,；;]{{0,6}}(?:尿|起夜|起来|上厕所|跑厕所|小便|解手)[^，。,；;]{{0,4}}?"
    rf"(?P<count>[{DIGITS}十几好]+)(?:个)?(?:趟|回|次|遍)"
)
_DRINKING_A_LOT = re.compile(rf"喝[^，。,；;]{{0,3}}?(?P<count>[{DIGITS}几好]+)(?:个)?(?:暖壶|暖瓶|水壶|壶|桶|大瓶)")


_THIRST = re.compile(r"口渴|口干|嘴干|渴得|老想喝水|总想喝水|喝水多|特别能喝|喝得多")
_POLYURIA = re.compile(r"尿多|尿频|尿也多|尿特别多|小便多|老上厕所|老跑厕所|尿得多|尿量大")


def _marked_polyuria(text: str) -> bool:
    """Thirst and polyuria said together (尿多老想喝水: the classic pair, DOMAIN.md §2.2 lists both as
    danger criteria), or counted: three or more times at night, thermoses drunk."""
    if mentioned(_THIRST, text) and mentioned(_POLYURIA, text):
        return True
    for pattern, least in ((_NIGHT_VOIDING, 3.0), (_DRINKING_A_LOT, 2.0)):
        for match in pattern.finditer(text):
            count = read_count(match["count"])
            if count is not None and count.low >= least and mentioned(re.escape(match.group()), text):
                return True
    return False


def symptom_dangers(program: Program, text: str) -> list[Danger]:
    """Danger symptoms said (not negated, not told as past and over) in ``text``: by the programme's
    phrasings, by its rules over the shared concept layer (``concepts`` in programs.json), or, for marked
    polyuria, by a count of night voiding or thermoses drunk."""
    found = []
    rules = _concept_rules(program.id)
    utterances = [part for part in text.split("。") if part.strip()]
    for symptom in program.danger_symptoms:
        said = mentioned_now(symptom.pattern, text) or any(
            _concept_said(rules.get(symptom.code, ()), part) for part in utterances
        )
        if not said and symptom.code == "polydipsia_polyuria_marked":
            said = any(_marked_polyuria(part) for part in utterances)
        if said:
            found.append(Danger(symptom.code, symptom.name, "symptom"))
    return found


def _concept_said(rules: tuple[tuple[str, ...], ...], utterance: str) -> bool:
    """A concept rule holds and its words are not inside a denied clause ("没有什么反应")."""
    mention = concept_rule(rules, concept_mentions(utterance), utterance) if rules else None
    return mention is not None and mentioned(re.escape(mention.surface), utterance)


@cache
def _concept_rules(program_id: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Danger-symptom code -> its concept rules, from the packaged programme data."""
    data = json.loads(resources.files("dialogue.followup.data").joinpath("programs.json").read_text("utf-8"))
    symptoms = data.get(program_id, {}).get("danger", {}).get("symptoms", [])
    return {s["code"]: tuple(tuple(rule) for rule in s.get("concepts", [])) for s in symptoms}


def classify_visit(
    program: Program,
    values: dict[str, float],
    symptoms: list[str],
    side_effects: bool | None,
    hypoglycemia: str | None,
    age: int | None = None,
) -> str | None:
    """此次随访分类 for this call, or ``None`` when the key value was not obtained and nothing else decides."""
    if any(code in program.complication_symptoms for code in symptoms):
        return COMPLICATION
    if side_effects or hypoglycemia in ("偶尔", "频繁"):
        return ADVERSE
    target = program.target
    if program.id == "hypertension":
        sys_, dia = values.get("systolic"), values.get("diastolic")
        if sys_ is None or dia is None:
            return None
        systolic_target = 150.0 if age is not None and age >= 65 else target["systolic_lt"]
        return SATISFACTORY if sys_ < systolic_target and dia < target["diastolic_lt"] else UNSATISFACTORY
    glucose = values.get("glucose")
    if glucose is None:
        return None
    return SATISFACTORY if glucose < target["glucose_lt"] else UNSATISFACTORY


@dataclass(frozen=True)
class Decision:
    """What follows this visit: ``action`` (one of :data:`ACTIONS`), the new unsatisfactory ``streak``,
    and the ``next_due`` date of the next follow-up call."""

    action: str
    streak: int
    next_due: date


def next_step(visit_class: str | None, previous_streak: int, previous_class: str | None, urgent: bool,
              today: date) -> Decision:
    """The cross-call state machine (see the module docstring)."""
    unsatisfactory = visit_class in (UNSATISFACTORY, ADVERSE) or urgent
    streak = previous_streak + 1 if unsatisfactory else (0 if visit_class == SATISFACTORY else previous_streak)
    if urgent:
        action = "urgent_referral"
    elif visit_class == COMPLICATION:
        action = "referral"
    elif visit_class == ADVERSE and previous_class == ADVERSE:
        action = "referral"  # an adverse reaction that is hard to control
    elif unsatisfactory:
        action = "referral" if streak >= 2 else "recall_2w"
    elif visit_class == SATISFACTORY:
        action = "routine"
    else:
        action = "measure_and_recall"
    return Decision(action, streak, today + timedelta(days=_NEXT_DAYS[action]))
