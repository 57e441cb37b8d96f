"""Dictate one note sentence by sentence (as a VAD would cut it) and score the sections.

Scoring per expected (section, term): a hit when the term is in that section's text (recall). A term
found only in another section is a misplacement: a miss for its section and a false positive for the
section that holds it; every ``absent`` string (deleted text, spoken commands) found in the note is a
false positive too. Precision = hits / (hits + false positives).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialogue.dictation.flow import DictationDialogue
from evals.speech import SpeechPath

_UTTERANCE = re.compile(r"[^。！？!?]+[。！？!?]?")


@dataclass
class NoteOutcome:
    """Counts for one note (ids and counts only; no note text)."""

    id: str
    hits: int = 0
    misses: int = 0
    false_positives: int = 0
    missed: list[str] = field(default_factory=list)
    heard: int = 0
    warnings: int = 0
    marks: int = 0
    misheard: int = 0
    misheard_marked: int = 0


def load_notes(path: Path) -> list[dict[str, Any]]:
    """The JSONL notes (dev-set format: id, dictation, expect; optional absent)."""
    notes = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        note = json.loads(line)
        missing = {"id", "dictation", "expect"} - set(note)
        if missing:
            raise ValueError(f"{path}:{number}: note lacks {sorted(missing)}; each line needs id, dictation, expect")
        notes.append(note)
    return notes


async def run_note(note: dict[str, Any], speech: SpeechPath) -> tuple[NoteOutcome, dict[str, str]]:
    """Dictate ``note`` into a fresh dialogue; returns the score and the sections produced."""
    dialogue = DictationDialogue(call_id=note["id"])
    [reply async for reply in dialogue.open()]
    terms = [term for expected in note["expect"].values() for term in expected]
    misheard = misheard_marked = 0
    for utterance in _UTTERANCE.findall(note["dictation"]):
        hearing = speech.listen(utterance.strip(), "dictation")
        before = len(dialogue.review)
        if hearing.corrected.strip():
            [reply async for reply in dialogue.handle(hearing.corrected, hearing.confidence)]
        # An expected term said in this utterance but not in what the dialogue got: was it marked?
        lost = [t for t in terms if t in utterance and t not in hearing.corrected]
        misheard += len(lost)
        misheard_marked += len(lost) if len(dialogue.review) > before else 0
    snapshot = dialogue.snapshot()
    sections: dict[str, str] = snapshot["sections"]
    outcome = score_note(note, sections, len(snapshot["warnings"]))
    outcome.marks, outcome.misheard, outcome.misheard_marked = len(snapshot["review"]), misheard, misheard_marked
    return outcome, sections


def score_note(note: dict[str, Any], sections: dict[str, str], warnings: int = 0) -> NoteOutcome:
    outcome = NoteOutcome(note["id"], warnings=warnings)
    whole = "".join(sections.values())
    for section, terms in note["expect"].items():
        for term in terms:
            outcome.heard += term in whole
            if term in sections.get(section, ""):
                outcome.hits += 1
                continue
            outcome.misses += 1
            outcome.missed.append(section)
            if any(term in text for name, text in sections.items() if name != section):
                outcome.false_positives += 1
    outcome.false_positives += sum(1 for text in note.get("absent", []) if text in whole)
    return outcome


def score(outcomes: list[NoteOutcome]) -> dict[str, float]:
    hits = sum(o.hits for o in outcomes)
    misses = sum(o.misses for o in outcomes)
    false_positives = sum(o.false_positives for o in outcomes)
    recall = hits / (hits + misses) if hits + misses else float("nan")
    precision = hits / (hits + false_positives) if hits + false_positives else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "notes": float(len(outcomes)),
        "section_f1": f1,
        "section_recall": recall,
        "section_precision": precision,
        "terms_scored": float(hits + misses),
        # Expected terms present anywhere in the note: separates recognition losses from placement errors.
        "terms_heard": sum(o.heard for o in outcomes) / max(hits + misses, 1),
        "review_marks": float(sum(o.marks for o in outcomes)),
        # Of the expected terms lost between the doctor's words and the note, the share said in an
        # utterance that carries a review mark.
        "misheard_terms_marked": (sum(o.misheard_marked for o in outcomes) / sum(o.misheard for o in outcomes)
                                  if any(o.misheard for o in outcomes) else float("nan")),
        "notes_all_terms_placed": sum(o.misses == 0 and o.false_positives == 0 for o in outcomes) / max(len(outcomes), 1),
    }
