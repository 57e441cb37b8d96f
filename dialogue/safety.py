"""The deterministic safety floor: red-flag rules over clinical concepts, checked on every utterance.

Rules live in ``dialogue/data/red_flags.json``, one per code of the red-flag list, each with a source
and caller examples. A rule is a list of patterns; a pattern is a boolean expression over concept ids
of :mod:`medical_terms.concepts` (``all``/``any``/``not``, ``near`` for words that must be said
together, ``duration_gte`` for how long) and the vital-sign conditions (``vital``). A concept counts
when it is said and is not negated, resolved ("一会儿就好了") or past ("以前"); history counts
whenever said. Hits are sticky: a later turn or an LLM can never remove or lower them. Nothing here
logs patient text.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from dialogue.facts import Vitals
from dialogue.people import Person, infant_fever_age_days
from medical_terms.concepts import ConceptMatcher, Mention
from medical_terms.concepts.scope import CLAUSE_BREAK, SENTENCE_BREAK, clause_bounds

_FEVER_C = 38.0
_NEAR_DEFAULT = 12
_SAME_PRESSURE = 10
_SAME_GLUCOSE = 5.0  # mmol/L: 二十几 is read as 25 here, 20 by the flow
_LONE_NUMERAL = 2.0
# Categories that count even when said of the past: a known condition stays known.
_TIMELESS = ("history",)
# A patient's age said by the flow is no age of these (宝宝两个月 is not the mother's age).
_ADULTS = ("person.self", "person.parent", "person.partner", "person.elder")


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


class _Facts:
    """What one check knows: the mentions (current ones indexed by concept), vitals and person."""

    def __init__(self, text: str, mentions: list[Mention], vitals: Vitals, person: Person,
                 spoken_values: bool = True, subject: str | None = None, whole: _Facts | None = None) -> None:
        self.text = text
        self.mentions = mentions
        self.spoken_values = spoken_values
        self.vitals = vitals
        self.person = person
        self.subject = subject
        self.whole = whole  # the call's facts, when these are one person's
        self._people: list[_Facts] | None = None
        self.current: dict[str, list[Mention]] = defaultdict(list)
        self.past: dict[str, list[Mention]] = defaultdict(list)
        self.site_starts = [mention.start for mention in mentions if mention.category == "site"]
        self.said: dict[str, list[Mention]] = defaultdict(list)
        for mention in mentions:
            if not mention.negated and not (mention.past and mention.category not in _TIMELESS):
                self.said[mention.concept].append(mention)
        for mention in mentions:
            if mention.negated or mention.resolved or (mention.past and mention.category not in _TIMELESS):
                if mention.past:
                    self.past[mention.concept].append(mention)
                continue
            self.current[mention.concept].append(mention)

    def people(self) -> list[_Facts]:
        """The facts about each person spoken of: their mentions and those said of nobody in particular
        ("孩子两个月，我发烧" is two people; "两个月大，发烧" one). Only the whole call when nobody is named."""
        if self._people is None:
            keys = list(dict.fromkeys(m.subject for m in self.mentions if m.subject is not None))
            self._people = [
                _Facts(self.text, [m for m in self.mentions if m.subject in (key, None)], self.vitals, self.person,
                       self.spoken_values, key, self)
                for key in keys
            ] or [self]
        return self._people

    def of(self, concept: str) -> list[Mention]:
        if concept.startswith("~"):  # said now, even if it has eased since
            return self.said.get(concept[1:], [])
        if concept.endswith(".*"):
            prefix = concept[:-1]
            return [m for key, found in self.current.items() if key.startswith(prefix) for m in found]
        return self.current.get(concept, [])


# A condition returns the evidence mentions when it holds (possibly none, for vitals), else None.
Evidence = list[Mention] | None


@dataclass(frozen=True)
class _Term:
    """One term of a ``near``: any of some concepts, optionally a duration of at least N minutes."""

    concepts: tuple[str, ...]
    min_minutes: float | None = None
    max_minutes: float = float("inf")

    def mentions(self, facts: _Facts) -> list[Mention]:
        found = [m for concept in self.concepts for m in facts.of(concept)]
        if self.min_minutes is not None:
            found += [m for m in facts.of("dur.minutes")
                      if m.value is not None and self.min_minutes <= m.value <= self.max_minutes]
        return found


@dataclass(frozen=True)
class _Node:
    kind: str
    children: tuple[Any, ...] = ()
    within: int = _NEAR_DEFAULT
    clause: bool = False
    vital: tuple[tuple[str, Any], ...] = ()

    def holds(self, facts: _Facts) -> Evidence:
        if self.kind == "term":
            found = self.children[0].mentions(facts)
            return found[:1] or None
        if self.kind == "all":
            evidence: list[Mention] = []
            for child in self.children:
                got = child.holds(facts)
                if got is None:
                    return None
                evidence.extend(got)
            return evidence
        if self.kind == "any":
            for child in self.children:
                got = child.holds(facts)
                if got is not None:
                    return list(got)
            return None
        if self.kind == "not":
            return None if self.children[0].holds(facts) is not None else []
        if self.kind == "near":
            return _near(self, facts)
        if self.kind == "one_person":  # every finding about the same person (or nobody named)
            inner: _Node = self.children[0]
            for person in facts.people():
                found = inner.holds(person)
                if found is not None:
                    return found
            return None
        return [] if _vitals_hold(dict(self.vital), facts) else None


def _near(node: _Node, facts: _Facts) -> Evidence:
    first, *others = node.children
    for anchor in first.mentions(facts):
        chosen = [anchor]
        for term in others:
            partner = next((m for m in term.mentions(facts) if _close(anchor, m, node, facts)), None)
            if partner is None:
                break
            chosen.append(partner)
        else:
            return chosen
    return None


def _close(a: Mention, b: Mention, node: _Node, facts: _Facts) -> bool:
    low, high = (a, b) if a.start <= b.start else (b, a)
    gap = max(0, high.start - low.end)
    if gap > node.within:
        return False
    if not node.clause:
        return True
    between = facts.text[low.end:max(low.end, high.start)]
    if not CLAUSE_BREAK.search(between):
        return True
    return _continues_site(low, high, between, facts)


def _continues_site(site: Mention, finding: Mention, between: str, facts: _Facts) -> bool:
    """A finding in the clause right after a site, in a clause naming no other site, is about that
    site ("肚子这块儿呢，疼得要命")."""
    if site.category != "site" or finding.category == "site":
        return False
    breaks = list(CLAUSE_BREAK.finditer(between))
    if len(breaks) != 1 or SENTENCE_BREAK.search(breaks[0].group()):
        return False
    clause_start, clause_end = clause_bounds(facts.text, finding.start)
    return not any(clause_start <= start < clause_end for start in facts.site_starts)


def _vitals_hold(vital: dict[str, Any], facts: _Facts) -> bool:
    vitals, person = facts.vitals, facts.person
    glucose_readings = _spoken(facts, "reading.glucose")
    spo2_readings = [m.value for m in facts.of("reading.spo2") if m.value is not None]
    glucose = list(glucose_readings)
    # The flow's reader takes 血糖一直… as a glucose of 1; a lone 一/两 is a word unless a reading agrees.
    # A value the caller said of the past ("上次血糖二十几住过院，现在控制在七八") is no reading now.
    if (vitals.glucose is not None and (vitals.glucose > _LONE_NUMERAL or glucose_readings)
            and not _said_of_the_past(facts, "reading.glucose", vitals.glucose, _SAME_GLUCOSE)):
        glucose.append(vitals.glucose)
    systolic = _pressures(facts, vitals.systolic, "reading.bp_systolic")
    diastolic = _pressures(facts, vitals.diastolic, "reading.bp_diastolic")
    rates = _spoken(facts, "reading.heart_rate")
    if vitals.heart_rate is not None:
        rates.append(vitals.heart_rate)
    ages = [m.value for m in facts.of("reading.age_days") if m.value is not None]
    if person.age_days is not None and (facts.whole is None or facts.subject == getattr(person, "patient", None)
                                        or not ages and facts.subject not in _ADULTS):
        ages.append(person.age_days)
    checks: dict[str, Callable[[Any], bool]] = {
        "systolic_gte": lambda v: any(p >= v for p in systolic),
        "diastolic_gte": lambda v: any(p >= v for p in diastolic),
        "glucose_lte": lambda v: any(g <= v for g in glucose),
        "glucose_gte": lambda v: any(g >= v for g in glucose),
        "heart_rate_gte": lambda v: any(rate >= v for rate in rates),
        "heart_rate_lte": lambda v: any(rate <= v for rate in rates),
        "spo2_lt": lambda v: any(s < v for s in spo2_readings),
        "infant_age_days_lt": lambda v: any(age < v for age in ages),
        "fever": lambda _v: _has_fever(facts),
    }
    unknown = set(vital) - set(checks)
    if unknown:
        raise ValueError(f"red-flag vital condition(s) {sorted(unknown)} unknown; use one of {sorted(checks)}")
    return all(checks[name](value) for name, value in vital.items())


def _spoken(facts: _Facts, concept: str) -> list[float]:
    """The caller's spoken readings of a measured value, unless the flow owns those values."""
    if not facts.spoken_values:
        return []
    return [m.value for m in facts.of(concept) if m.value is not None]


