"""Triage slots from colloquial speech: complaints (lexicon), onset, pain score, yes/no answers.

Everything is lexicon + pattern based (``dialogue/data/complaints.json``), so the rules-only dialogue
understands "拉肚子", "嗓子疼得咽不下去" or "七八分吧" without any model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from dialogue.facts import Vitals
from dialogue.negation import is_negated
from dialogue.people import Person
from dialogue.triage.discriminators import Assessment, concept_mentions, concept_rule
from medical_terms import NUMERAL, parse_number

_ONSET = re.compile(
    rf"(刚才|刚刚|今天|昨天|前天|今早|早上|昨晚|半夜|上午|下午|晚上|最近|这两天|这几天|上周|上个月|"
    rf"好几(?:天|个月|年|周|个礼拜)|一个多(?:月|星期|礼拜)|半年|一上午|一下午|一晚上|"
    rf"(?:{NUMERAL})多?(?:个)?(?:小时|天|周|星期|礼拜|个?月|年)(?:了|前|以前|左右)?)"
)
_SCORE = re.compile(rf"({NUMERAL})(?:到({NUMERAL}))?\s*分|(?:打|给|算)\s*({NUMERAL})|^\s*({NUMERAL})\s*(?:吧|左右)?\s*$")
_SCORE_WORDS = {"不疼": 0, "不太疼": 2, "有点疼": 3, "一点点": 2, "还能忍": 4, "比较疼": 5, "挺疼": 6,
                "很疼": 7, "特别疼": 8, "非常疼": 8, "疼得受不了": 9, "疼死了": 10, "最疼": 10}
_STATED_SCORE = re.compile(rf"(?:疼|痛|评分|打)[^，。,]{{0,6}}?({NUMERAL})分(?:吧|左右|[，。,！!？?]|$)")
_YES = re.compile(r"^(?:(?!不)(?:好|行|可以|要|是|对|嗯|预约|约|麻烦|需要|帮我|成|没问题|ok|OK))")
_NO = re.compile(r"不用|不要|不需要|算了|没有|不是|不了|先不|不必|别")
_DENIED_CLAUSE = re.compile(r"^(?:也|都|基本|倒是|好像|最近)?(?:没有|没|无|不|从来没有?|一直没有?)(?!事|什么事|停|断|止|住|行|舒服|对劲|好|少|了)")
_TURNS_POSITIVE = re.compile(r"有点|有些|就是|只是|但是|但|可是|还是有|倒是有")
_UNKNOWN = re.compile(r"不知道|不清楚|说不好|记不清|不确定|不太清楚|没注意")


@dataclass(frozen=True)
class Complaint:
    """A recognised complaint concept (see complaints.json)."""

    id: str
    name: str
    dept: str
    level: int
    priority: int
    asks_pain: bool
    chronic_level: int | None
    position: int
    acute_level: int | None = None


@dataclass
class TriageSlots:
    """Slots of one triage call; ``None`` = not yet known."""

    complaints: list[Complaint] = field(default_factory=list)
    onset: str | None = None
    severity: int | None = None
    severity_said: bool = False
    person: Person = field(default_factory=Person)
    vitals: Vitals = field(default_factory=Vitals)
    intense: bool = False
    chronic: bool = False
    acute: bool = False
    routine: bool = False
    settled: bool = False
    assessment: Assessment = field(default_factory=Assessment)

    def update(self, text: str) -> None:
        """Fold one caller utterance in (complaints accumulate; later values replace earlier ones)."""
        self.person.update(text)
        self.vitals.update(text)
        known = {c.id for c in self.complaints}
        self.complaints += [c for c in find_complaints(text) if c.id not in known]
        onset = read_onset(text)
        self.onset = onset or self.onset
        stated = _STATED_SCORE.search(text)
        if stated:
            self.record_severity(_score_value(stated.group(1)))
        modifiers = _lexicon()["modifiers"]
        self.intense = self.intense or _positive(modifiers["intensity"], text)
        self.chronic = self.chronic or _positive(modifiers["chronic"], text)
        self.acute = self.acute or _positive(modifiers["acute"], text)
        self.routine = self.routine or _positive(modifiers["routine"], text)
        self.settled = self.settled or bool(re.search(modifiers["settled"], text))
        self.assessment.observe(text, self.person)

    def record_severity(self, score: int | None) -> None:
        """A pain score the caller said; the higher of two readings stands (over-triage is the safe side)."""
        if score is not None:
            self.severity = max(score, self.severity or 0)
            self.severity_said = True

    @property
    def vitals_said(self) -> bool:
        """The caller read out a measurement (a reason to decide even without a named complaint)."""
        return any(value is not None for value in vars(self.vitals).values())

    @property
    def asks_pain(self) -> bool:
        return any(c.asks_pain for c in self.complaints)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able view for the page and records (patient data)."""
        return {
            "complaints": [c.name for c in self.complaints],
            "onset": self.onset,
            "severity": self.severity,
            "relation": self.person.relation,
            "age_group": self.person.age_group,
            "age_days": self.person.age_days,
            "pregnant": self.person.pregnant,
            "vitals": {k: v for k, v in vars(self.vitals).items() if v is not None},
        }


