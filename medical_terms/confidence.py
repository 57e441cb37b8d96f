"""How sure the recogniser was of each word of a transcript, and whether correction changed it.

Whisper writes Mandarin a character (or a few digits) per token, so a *word* here is one character
of the text, with the probability the decoder gave the token(s) that wrote it and a flag saying that
term correction put it there. The recogniser makes a :class:`Confidence` over its raw text; each
rewrite of the text after it (term correction, number normalisation, traditional to simplified)
carries it over with :meth:`Confidence.realign`, so the dialogue gets one over the very text it
reads. A character that a rewrite made from several (一百八十五 -> 185) gets the lowest probability
of those it came from: a value is only as sure as its least sure digit.

``None`` where a confidence is expected means *not measured* (typed text, the stock decoder's
fallback): the dialogue then behaves as it did before confidences existed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from medical_terms.correction import TermCorrector
from medical_terms.numbers import normalize_numbers
from medical_terms.numerals import DIGITS

NUMBER_CHARS = frozenset(DIGITS + "十百千点.0123456789")
"""Characters that write a spoken or written number."""

LOW_CONFIDENCE = 0.5
"""Below this probability a word counts as unsure (dictation marks it for review). Calibrated with
``python -m evals.asr.confidence`` on the 138 dev sentences (one voice, clean): at 0.5 it flags 31%
of words and 49% of the wrong ones; a word's probability is a weak error signal (a third of the
flagged words are wrong at any threshold from 0.2 to 0.7), so marks are for review, not for asking."""

VALUE_CONFIDENCE = 0.8
"""Below this probability of any of its digits a value counts as unsure (the follow-up confirms it
before recording it where it would not read it back). Stricter than words because a wrong value in a
record is worse than a question: on the dev set it caught all 4 sentences whose numbers came out
wrong (0.5 caught 3), and would ask on 88% of the 43 sentences with numbers."""


@dataclass(frozen=True)
class WordConfidence:
    """One word (a character) of a transcript.

    Parameters:
        text: The character.
        probability: The decoder's probability of it, 0-1 (1.0: not from the decoder, e.g. a unit
            that number normalisation wrote).
        corrected: Term correction wrote it (the recogniser heard something else there).
    """

    text: str
    probability: float
    corrected: bool = False


@dataclass(frozen=True)
class Confidence:
    """Per-word confidence over one transcript text (``text`` is the words joined)."""

    words: tuple[WordConfidence, ...]

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words)

    @classmethod
    def of_pieces(cls, pieces: Iterable[tuple[str, float]]) -> Confidence:
        """From decoded pieces (text, probability), e.g. one per token: every character of a piece
        gets the piece's probability."""
        return cls(tuple(WordConfidence(ch, float(p)) for piece, p in pieces for ch in piece))

    def realign(self, text: str, changed: Iterable[tuple[int, int]] = ()) -> Confidence:
        """The same confidence over ``text``, a rewrite of :attr:`text`.

        Each character of ``text`` gets the lowest probability of the characters it came from (a
        character with no source, such as an inserted unit, that of its neighbours); ``changed``
        are ``(start, end)`` spans of ``text`` that term correction wrote (marked ``corrected``).
        """
        source = self.text
        marked = [False] * len(text)
        for start, end in changed:
            for i in range(max(0, start), min(len(text), end)):
                marked[i] = True
        words: list[WordConfidence] = []
        matcher = difflib.SequenceMatcher(None, source, text, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "delete":
                continue
            if op == "equal":
                words += [
                    WordConfidence(text[j], self.words[i].probability, self.words[i].corrected or marked[j])
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                ]
                continue
            around = self.words[i1:i2] if i2 > i1 else self.words[max(0, i1 - 1) : i1 + 1]
            probability = min((w.probability for w in around), default=1.0)
            was_corrected = any(w.corrected for w in around) and i2 > i1
            words += [WordConfidence(text[j], probability, was_corrected or marked[j]) for j in range(j1, j2)]
        return Confidence(tuple(words))

    def lowest(self, start: int = 0, end: int | None = None) -> float:
        """The lowest probability of the words in ``[start, end)`` (1.0 for an empty span)."""
        return min((w.probability for w in self.words[start:end]), default=1.0)

    def of(self, fragment: str) -> float | None:
        """The lowest probability within the first occurrence of ``fragment``; None when absent."""
        start = self.text.find(fragment) if fragment else -1
        return None if start < 0 else self.lowest(start, start + len(fragment))

    def numbers(self) -> float | None:
        """The lowest probability of the characters that write numbers; None when there are none."""
        found = [w.probability for w in self.words if w.text in NUMBER_CHARS]
        return min(found) if found else None

    def corrected_spans(self) -> list[tuple[int, int]]:
        """``(start, end)`` runs of words that term correction wrote."""
        return _runs([w.corrected for w in self.words])

    def unsure_spans(self, threshold: float = LOW_CONFIDENCE) -> list[tuple[int, int]]:
        """``(start, end)`` runs of words below ``threshold`` (punctuation and spaces never count)."""
        return _runs([w.probability < threshold and not _punctuation(w.text) for w in self.words])


def correct_heard(
    corrector: TermCorrector, text: str, confidence: Confidence | None, context: str | None = None
) -> tuple[str, Confidence | None]:
    """Term correction then number normalisation of a final transcript, with its confidence carried
    over (the words a term correction wrote are marked ``corrected``). The text is what
    ``normalize_numbers(corrector.correct(text, ...).text, context)`` gives."""
    corrected = corrector.correct(text)
    final = normalize_numbers(corrected.text, context)
    if confidence is None:
        return final, None
    if confidence.text != text:
        confidence = confidence.realign(text)
    spans, shift = [], 0
    for change in corrected.changes:
        start = change.start + shift
        spans.append((start, start + len(change.replacement)))
        shift += len(change.replacement) - len(change.original)
    return final, confidence.realign(corrected.text, spans).realign(final)


def _punctuation(text: str) -> bool:
    return not any(ch.isalnum() for ch in text)


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i))
            start = None
    return runs
