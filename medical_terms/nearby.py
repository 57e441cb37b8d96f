"""Lexicon terms that a recognised text is near: candidates for listening again.

The corrector (``correction``) replaces a span only when it sounds almost exactly like a term; this
module is looser on purpose and replaces nothing. It slides every curated term over the text's
toneless, fuzzy pinyin (every reading of every Chinese character) and keeps the terms
that line up with a span syllable by syllable well enough, more than one syllable off allowed in a
long term (心境 for 心悸, 可色可谈 for 咳嗽咳痰, 猛娜泰 for 脑钠肽). The second pass
(``asr.relisten``) gives them to the decoder as hotwords and asks the audio which is right.

Matching is by voting: an inverted index from fuzzy syllable to (term, position) lets every
syllable of the text vote for the term offsets it supports, so a sentence costs about a
millisecond whatever the lexicon's size; only offsets with enough votes are scored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from medical_terms.lexicon import Lexicon, Term
from medical_terms.phonetics import fuzzy, is_hanzi, readings, syllable_similarity, syllables

_LONGEST = 12
_KEPT_UNCURATED = 4


@dataclass(frozen=True)
class NearbySettings:
    """How near a span must sound to a term to make it a candidate.

    Parameters:
        min_score: Mean syllable similarity over the term (1 same, 0.85 confusable, 0.6 near,
            0 unrelated).
        min_matched: Share of the term's syllables that must be the same or confusable.
        min_length: Shortest term considered (two-character terms are mostly common words
            misheard as other common words).
        max_terms: Most candidates returned, best first.
    """

    min_score: float = 0.6
    min_matched: float = 0.5
    min_length: int = 2
    max_terms: int = 12

    def __post_init__(self) -> None:
        if not 0 < self.min_score <= 1 or not 0 < self.min_matched <= 1:
            raise ValueError(
                f"min_score and min_matched must be in (0, 1], got {self.min_score}, {self.min_matched}"
            )


@dataclass(frozen=True)
class Nearby:
    """``text[start:end]`` sounds near ``term`` (``score``: mean syllable similarity;
    ``unrelated``: syllables of the term that sound like nothing heard there)."""

    start: int
    end: int
    term: Term
    score: float
    unrelated: int = 0


class NearbyTerms:
    """Finds the curated lexicon terms a text is near. Build once; ``find`` is cheap."""

    def __init__(self, lexicon: Lexicon | None = None, settings: NearbySettings | None = None) -> None:
        self.lexicon = lexicon or Lexicon.load()
        self.settings = settings or NearbySettings()
        self._terms = [
            t
            for t in self.lexicon.terms
            if t.curated and len(t.text) >= self.settings.min_length and all(is_hanzi(c) for c in t.text)
        ]
        self._index: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for number, term in enumerate(self._terms):
            for position, syllable in enumerate(term.pinyin):
                self._index[fuzzy(syllable)].append((number, position))

    def find(self, text: str, extra: Sequence[str] = ()) -> list[Nearby]:
        """Candidate terms for spans of ``text``, best first, one entry per term (its best span).

        ``extra`` are more words to look for (the dialogue's expected answers), tried at every
        offset. Terms already spelled right in ``text`` are left out, and so is a candidate that
        would rewrite part of a lexicon term spelled right (心率 is not offered 心律): a span may
        only hold such a term whole, spelled the same in the candidate (观众动脉 → 冠状动脉).
        """
        heard = readings(text)
        readable = [is_hanzi(c) for c in text]
        protected = self._spelled_right(text)
        best: dict[str, Nearby] = {}
        for term, start in [*self._voted(heard, readable), *_every_offset(extra, len(text))]:
            length = len(term.pinyin)
            if start < 0 or start + length > len(text) or not all(readable[start : start + length]):
                continue
            if term.text in text or not _keeps(protected, start, term.text, text):
                continue
            similarities = [
                _similarity(h, t) for h, t in zip(heard[start : start + length], term.pinyin, strict=True)
            ]
            score = sum(similarities) / length
            if score < self.settings.min_score:
                continue
            found = best.get(term.text)
            if found is None or score > found.score:
                best[term.text] = Nearby(start, start + length, term, score, similarities.count(0.0))
        ranked = sorted(best.values(), key=lambda n: (-n.score, -len(n.term.text), n.start))
        return ranked[: self.settings.max_terms]

    def _voted(self, heard: tuple[tuple[str, ...], ...], readable: list[bool]) -> list[tuple[Term, int]]:
        """(term, start) pairs whose syllables line up with enough of the text's (fuzzy) ones."""
        votes: dict[tuple[int, int], int] = defaultdict(int)
        for i, options in enumerate(heard):
            if not readable[i]:
                continue
            seen: set[tuple[int, int]] = set()
            for f in dict.fromkeys(fuzzy(r) for r in options):
                for number, position in self._index.get(f, ()):
                    key = (number, i - position)
                    if key not in seen:
                        seen.add(key)
                        votes[key] += 1
        return [
            (self._terms[number], start)
            for (number, start), count in votes.items()
            if count >= max(1, self.settings.min_matched * len(self._terms[number].pinyin))
        ]

    def _spelled_right(self, text: str) -> list[tuple[int, int]]:
        """Curated terms, and THUOCL terms of four characters or more, spelled right in ``text``.

        A shorter THUOCL word may be a piece of a misheard longer term (血液 in 布洛芬混血液 for
        布洛芬混悬液), as the corrector also allows."""
        by_text = self.lexicon.by_text
        found = []
        for i in range(len(text)):
            for j in range(i + 2, min(len(text), i + _LONGEST) + 1):
                term = by_text.get(text[i:j])
                if term is not None and (term.curated or j - i >= _KEPT_UNCURATED):
                    found.append((i, j))
        return found


def _every_offset(words: Sequence[str], length: int) -> list[tuple[Term, int]]:
    terms = [
        Term(w, syllables(w), "hint", "hint", 0) for w in dict.fromkeys(words) if all(is_hanzi(c) for c in w)
    ]
    return [(term, start) for term in terms for start in range(length - len(term.text) + 1)]


def _keeps(protected: list[tuple[int, int]], start: int, replacement: str, text: str) -> bool:
    """Whether putting ``replacement`` at ``start`` leaves every protected term whole."""
    end = start + len(replacement)
    for s, e in protected:
        if e <= start or s >= end:
            continue
        if s < start or e > end or replacement[s - start : e - start] != text[s:e]:
            return False
    return True


@cache
def _similarity(heard: tuple[str, ...], syllable: str) -> float:
    return max(syllable_similarity(h, syllable) for h in heard)
