"""The deterministic safety floor: red-flag rules (data) checked on every caller utterance.

Rules live in ``dialogue/data/red_flags.json``, one per code of the red-flag list, each with a source.
A rule fires when all regex groups of one of its patterns match without negation (optionally close
together) and its vital-sign conditions hold. Hits are sticky: a later turn or an LLM can never
remove or lower them. Nothing here logs patient text.
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
from dialogue.people import Person, infant_fever_age_days

# "~" in a rule regex: a short gap without negation or punctuation ("胸口~疼" matches "胸口有点疼").
_GAP = r"[^不没无未别，。,；;！!？?]{0,4}"
_FEVER = re.compile(r"发烧|发热|高烧|低烧|烧起来|烧得(?:滚烫|厉害|很高|迷糊|难受|烫)|体温高|烫手|额头烫|滚烫|身上烫")


@dataclass(frozen=True)
class RedFlagHit:
    """One red flag raised in this call.

    Parameters:
        code: Rule code (``chest_pain_acs``...), as in the red-flag list.
        name: Mandarin name for nurses.
        level: Minimum triage level the flag forces (1 or 2).
        action: Which emergency instruction to give (``call_120``, ``call_12356``...).
        evidence: The caller words that triggered it (patient data: never log).
        source: Where the rule comes from.
    """

    code: str
    name: str
    level: int
    action: str
    evidence: str
    source: str


@dataclass(frozen=True)
class _Pattern:
    groups: tuple[re.Pattern[str], ...]
    near: int | None
    vital: dict[str, Any]
    level: int | None


@dataclass(frozen=True)
class RedFlagRule:
    """One red-flag rule compiled from the data file."""

    code: str
    name: str
    level: int
    action: str
    source: str
    patterns: tuple[_Pattern, ...] = field(repr=False)
    examples: tuple[str, ...] = ()

    def match(self, text: str, vitals: Vitals, person: Person) -> RedFlagHit | None:
        """The hit for ``text`` given what is known, or ``None``; the most urgent pattern wins."""
        best: RedFlagHit | None = None
        for pattern in self.patterns:
            evidence = _pattern_evidence(pattern, text, vitals, person)
            if evidence is None:
                continue
            level = pattern.level or self.level
            if best is None or level < best.level:
                best = RedFlagHit(self.code, self.name, level, self.action, evidence, self.source)
        return best


def _pattern_evidence(pattern: _Pattern, text: str, vitals: Vitals, person: Person) -> str | None:
    words = []
    for group in pattern.groups:
        positive = next((m for m in group.finditer(text) if not is_negated(text, m.start())), None)
        if positive is None:
            return None
        words.append(positive.group())
    if pattern.near is not None and not _close_together(pattern, text):
        return None
    if pattern.vital and not _vitals_hold(pattern.vital, text, vitals, person):
        return None
    return "、".join(words) if words else _vital_evidence(pattern.vital, vitals, person)


def _close_together(pattern: _Pattern, text: str) -> bool:
    first, *others = pattern.groups
    for anchor in first.finditer(text):
        if is_negated(text, anchor.start()):
            continue
        low, high = anchor.start() - pattern.near, anchor.end() + pattern.near  # type: ignore[operator]
        if all(
            any(low <= m.start() <= high and not is_negated(text, m.start()) for m in other.finditer(text))
            for other in others
        ):
            return True
    return False


def _vitals_hold(vital: dict[str, Any], text: str, vitals: Vitals, person: Person) -> bool:
    checks = {
        "systolic_gte": lambda v: vitals.systolic is not None and vitals.systolic >= v,
        "diastolic_gte": lambda v: vitals.diastolic is not None and vitals.diastolic >= v,
        "glucose_lte": lambda v: vitals.glucose is not None and vitals.glucose <= v,
        "glucose_gte": lambda v: vitals.glucose is not None and vitals.glucose >= v,
        "heart_rate_gte": lambda v: vitals.heart_rate is not None and vitals.heart_rate >= v,
        "heart_rate_lte": lambda v: vitals.heart_rate is not None and vitals.heart_rate <= v,
        "infant_age_days_lt": lambda v: person.age_days is not None and person.age_days < v,
        "fever": lambda _v: _has_fever(text, vitals),
    }
    unknown = set(vital) - set(checks)
    if unknown:
        raise ValueError(f"red-flag vital condition(s) {sorted(unknown)} unknown; use one of {sorted(checks)}")
    return all(checks[name](value) for name, value in vital.items())


def _has_fever(text: str, vitals: Vitals) -> bool:
    if vitals.temperature_c is not None:
        return vitals.temperature_c >= 38.0
    # Missing information never lowers urgency: a fever word without a number counts.
    return any(not is_negated(text, m.start()) for m in _FEVER.finditer(text))


def _vital_evidence(vital: dict[str, Any], vitals: Vitals, person: Person) -> str:
    parts = []
    if "systolic_gte" in vital or "diastolic_gte" in vital:
        parts.append(f"血压{_fmt(vitals.systolic)}/{_fmt(vitals.diastolic)}")
    if "glucose_lte" in vital or "glucose_gte" in vital:
        parts.append(f"血糖{_fmt(vitals.glucose)}")
    if "heart_rate_gte" in vital or "heart_rate_lte" in vital:
        parts.append(f"心率{_fmt(vitals.heart_rate)}")
    if "infant_age_days_lt" in vital:
        parts.append(f"年龄{person.age_days}天，体温{_fmt(vitals.temperature_c)}")
    return "、".join(parts)


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


class SafetyRules:
    """All red-flag rules; :meth:`check` returns every rule that fires on the call so far."""

    def __init__(self, rules: tuple[RedFlagRule, ...]) -> None:
        self.rules = rules

    @classmethod
    def load(cls, resource: str = "red_flags.json") -> SafetyRules:
        """Load rules from ``dialogue/data/<resource>``."""
        return _load_rules(resource)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(rule.code for rule in self.rules)

    def check(self, text: str, vitals: Vitals | None = None, person: Person | None = None) -> list[RedFlagHit]:
        """Every red flag in ``text`` (the call's caller turns so far), most urgent first.

        Args:
            text: Caller speech; pass the whole call so far, so flags build up across turns.
            vitals: Values read so far (default: read from ``text``).
            person: Who is affected (default: read from ``text``).
        """
        if vitals is None:
            vitals = Vitals()
            vitals.update(text)
        if person is None:
            person = Person()
            person.update(text)
        hits = [hit for rule in self.rules if (hit := rule.match(text, vitals, person)) is not None]
        return sorted(hits, key=lambda hit: hit.level)


@cache
def _load_rules(resource: str) -> SafetyRules:
    data = json.loads(resources.files("dialogue.data").joinpath(resource).read_text("utf-8"))
    rules = []
    for raw in data["rules"]:
        patterns = []
        for pattern in raw["patterns"]:
            vital = dict(pattern.get("vital", {}))
            if vital.get("infant_age_days_lt") is True:
                vital["infant_age_days_lt"] = infant_fever_age_days()
            patterns.append(
                _Pattern(
                    groups=tuple(re.compile(g.replace("~", _GAP)) for g in pattern.get("all", [])),
                    near=pattern.get("near"),
                    vital=vital,
                    level=pattern.get("level"),
                )
            )
        rules.append(RedFlagRule(raw["code"], raw["name"], raw["level"], raw["action"], raw["source"],
                                 tuple(patterns), tuple(raw["examples"])))
    return SafetyRules(tuple(rules))