def complaint(concept_id: str, position: int = 0) -> Complaint:
    """The lexicon concept ``concept_id`` as a :class:`Complaint`.

    Raises:
        KeyError: no such concept (names the known ids).
    """
    for concept in _lexicon()["concepts"]:
        if concept["id"] == concept_id:
            return _as_complaint(concept, position)
    known = [c["id"] for c in _lexicon()["concepts"]]
    raise KeyError(f"complaint concept {concept_id!r} unknown; known: {known}")


def _as_complaint(concept: dict[str, Any], position: int) -> Complaint:
    return Complaint(concept["id"], concept["name"], concept["dept"], concept["level"], concept["priority"],
                     concept.get("pain", False), concept.get("chronic_level"), position, concept.get("acute_level"))


def find_complaints(text: str) -> list[Complaint]:
    """Every non-negated complaint concept in ``text``, in order of mention ("没有头疼头晕" negates both):
    by the lexicon's phrasings or by its rules over the shared concept layer (``concepts``)."""
    found = []
    mentions = concept_mentions(text)
    for concept in _lexicon()["concepts"]:
        position = next((match.start() for pattern in concept["compiled"] for match in pattern.finditer(text)
                         if not is_negated(text, match.start()) and not _in_denied_clause(text, match.start())), None)
        if position is None and concept["concept_rules"]:
            mention = concept_rule(concept["concept_rules"], mentions, text)
            if mention is not None and not _in_denied_clause(text, mention.start):
                position = mention.start
        if position is not None:
            found.append(_as_complaint(concept, position))
    return sorted(found, key=lambda c: c.position)


def _in_denied_clause(text: str, start: int) -> bool:
    """The match sits in a clause that opens with a denial and never turns positive ("没有头疼头晕")."""
    clause_start = max(text.rfind(mark, 0, start) for mark in "，,。；;！!？?") + 1
    ends = [i for i in (text.find(mark, start) for mark in "，,。；;！!？?") if i >= 0]
    clause = text[clause_start:min(ends) if ends else len(text)].strip()
    return bool(_DENIED_CLAUSE.match(clause)) and not _TURNS_POSITIVE.search(clause)


def read_onset(text: str) -> str | None:
    """When it started, in the caller's words ("昨天晚上", "两天了", "好几个月")."""
    match = _ONSET.search(text)
    return match.group(0) if match else None


def read_severity(text: str) -> int | None:
    """A 0-10 pain score from "七分", "七八分吧", "8", "疼得受不了" (a range reads as its top)."""
    match = _SCORE.search(text)
    if match:
        numbers = [g for g in (match.group(2), match.group(1), match.group(3), match.group(4)) if g]
        value = _score_value(numbers[0])
        if value is not None:
            return value
    for words, score in sorted(_SCORE_WORDS.items(), key=lambda item: -len(item[0])):
        if words in text:
            return score
    return None


def _score_value(numeral: str) -> int | None:
    if len(numeral) == 2 and all(ch in "一二三四五六七八九" for ch in numeral):
        numeral = numeral[1]  # "七八分" -> the higher of the two: over-triage is the safe side
    value = parse_number(numeral)
    return int(value) if value is not None and 0 <= value <= 10 else None


def is_yes(text: str) -> bool:
    """An agreement ("好的", "可以", "要", "嗯") that is not a refusal."""
    text = text.strip("，。！？,.!? ")
    return bool(_YES.match(text)) and not _NO.search(text)


def is_no(text: str) -> bool:
    return bool(_NO.search(text)) and not is_yes(text)


def is_unknown(text: str) -> bool:
    return bool(_UNKNOWN.search(text))


def _positive(pattern: str, text: str) -> bool:
    return any(not is_negated(text, m.start()) for m in re.finditer(pattern, text))


@cache
def _lexicon() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("dialogue.data").joinpath("complaints.json").read_text("utf-8"))
    for concept in data["concepts"]:
        concept["compiled"] = [re.compile(p) for p in concept["patterns"]]
        concept["concept_rules"] = tuple(tuple(rule) for rule in concept.get("concepts", []))
    return data
