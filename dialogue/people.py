"""Who is affected: the caller, or the father, the three-month-old, the pregnant wife they call about.

Reads relation words, ages ("孩子三个月", "我七十多岁了") and pregnancy from caller speech into a
:class:`Person`. Age group drives routing (child -> 儿科) and rules (infant fever, elderly up-triage).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from dialogue.negation import is_negated
from medical_terms import NUMERAL, parse_number

AGE_GROUPS = ("infant", "child", "adult", "elderly")
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


@dataclass
class Person:
    """What we know about the patient. ``None`` = not said (never read as 'no')."""

    relation: str = "self"
    age_group: str | None = None
    age_days: int | None = None
    female: bool | None = None
    pregnant: bool | None = None

    def update(self, text: str) -> None:
        """Fold one caller utterance into what we know."""
        lexicon = _lexicon()
        for entry in lexicon["relations"]:
            if any(word in text for word in entry["words"]):
                self.relation = entry["relation"]
                if entry.get("age_days") is not None:
                    self.age_days = entry["age_days"]
                if entry["age_group"] and self.age_days is None:
                    self.age_group = entry["age_group"]
                break
        if any(word in text for word in lexicon["female_words"]):
            self.female = True
        if any(word in text for word in lexicon["elderly_words"]):
            self.age_group = "elderly"
        age_days = read_age_days(text)
        if age_days is not None:
            self.age_days = age_days
        if self.age_days is not None:
            self.age_group = age_group_for_days(self.age_days)
        pregnancy = _PREGNANT.search(text)
        if pregnancy:
            self.pregnant = not is_negated(text, pregnancy.start())
            if self.pregnant:
                self.female = True


def read_age_days(text: str) -> int | None:
    """Age in days from "孩子两个月大", "宝宝出生十天", "我七十多岁了" (not "怀孕七个月")."""
    match = _CHILD_AGE.search(text)
    if match:
        return _days(match.group(1), match.group(2))
    match = _BARE_MONTHS.search(text)
    if match and not re.search(r"(怀孕|孕)[^，。]{0,2}$", text[: match.start()]):
        return _days(match.group(1), match.group(2)) if match.group(1) else _days(match.group(3), "月")
    match = _YEARS.search(text)
    if match:
        return _days(match.group(1) or match.group(2), "岁")
    return None


def age_group_for_days(days: int) -> str:
    """The age group of an age in days (infant < 1 year, child < 14, elderly >= 65)."""
    lexicon = _lexicon()
    years = days / 365
    if years < 1:
        return "infant"
    if years < lexicon["child_age_limit_years"]:
        return "child"
    return "elderly" if years >= lexicon["elderly_age_years"] else "adult"


def infant_fever_age_days() -> int:
    """Below this age a fever is a red flag (from the data file)."""
    return int(_lexicon()["infant_fever_age_days"])


def _days(number: str, unit: str) -> int | None:
    value = parse_number(number)
    if value is None or value <= 0 or value > 120 * 365:
        return None
    return int(value * _DAYS_PER[unit])


@cache
def _lexicon() -> dict[str, Any]:
    lexicon: dict[str, Any] = json.loads(resources.files("dialogue.data").joinpath("people.json").read_text("utf-8"))
    return lexicon
