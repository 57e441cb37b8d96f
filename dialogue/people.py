"""Who is affected: the patient a caller speaks about, and what is known of them.

The caller may be the patient, or call about a father, a three-month-old, a pregnant wife, a neighbour —
and often names two people at once ("宝宝两个月，我自己发烧三十八度五"). The people lexicon and the
subject model live in the concept layer (:mod:`medical_terms.concepts`: ``data/people.json``,
:mod:`~medical_terms.concepts.subjects`); here they become a :class:`Person`: the patient is the person
the call's findings are said about, and ages ("孩子三个月", "我七十多岁了"), sex and pregnancy are kept
per person, so the patient's age is never another person's. Age group drives routing (child -> 儿科) and
rules (infant fever, elderly up-triage).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from dialogue.negation import is_negated
from medical_terms import NUMERAL, parse_number
from medical_terms.concepts import ConceptMatcher, Mention, Subjects, people_lexicon

AGE_GROUPS = ("infant", "child", "adult", "elderly")
SELF = "person.self"
_CHILD_WORD = r"(?:孩子|宝宝|婴儿|儿子|女儿|小孩|娃|孙子|孙女|闺女|外孙|患儿|小朋友|囡|伢|崽|毛头)"
_CHILD_AGE = re.compile(
    rf"{_CHILD_WORD}[^，。,；;？?！!]{{0,4}}?(?:才|刚|刚满|有|出生)?({NUMERAL})(?:个)?多?半?(月|天|周|星期|岁)"
)
_BARE_MONTHS = re.compile(
    rf"(?:才|刚|刚满|不到|还不到|出生|生出来|生下来)才?({NUMERAL})个?多?半?(月|天|周|星期)|({NUMERAL})个多?半?月(?:大|的(?:宝宝|孩子|婴儿|小孩))"
)
_YEARS = re.compile(rf"({NUMERAL})多?(?:周)?岁|(?:我|他|她|今年|年纪|已经)(?:今年)?({NUMERAL})多?了")
_PREGNANT = re.compile(r"怀孕|怀着|(?<!避)孕(?!前)|身孕|孕妇|有了宝宝|怀了")
_DAYS_PER = {"天": 1, "周": 7, "星期": 7, "月": 30, "岁": 365}
# What a call is about: a person named with one of these is the patient (not a site or a descriptor).
_FINDINGS = ("symptom", "sign", "diagnosis", "intent", "substance", "event")


@dataclass
class _Profile:
    """What is known about one person spoken of; ``None`` = not said (never read as 'no')."""

    age_group: str | None = None
    age_days: int | None = None
    female: bool | None = None
    pregnant: bool | None = None

    def set_age_days(self, days: int) -> None:
        self.age_days = days
        self.age_group = age_group_for_days(days)


class Person:
    """The patient of a call: who it is (``relation``) and their age, sex and pregnancy.

    The patient is the person the first finding said about a named person is about ("我妈胸口疼":
    the mother); until then a person named is taken as the patient provisionally, and with nobody named
    it is the caller. Each person's age and pregnancy are kept apart, so "宝宝两个月，我自己发烧" is the
    caller's fever and no infant's.
    """

    def __init__(self) -> None:
        self.patient: str = SELF
        self._anchored = False
        self._third: str | None = None
        self._profiles: dict[str, _Profile] = {}

    def __repr__(self) -> str:
        return (f"Person(relation={self.relation!r}, age_group={self.age_group!r}, age_days={self.age_days!r}, "
                f"female={self.female!r}, pregnant={self.pregnant!r})")

    @property
    def named(self) -> bool:
        """Whether a finding was said of a named person, who is then the patient."""
        return self._anchored

    @property
    def adult(self) -> bool:
        """Whether the patient is known to be no child: a finding said of the caller or an adult relative,
        or an adult age said."""
        if self.age_group is not None:
            return self.age_group in ("adult", "elderly")
        return self._anchored and _attributes()[self.patient]["relation"] in ("self", "parent", "partner", "elder")

    def _profile(self, key: str | None = None) -> _Profile:
        return self._profiles.setdefault(key or self.patient, _Profile())

    @property
    def relation(self) -> str:
        """The patient's relation to the caller: self, child, elder, parent, partner or other."""
        return str(_attributes()[self.patient]["relation"])

    @property
    def age_group(self) -> str | None:
        return self._profile().age_group

    @age_group.setter
    def age_group(self, value: str | None) -> None:
        self._profile().age_group = value

    @property
    def age_days(self) -> int | None:
        return self._profile().age_days

    @age_days.setter
    def age_days(self, value: int | None) -> None:
        if value is None:
            self._profile().age_days = None
        else:
            self._profile().set_age_days(value)

    @property
    def female(self) -> bool | None:
        return self._profile().female

    @female.setter
    def female(self, value: bool | None) -> None:
        self._profile().female = value

    @property
    def pregnant(self) -> bool | None:
        return self._profile().pregnant

    @pregnant.setter
    def pregnant(self, value: bool | None) -> None:
        self._profile().pregnant = value
        if value:
            self._profile().female = True

    def update(self, text: str) -> None:
        """Fold one caller utterance into what we know."""
        if not text:
            return
        matcher = ConceptMatcher.load()
        mentions = matcher.find(text)
        subjects = matcher.subjects(text, mentions, self._third)
        self._choose_patient(mentions, subjects)
        self._third = subjects.third or self._third
        attributes = _attributes()
        for mention in reversed(mentions):  # a head word before its modifiers: 邻居大爷 is elderly
            if mention.category != "person" or mention.negated:
                continue
            subject = subjects.denotes(mention.start)
            entry = attributes.get(mention.concept)
            if entry is None or subject is None:
                continue
            profile = self._profile(subject)
            if mention.surface in entry["female_forms"]:
                profile.female = True
            days = entry["age_days_forms"].get(mention.surface)
            if days is not None and profile.age_days is None:
                profile.set_age_days(days)
            if entry["age_group"] and profile.age_days is None and profile.age_group is None:
                profile.age_group = entry["age_group"]
        for word in people_lexicon()["elderly_words"]:
            for found in re.finditer(re.escape(word), text):
                self._profile(subjects.at(found.start())).age_group = "elderly"
        for start, end, days in _age_spans(text):
            self._profile(subjects.at(start, end)).set_age_days(days)
        for pregnancy in _PREGNANT.finditer(text):
            profile = self._profile(subjects.at(pregnancy.start()))
            profile.pregnant = not is_negated(text, pregnancy.start())
            if profile.pregnant:
                profile.female = True

    def _choose_patient(self, mentions: list[Mention], subjects: Subjects) -> None:
        people = [m for m in mentions if m.category == "person"]
        denied = next((m for m in people if m.negated), None)
        if denied is not None:  # a correction: "不是我，是我妈" names the patient whatever was said before
            named = [subjects.denotes(m.start) for m in people if not m.negated and m.start > denied.start]
            corrected = next((who for who in named if who not in (None, SELF)), None)  # 是我奶奶: 奶奶
            corrected = corrected or next((who for who in named if who is not None), None)
            if corrected is not None:
                self.patient, self._anchored = corrected, True
                return
        if self._anchored:
            return
        for mention in mentions:
            if mention.category in _FINDINGS and not (mention.negated or mention.past):
                subject = subjects.at(mention.start)
                if subject is not None:
                    self.patient, self._anchored = subject, True
                    return
        named = [subjects.denotes(m.start) for m in mentions if m.category == "person"]
        others = [who for who in named if who not in (None, SELF)]
        if others and self.patient == SELF:
            self.patient = others[0]


