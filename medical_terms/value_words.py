"""Misheard words around a spoken value: its unit, a numeral heard as a homophone, the measured item.

Whisper hears a dictated value more reliably than the words around it, and writes the misheard ones
in forms the general term corrector cannot take: a unit is not a lexicon term and may carry a
digit for a syllable (毫摩尔每升 → 毫模2美生, the 尔 heard as 二), a one-syllable numeral comes out
as its homophone (五毫克 → 午好坑, 十毫克 → 时好课), and a two-character item shares no character
with its homophone (血压 → 薛鸭), which the corrector refuses in general (压力 must stay 压力).
The value itself anchors each fix, so each is taken only next to a value:

- a unit right after a number, heard with a digit for a syllable or with one syllable merely near
  (毫毛2美生, 好坑), the first syllable exact and the span ending on a word boundary unless its
  first character is written right;
- a numeral homophone followed by a dose unit, only right after a dosing word (每天早上, 口服) or
  a drug name, because a homophone after anything else may be the end of a longer numeral
  (词时好课 may be 四十毫克: writing 十毫克 would be a wrong dose, worse than none);
- a two-character homophone of a vital sign (same toneless syllables) only before its value or a
  judgement of it (薛鸭是145, 薛鸭有点高); one sharing a character and sounding near only right
  before digits (些糖8.3); never a word of its own (学堂, 提问, 血样 stay).

The word lists are data (``data/value_words.json``); the rules are below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cache
from importlib import resources

from medical_terms.numerals import DIGITS
from medical_terms.phonetics import (
    NEAR_SIMILARITY,
    fuzzy,
    is_hanzi,
    split_syllable,
    syllable_similarity,
    syllables,
)

CN_NUMERALS = DIGITS + "十百千"
_NUMBER = re.compile(rf"\d+(?:\.\d+)?|[{CN_NUMERALS}]+(?:点[{CN_NUMERALS}]+)?")
# Between a vital sign and its value: 血压是…, 血糖大概…
_LINK = r"(?:是|为|有|在|都|还|大概|大约|差不多|，|,|\s)*"
# A value: digits, or two numeral characters or more (一直, 一般 start with 一 but are no value).
_VALUE = rf"(?:\d|[{CN_NUMERALS}]{{2}})"
NEGATION_CHARS = frozenset("无没不未否非")


@dataclass(frozen=True)
class ValueWords:
    """The word lists of ``data/value_words.json`` (see SOURCES.md)."""

    units_after_number: tuple[str, ...]
    dose_units: tuple[str, ...]
    numeral_sounds: dict[str, str]
    dose_leads: tuple[str, ...]
    vital_signs: tuple[str, ...]
    vital_predicates: tuple[str, ...]

    @classmethod
    @cache
    def load(cls) -> ValueWords:
        text = resources.files("medical_terms.data").joinpath("value_words.json").read_text(encoding="utf-8")
        data = json.loads(text)
        # Longest first, so 毫摩尔每升 is tried before 毫摩尔 and 偏高 before 高.
        return cls(
            units_after_number=tuple(sorted(data["units_after_number"], key=len, reverse=True)),
            dose_units=tuple(sorted(data["dose_units"], key=len, reverse=True)),
            numeral_sounds=dict(data["numeral_sounds"]),
            dose_leads=tuple(data["dose_leads"]),
            vital_signs=tuple(data["vital_signs"]),
            vital_predicates=tuple(sorted(data["vital_predicates"], key=len, reverse=True)),
        )


@dataclass(frozen=True)
class ValueFix:
    """``text[start:end]`` should read ``replacement``."""

    start: int
    end: int
    replacement: str


@dataclass(frozen=True)
class TextView:
    """What the finders need to know about one transcript.

    Parameters:
        text: The transcript.
        heard: Readings per character, digits read as spoken (``phonetics.spoken_readings``).
        boundaries: Word boundaries of the corrector's jieba segmentation.
        taken: Spans already spoken for (correct lexicon terms, other corrections): never cut.
        drug_ends: Where a drug name (correct or corrected) ends.
        is_word: Whether a span is a lexicon term or a common word (never rewritten).
    """

    text: str
    heard: tuple[tuple[str, ...], ...]
    boundaries: Collection[int]
    taken: list[tuple[int, int]]
    drug_ends: Collection[int]
    is_word: Callable[[str], bool]

    def free(self, start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in self.taken)

    def ends_word(self, end: int) -> bool:
        return end == len(self.text) or end in self.boundaries or not is_hanzi(self.text[end])


def _unit_heard(heard: tuple[tuple[str, ...], ...], unit: str) -> bool:
    """The span sounds like ``unit``: first syllable exact, at most one other merely near."""
    target = syllables(unit)
    if len(heard) != len(target) or not all(heard):
        return False
    similarities = [max(syllable_similarity(r, t) for r in options) for options, t in zip(heard, target, strict=True)]
    inexact = [s for s in similarities if s < 1.0]
    return similarities[0] == 1.0 and len(inexact) <= 1 and all(s >= NEAR_SIMILARITY for s in inexact)


def _unit_at(view: TextView, start: int, units: tuple[str, ...]) -> tuple[str, int] | None:
    """The unit heard at ``start`` (written right or not) and where it ends, if any."""
    text = view.text
    if start >= len(text) or not is_hanzi(text[start]):
        return None
    for unit in units:
        end = start + len(unit)
        if end > len(text):
            continue
        if text[start:end] == unit:
            return unit, end
        # A span that cuts a word (3号|可以) is that word, unless its first character is the
        # unit's own (一毫科|学前: 毫 is written right, only 克 was misheard).
        ends_well = view.ends_word(end) or text[start] == unit[0]
        if _unit_heard(view.heard[start:end], unit) and ends_well and view.free(start, end):
            return unit, end
    return None


def misheard_units(view: TextView, words: ValueWords) -> list[ValueFix]:
    """A unit right after a number, heard as its homophone (20好客, 9.6毫模2美生, 两毫坑)."""
    fixes: list[ValueFix] = []
    position = 0
    for number in _NUMBER.finditer(view.text):
        if number.start() < position or not view.free(number.start(), number.end()):
            continue
        if number.start() > 0 and view.text[number.start() - 1] == "第":
            continue  # an ordinal: 第3号课 is a lesson
        found = _unit_at(view, number.end(), words.units_after_number)
        if found is None:
            continue
        unit, end = found
        position = end
        if view.text[number.end():end] != unit:
            fixes.append(ValueFix(number.end(), end, unit))
    return fixes


def _after_dose_lead(view: TextView, index: int, words: ValueWords) -> bool:
    before = view.text[:index]
    return index in view.drug_ends or any(before.endswith(lead) for lead in words.dose_leads)


def numeral_homophone_doses(view: TextView, words: ValueWords) -> list[ValueFix]:
    """A numeral heard as its homophone before a dose unit, after a dosing word (早上午好坑 → 早上五毫克)."""
    fixes: list[ValueFix] = []
    text = view.text
    for index, char in enumerate(text[:-1]):
        if not is_hanzi(char) or char in CN_NUMERALS or char in NEGATION_CHARS:
            continue
        numeral = next((words.numeral_sounds[r] for r in view.heard[index] if r in words.numeral_sounds), None)
        if numeral is None or not view.free(index, index + 1) or not _after_dose_lead(view, index, words):
            continue
        found = _unit_at(view, index + 1, words.dose_units)
        if found is not None:
            unit, end = found
            fixes.append(ValueFix(index, end, numeral + unit))
    return fixes


def _vital_heard(span: str, heard: tuple[tuple[str, ...], ...], vital: str) -> str | None:
    """``exact`` when the span has the vital sign's syllables, ``near`` when one character is the
    vital's own and the other only sounds near (些糖 for 血糖), else None."""
    target = syllables(vital)
    if all(t in options for t, options in zip(target, heard, strict=True)):
        return "exact"
    for kept in range(2):
        other = 1 - kept
        if span[kept] == vital[kept] and any(_near_same_initial(r, target[other]) for r in heard[other]):
            return "near"
    return None