def _pressures(facts: _Facts, read: float | None, concept: str) -> list[float]:
    """Pressures said now: the concept layer's readings, and the value the flow read unless the
    caller said that value of the past ("血压以前一百八十多，现在一百三")."""
    if not facts.spoken_values:
        return [] if read is None else [read]
    current = [m.value for m in facts.of(concept) if m.value is not None]
    past = [m.value for m in facts.past.get(concept, ()) if m.value is not None]

    def said(values: list[float], flow_value: float) -> bool:  # 一百八十多 is read as 185 here, 180 by the flow
        return any(abs(value - flow_value) <= _SAME_PRESSURE for value in values)

    if read is not None and (said(current, read) or not said(past, read)):
        current.append(read)
    return current


def _said_of_the_past(facts: _Facts, concept: str, value: float, tolerance: float) -> bool:
    """The flow's ``value`` matches a reading the caller put in the past, and no reading said now."""
    def near(mentions: list[Mention]) -> bool:
        return any(m.value is not None and abs(m.value - value) <= tolerance for m in mentions)

    return near(facts.past.get(concept, [])) and not near(facts.of(concept))


def _has_fever(facts: _Facts) -> bool:
    if facts.whole is not None:  # one person's: their own temperature, else the flow's if nobody's was said
        said = [m.value for m in facts.said.get("reading.temperature", ()) if m.value is not None]
        if said:
            return max(said) >= _FEVER_C
        if facts.whole.said.get("reading.temperature"):
            return bool(facts.of("sym.fever"))
    if facts.vitals.temperature_c is not None:
        return facts.vitals.temperature_c >= _FEVER_C
    # Missing information never lowers urgency: a fever word without a number counts.
    return bool(facts.of("sym.fever"))


