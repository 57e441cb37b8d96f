"""What the doctor must check in a dictated note: the words the recogniser was unsure of or that
term correction wrote.

A dictated note is a draft the doctor signs (DOMAIN.md: an AI draft stays a draft until the doctor
confirms it), so nothing is asked aloud: each such word is marked for review in the note's meta and
in the saved Composition (``dictation-review`` extensions), with the sentence it stands in.
"""

from __future__ import annotations

from dataclasses import dataclass

from medical_terms.confidence import LOW_CONFIDENCE, Confidence

_JOIN_GAP = 1  # unsure runs this close together are one mark
_CONTEXT = 6


@dataclass(frozen=True)
class ReviewMark:
    """One stretch of dictated text to check.

    Parameters:
        text: The words as the note has them.
        context: The words around them, to find the place.
        reason: ``unsure`` (the recogniser's probability was low) or ``corrected`` (term correction
            wrote it; the recogniser heard something else).
        probability: The lowest probability in the stretch.
    """

    text: str
    context: str
    reason: str
    probability: float

    def describe(self) -> str:
        why = "识别不确定" if self.reason == "unsure" else "已按术语自动更正"
        return f"请核对“{self.text}”（{why}）：…{self.context}…"


def review_marks(confidence: Confidence | None, threshold: float = LOW_CONFIDENCE) -> list[ReviewMark]:
    """Every unsure or corrected stretch of one dictated utterance (none when not measured)."""
    if confidence is None:
        return []
    text = confidence.text
    spans = [(s, e, "unsure") for s, e in confidence.unsure_spans(threshold)]
    spans += [(s, e, "corrected") for s, e in confidence.corrected_spans()]
    merged: list[tuple[int, int, str]] = []
    for start, end, reason in sorted(spans):
        if merged and start <= merged[-1][1] + _JOIN_GAP:
            last = merged[-1]
            merged[-1] = (
                last[0],
                max(last[1], end),
                "corrected" if "corrected" in (last[2], reason) else reason,
            )
        else:
            merged.append((start, end, reason))
    marks = []
    for start, end, reason in merged:
        words = text[start:end].strip("，。、,. ")
        if not words:
            continue
        context = text[max(0, start - _CONTEXT) : end + _CONTEXT]
        marks.append(ReviewMark(words, context, reason, confidence.lowest(start, end)))
    return marks
