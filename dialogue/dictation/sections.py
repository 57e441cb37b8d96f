"""Place dictated text into the 8 outpatient record sections, by spoken cues or by content (rules).

Text is split into sentences (。；!?) and clauses (，). A clause that opens with a cue ("主诉，…",
"查体：…") switches the section; the cue word is dropped when punctuation follows it or when it is a
full section name ("现病史患者…", as ASR drops commas); every other word is kept verbatim (negations included: nothing is rewritten, nothing invented). Without a
cue, a clause is placed by its content signals (``data/sections.json``); a clause with no signal
continues the current section. After a cue only the strong signals (过敏, 既往) switch, so a cued
现病史 keeps its "伴恶心，无呕吐".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from medical_terms import toneless

HPI = "现病史"
_SENTENCE = re.compile(r"[^。；;！!？?\n]+")


@dataclass(frozen=True)
class SectionRules:
    """The section data: order, LOINC codes, cues, signals, chief-complaint and demographics patterns."""

    order: tuple[str, ...]
    codes: dict[str, str]
    cue: re.Pattern[str]
    cue_sections: dict[str, str]
    cue_by_sound: dict[str, str]
    strong: tuple[tuple[str, re.Pattern[str]], ...]
    signals: tuple[tuple[str, re.Pattern[str]], ...]
    chief_complaint: re.Pattern[str]
    demographics: re.Pattern[str]

    @classmethod
    def load(cls) -> SectionRules:
        return _load()


@dataclass
class Cursor:
    """Where dictation currently goes: the section and whether a cue (or 下一段) put it there."""

    section: str | None = None
    cued: bool = False
    seen_content: bool = False


@dataclass(frozen=True)
class Placed:
    """One clause placed in a section. ``by`` is ``cue``, ``signal``, ``continued`` or ``default``."""

    section: str
    text: str
    by: str


def place(text: str, cursor: Cursor, rules: SectionRules | None = None) -> list[list[Placed]]:
    """Place ``text`` clause by clause; returns one list of clauses per sentence. ``cursor`` is updated."""
    rules = rules or SectionRules.load()
    sentences = []
    for sentence in _SENTENCE.findall(text):
        placed = [p for index, clause in enumerate(_clauses(sentence))
                  if (p := _place_clause(clause, cursor, rules, index == 0)) is not None]
        if placed:
            sentences.append(placed)
    return sentences


def _clauses(sentence: str) -> list[str]:
    # ASR often writes a pause as a space instead of a comma; spaces inside Latin text ("B 超") stay.
    return [c.strip() for c in re.split(r"[，,]|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])", sentence) if c.strip()]


def _match_cue(clause: str, rules: SectionRules) -> tuple[str, str, bool] | None:
    """(cue word, rest of the clause, punctuation followed) for a clause opening with a cue, literally or by
    sound ("先病史" / "国民使" as ASR heard 现病史 / 过敏史)."""
    cue = rules.cue.match(clause)
    if cue:
        return cue.group("cue"), clause[cue.end():].strip(), cue.group("sep") is not None
    for length in (5, 4, 3):  # by sound only for cues of 3+ syllables: 2 are too easily a coincidence
        head = clause[:length]
        word = rules.cue_by_sound.get(toneless(head)) if len(head) == length else None
        if word:
            rest = clause[length:]
            sep = re.match(r"\s*[:：是为]\s*", rest)
            return word, rest[sep.end():].strip() if sep else rest.strip(), sep is not None
    return None


def _place_clause(clause: str, cursor: Cursor, rules: SectionRules, sentence_start: bool) -> Placed | None:
    cue = _match_cue(clause, rules)
    # Inside a cued section a cue word without punctuation mid-sentence is content ("主诉，体检发现…").
    if cue and (cue[2] or sentence_start or not cursor.cued or not cue[1]):
        word, rest, separated = cue
        section = rules.cue_sections[word]
        # A full section name is always a cue, with or without punctuation after it (ASR often drops commas).
        spoken_as_cue = separated or not rest or word in rules.order
        # Only a cue said as a heading ("现病史，…") holds later sentences against content signals.
        cursor.section, cursor.cued, cursor.seen_content = section, separated or not rest, True
        if spoken_as_cue:
            return Placed(section, rest, "cue") if rest else None
        return Placed(section, clause, "signal")  # "查体双肺…", "既往体健": a content word, kept
    for section, pattern in rules.strong:
        if pattern.search(clause):
            cursor.section = section
            cursor.cued = False
            return Placed(section, clause, "signal")
    if not cursor.cued:
        if not cursor.seen_content and rules.demographics.search(clause):
            return Placed(HPI, clause, "default")
        signal = _signal(clause, rules)
        # "反复咳嗽咳痰十年，加重三天": a short duration clause right after the complaint still belongs to it.
        continues_complaint = cursor.section == "主诉" and signal == HPI and len(clause) <= 8
        if cursor.section in (None, "主诉") and rules.chief_complaint.search(clause) and (
            signal is None or continues_complaint
        ):
            cursor.section, cursor.seen_content = "主诉", True
            return Placed("主诉", clause, "signal")
        if signal:
            cursor.section, cursor.seen_content = signal, True
            return Placed(signal, clause, "signal")
    if cursor.section is None:
        cursor.section = HPI
        cursor.seen_content = True
        return Placed(HPI, clause, "default")
    cursor.seen_content = True
    return Placed(cursor.section, clause, "continued")


def _signal(clause: str, rules: SectionRules) -> str | None:
    for section, pattern in rules.signals:
        if pattern.search(clause):
            return section
    return None


@cache
def _load() -> SectionRules:
    data: dict[str, Any] = json.loads(
        resources.files("dialogue.dictation.data").joinpath("sections.json").read_text("utf-8")
    )
    cue_sections = {word: section for section, words in data["cues"].items() for word in words}
    words = "|".join(sorted(map(re.escape, cue_sections), key=len, reverse=True))
    return SectionRules(
        order=tuple(data["order"]),
        codes=dict(data["codes"]),
        cue=re.compile(rf"^(?P<cue>{words})(?:(?P<sep>\s*[:：是为]\s*)|$|(?=[^史]))"),
        cue_sections=cue_sections,
        cue_by_sound={toneless(word): word for word in cue_sections if len(word) >= 3},
        strong=tuple((s, re.compile(p)) for s, p in data["strong_signals"].items()),
        signals=tuple((s, re.compile(p)) for s, p in data["signals"]),
        chief_complaint=re.compile(data["chief_complaint"]),
        demographics=re.compile(data["demographics"]),
    )