@dataclass(frozen=True)
class _Pattern:
    condition: _Node
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

    def match(self, text: str, vitals: Vitals, person: Person, mentions: list[Mention] | None = None) -> RedFlagHit | None:
        """The hit for ``text`` given what is known, or ``None``; the most urgent pattern wins."""
        if mentions is None:
            mentions = ConceptMatcher.load().find(text)
        return self._match(_Facts(text, mentions, vitals, person))

    def _match(self, facts: _Facts) -> RedFlagHit | None:
        best: RedFlagHit | None = None
        for pattern in self.patterns:
            evidence = pattern.condition.holds(facts)
            if evidence is None:
                continue
            level = pattern.level or self.level
            if best is None or level < best.level:
                words = "、".join(dict.fromkeys(m.surface for m in evidence)) or _vital_evidence(facts)
                best = RedFlagHit(self.code, self.name, level, self.action, words, self.source)
        return best


def _vital_evidence(facts: _Facts) -> str:
    vitals, person = facts.vitals, facts.person
    parts = []
    if vitals.systolic is not None or vitals.diastolic is not None:
        parts.append(f"血压{_fmt(vitals.systolic)}/{_fmt(vitals.diastolic)}")
    if vitals.glucose is not None:
        parts.append(f"血糖{_fmt(vitals.glucose)}")
    if vitals.heart_rate is not None:
        parts.append(f"心率{_fmt(vitals.heart_rate)}")
    if person.age_days is not None:
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

    def check(self, text: str, vitals: Vitals | None = None, person: Person | None = None, *,
              spoken_values: bool = True) -> list[RedFlagHit]:
        """Every red flag in ``text`` (the call's caller turns so far), most urgent first.

        Args:
            text: Caller speech; pass the whole call so far, so flags build up across turns.
            vitals: Values read so far (default: read from ``text``).
            person: Who is affected (default: read from ``text``).
            spoken_values: Whether blood pressure, glucose and heart rate said in ``text`` count. A
                follow-up call turns this off: there those values are the programme's danger criteria,
                read back and confirmed (DOMAIN.md §2), and only ``vitals`` passed in hold them.
        """
        if vitals is None:
            vitals = Vitals()
            if spoken_values:
                vitals.update(text)
        if person is None:
            person = Person()
            person.update(text)
        facts = _Facts(text, ConceptMatcher.load().find(text), vitals, person, spoken_values)
        hits = [hit for rule in self.rules if (hit := rule._match(facts)) is not None]
        return sorted(hits, key=lambda hit: hit.level)