def _near_same_initial(heard: str, target: str) -> bool:
    """Near and starting alike (xie/xue); a shared final alone (qi/di) is too weak for a vital."""
    same_initial = split_syllable(fuzzy(heard))[0] == split_syllable(fuzzy(target))[0]
    return same_initial and syllable_similarity(heard, target) >= NEAR_SIMILARITY


def misheard_vital_signs(view: TextView, words: ValueWords) -> list[ValueFix]:
    """A two-character homophone of a vital sign before its value or a judgement of it (薛鸭是145,
    薛鸭有点高); a near-sounding one sharing a character only right before digits (些糖8.3)."""
    fixes: list[ValueFix] = []
    text = view.text
    predicates = "|".join(re.escape(p) for p in words.vital_predicates)
    follows = {
        "exact": re.compile(rf"{_LINK}(?:{_VALUE}|(?:{predicates}))"),
        "near": re.compile(rf"{_LINK}\d"),
    }
    for vital in words.vital_signs:
        for start in range(len(text) - 1):
            end = start + 2
            span = text[start:end]
            if span == vital or not all(is_hanzi(c) and c not in NEGATION_CHARS for c in span):
                continue
            sound = _vital_heard(span, view.heard[start:end], vital)
            if sound is None or start not in view.boundaries or end not in view.boundaries:
                continue
            if not view.free(start, end) or view.is_word(span) or not follows[sound].match(text, end):
                continue
            fixes.append(ValueFix(start, end, vital))
    return fixes


def value_word_fixes(view: TextView, words: ValueWords | None = None) -> list[ValueFix]:
    """Every fix the three rules find, not overlapping one another (units first, then doses, then vitals)."""
    words = words or ValueWords.load()
    chosen: list[ValueFix] = []
    for finder in (misheard_units, numeral_homophone_doses, misheard_vital_signs):
        for fix in finder(view, words):
            if all(fix.end <= c.start or fix.start >= c.end for c in chosen):
                chosen.append(fix)
    return sorted(chosen, key=lambda f: f.start)