def read_age_days(text: str) -> int | None:
    """Age in days from "孩子两个月大", "宝宝出生十天", "我七十多岁了" (not "怀孕七个月")."""
    return next((days for _, _, days in _age_spans(text)), None)


def _age_spans(text: str) -> Iterator[tuple[int, int, int]]:
    """``(start, end, days)`` of the first age said in ``text`` by each reading (a child's age first)."""
    match = _CHILD_AGE.search(text)
    if match:
        days = _days(match.group(1), match.group(2))
        if days is not None:
            yield match.start(), match.end(), days
            return
    match = _BARE_MONTHS.search(text)
    if match and not re.search(r"(怀孕|孕)[^，。]{0,2}$", text[: match.start()]):
        days = _days(match.group(1), match.group(2)) if match.group(1) else _days(match.group(3), "月")
        if days is not None:
            yield match.start(), match.end(), days
            return
    match = _YEARS.search(text)
    if match:
        days = _days(match.group(1) or match.group(2), "岁")
        if days is not None:
            yield match.start(), match.end(), days


def age_group_for_days(days: int) -> str:
    """The age group of an age in days (infant < 1 year, child < 14, elderly >= 65)."""
    ages = people_lexicon()["ages"]
    years = days / 365
    if years < 1:
        return "infant"
    if years < ages["child_age_limit_years"]:
        return "child"
    return "elderly" if years >= ages["elderly_age_years"] else "adult"


def infant_fever_age_days() -> int:
    """Below this age a fever is a red flag (from the data file)."""
    return int(people_lexicon()["ages"]["infant_fever_age_days"])


def _days(number: str, unit: str) -> int | None:
    value = parse_number(number)
    if value is None or value <= 0 or value > 120 * 365:
        return None
    return int(value * _DAYS_PER[unit])


@cache
def _attributes() -> dict[str, dict[str, Any]]:
    """Per person concept: relation, age group, female forms and newborn forms' ages."""
    return {
        concept["id"]: {
            "relation": concept["relation"],
            "age_group": concept.get("age_group"),
            "female_forms": frozenset(concept.get("female_forms", ())),
            "age_days_forms": dict(concept.get("age_days_forms", {})),
        }
        for concept in people_lexicon()["concepts"]
    }