def _compile(raw: Any, known: set[str]) -> _Node:
    """One expression of the data file: a concept id, a list (any), or a dict of conditions (all). A
    concept id may start with ``~``: said, even if it has eased since."""
    if isinstance(raw, str):
        return _Node("term", (_term(raw, known),))
    if isinstance(raw, list):
        return _Node("any", tuple(_compile(item, known) for item in raw))
    parts = []
    for key, value in raw.items():
        if key in ("level", "note", "within", "clause", "duration_lte", "one_person"):
            continue
        if key == "all":
            parts.append(_Node("all", tuple(_compile(item, known) for item in value)))
        elif key == "any":
            parts.append(_Node("any", tuple(_compile(item, known) for item in value)))
        elif key == "not":
            parts.append(_Node("not", (_compile(value, known),)))
        elif key == "near":
            parts.append(_Node("near", tuple(_term(item, known) for item in value),
                               within=raw.get("within", _NEAR_DEFAULT), clause=raw.get("clause", False)))
        elif key == "duration_gte":
            parts.append(_Node("term", (_term(raw, known),)))
        elif key == "vital":
            vital = dict(value)
            if vital.get("infant_age_days_lt") is True:
                vital["infant_age_days_lt"] = infant_fever_age_days()
            parts.append(_Node("vital", vital=tuple(vital.items())))
        else:
            raise ValueError(f"red-flag expression key {key!r} unknown")
    node = parts[0] if len(parts) == 1 else _Node("all", tuple(parts))
    return _Node("one_person", (node,)) if raw.get("one_person") else node


def _term(raw: Any, known: set[str]) -> _Term:
    items = [raw] if isinstance(raw, (str, dict)) else list(raw)
    spans = [item for item in items if isinstance(item, dict)]
    concepts = tuple(item for item in items if isinstance(item, str))
    for concept in concepts:
        concept = concept.removeprefix("~")
        if not (concept in known or (concept.endswith(".*") and any(k.startswith(concept[:-1]) for k in known))):
            raise ValueError(f"red-flag rule names unknown concept {concept!r}")
    if not spans:
        return _Term(concepts)
    return _Term(concepts, float(spans[0]["duration_gte"]), float(spans[0].get("duration_lte", float("inf"))))


@cache
def _load_rules(resource: str) -> SafetyRules:
    data = json.loads(resources.files("dialogue.data").joinpath(resource).read_text("utf-8"))
    known = set(ConceptMatcher.load().by_id)
    rules = []
    for raw in data["rules"]:
        patterns = tuple(_Pattern(_compile(pattern, known), pattern.get("level")) for pattern in raw["patterns"])
        rules.append(RedFlagRule(raw["code"], raw["name"], raw["level"], raw["action"], raw["source"],
                                 patterns, tuple(raw["examples"])))
    return SafetyRules(tuple(rules))
