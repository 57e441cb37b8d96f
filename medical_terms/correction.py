"""Phonetic term correction of a final transcript: spans that sound like a lexicon term get the term.

A span is replaced only when all of these hold, because a wrong change to a drug name or a dose is
worse than a missed one:
- the span is written in Chinese, is not itself a lexicon term or a dictionary word, and its ends
  fall on word boundaries of a jieba segmentation that knows the lexicon (no word is cut in two);
- every lexicon term already spelled correctly inside it stays as it is;
- its toneless pinyin matches the term's syllable by syllable (confusable initials/finals count
  as close; one unrelated syllable is tolerated only inside a span of five or more characters
  that holds no correctly spelled term), and unless every syllable is identical it shares a
  character with the term; THUOCL terms must have four characters or more, two-character spans
  only match curated terms, and only on identical pinyin;
- negation characters (无, 没, 不, 未, 否, 非) are never introduced and only changed inside a drug
  name heard right but for that character (不洛芬 → 布洛芬), so 无压痛 or 否认高血压 keep their meaning;
- no other term of the same length scores as high (an ambiguous sound is left alone).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import jieba

from medical_terms.lexicon import Lexicon, Term
from medical_terms.phonetics import fuzzy, is_hanzi, syllable_similarity, syllables

NEGATION_CHARS = frozenset("无没不未否非")
MAX_TERM_CHARS = 12


@dataclass(frozen=True)
class CorrectorSettings:
    """Thresholds of the corrector.

    Parameters:
        min_similarity: Mean syllable similarity (1 exact, 0.85 confusable, 0 other) to accept.
        min_wildcard_length: Shortest term that tolerates one unrelated syllable.
        min_shared_chars: Characters the span must share with the term, unless every syllable
            matches exactly.
        min_uncurated_length: Shortest THUOCL (not curated) term used as a replacement; short
            THUOCL words are often rare herbs or general words (半边莲 for 半边脸).
        common_word_frequency: jieba frequency from which a span counts as a real word to keep.
    """

    min_similarity: float = 0.9
    min_wildcard_length: int = 5
    min_shared_chars: int = 1
    min_uncurated_length: int = 4
    common_word_frequency: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.min_similarity <= 1:
            raise ValueError(f"min_similarity must be in (0, 1], got {self.min_similarity}")


@dataclass(frozen=True)
class Change:
    """One replacement: ``original`` at ``start`` became ``replacement`` (a lexicon term)."""

    start: int
    original: str
    replacement: str
    score: float


@dataclass(frozen=True)
class CorrectionResult:
    """The corrected text and what changed, in text order."""

    text: str
    changes: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class _Candidate:
    start: int
    end: int
    term: Term
    score: float


class TermCorrector:
    """Loads the lexicon and a jieba tokenizer once; ``correct`` is then cheap (about a millisecond)."""

    def __init__(self, lexicon: Lexicon | None = None, settings: CorrectorSettings | None = None) -> None:
        self.lexicon = lexicon or Lexicon.load()
        self.settings = settings or CorrectorSettings()
        self._exact: dict[tuple[str, ...], list[Term]] = defaultdict(list)
        self._wildcard: dict[tuple[str, ...], list[Term]] = defaultdict(list)
        for term in self.lexicon.terms:
            if len(term.text) > MAX_TERM_CHARS or not all(is_hanzi(ch) for ch in term.text):
                continue
            key = tuple(fuzzy(s) for s in term.pinyin)
            self._exact[key].append(term)
            if len(key) >= self.settings.min_wildcard_length:
                for i in range(len(key)):
                    self._wildcard[key[:i] + ("*",) + key[i + 1:]].append(term)
        self._tokenizer = jieba.Tokenizer()
        jieba.setLogLevel(logging.WARNING)
        self._tokenizer.initialize()
        for term in self.lexicon.terms:
            self._tokenizer.add_word(term.text, freq=max(term.weight, 1000) if term.curated else None)

    def correct(self, text: str, context: str | None = None) -> CorrectionResult:
        """Replace misheard medical terms in ``text``.

        Args:
            text: One final transcript.
            context: The agent's last question or the flow topic; terms it mentions are preferred
                when two sound alike.

        Returns:
            The corrected text and the list of changes (empty when nothing was changed).
        """
        if not text:
            return CorrectionResult(text)
        boundaries, words = self._segment(text)
        protected = self._protected_spans(text)
        pinyin = syllables(text)
        keys = tuple(fuzzy(s) for s in pinyin)
        candidates = []
        for start in sorted(boundaries):
            for end in range(start + 2, min(len(text), start + MAX_TERM_CHARS) + 1):
                if end not in boundaries:
                    continue
                span = text[start:end]
                if not all(is_hanzi(ch) for ch in span):
                    break
                if span in self.lexicon or self._is_common_word(span):
                    continue
                if any(s < start < e or s < end < e for s, e in protected):
                    continue
                best = self._best_term(text, start, end, pinyin[start:end], keys[start:end], protected, context)
                if best is not None:
                    candidates.append(best)
        return self._apply(text, candidates)

    def _segment(self, text: str) -> tuple[set[int], list[str]]:
        words = list(self._tokenizer.cut(text, HMM=False))
        boundaries, position = {0}, 0
        for word in words:
            position += len(word)
            boundaries.add(position)
        return boundaries, words

    def _is_common_word(self, span: str) -> bool:
        return self._tokenizer.FREQ.get(span, 0) >= self.settings.common_word_frequency

    def _protected_spans(self, text: str) -> list[tuple[int, int]]:
        """Lexicon terms already spelled right, longest first, not overlapping."""
        spans: list[tuple[int, int]] = []
        taken = [False] * len(text)
        for length in range(min(len(text), MAX_TERM_CHARS), 1, -1):
            for start in range(len(text) - length + 1):
                if any(taken[start:start + length]) or text[start:start + length] not in self.lexicon:
                    continue
                spans.append((start, start + length))
                for i in range(start, start + length):
                    taken[i] = True
        return spans

    def _best_term(
        self,
        text: str,
        start: int,
        end: int,
        heard: tuple[str, ...],
        key: tuple[str, ...],
        protected: list[tuple[int, int]],
        context: str | None,
    ) -> _Candidate | None:
        span = text[start:end]
        pool = list(self._exact.get(key, ()))
        if len(key) >= self.settings.min_wildcard_length:
            for i in range(len(key)):
                pool.extend(self._wildcard.get(key[:i] + ("*",) + key[i + 1:], ()))
        scored: dict[str, _Candidate] = {}
        for term in pool:
            if term.text in scored or not self._acceptable(span, heard, term, start, protected):
                continue
            similarities = [syllable_similarity(h, t) for h, t in zip(heard, term.pinyin, strict=True)]
            score = sum(similarities) / len(heard)
            if score < self.settings.min_similarity and not self._one_interior_wildcard(similarities, start, protected):
                continue
            exact_sound = all(s == 1.0 for s in similarities)
            if not exact_sound and not self._shares_enough(span, term.text):
                continue
            scored[term.text] = _Candidate(start, end, term, score)
        if not scored:
            return None
        ranked = sorted(scored.values(), key=lambda c: self._rank(c, context), reverse=True)
        if len(ranked) > 1 and self._rank(ranked[0], context) == self._rank(ranked[1], context):
            return None
        return ranked[0]

    def _one_interior_wildcard(self, similarities: list[float], start: int, protected: list[tuple[int, int]]) -> bool:
        """One unrelated syllable, inside a long span, with no correctly spelled term in the span."""
        end = start + len(similarities)
        if len(similarities) < self.settings.min_wildcard_length or similarities.count(0.0) != 1:
            return False
        if similarities[0] == 0.0 or similarities[-1] == 0.0:
            return False
        return not any(start <= s and e <= end for s, e in protected)

    def _shares_enough(self, span: str, replacement: str) -> bool:
        return sum(a == b for a, b in zip(span, replacement, strict=True)) >= self.settings.min_shared_chars

    def _acceptable(
        self, span: str, heard: tuple[str, ...], term: Term, start: int, protected: list[tuple[int, int]]
    ) -> bool:
        replacement = term.text
        if not term.curated and len(replacement) < self.settings.min_uncurated_length:
            return False
        shared = sum(a == b for a, b in zip(span, replacement, strict=True))
        if len(span) == 2 and (not term.curated or heard != term.pinyin):
            return False
        if any(a != b and b in NEGATION_CHARS for a, b in zip(span, replacement, strict=True)):
            return False
        changed_negation = any(a != b and a in NEGATION_CHARS for a, b in zip(span, replacement, strict=True))
        # A negation is only rewritten inside a drug name whose every other character is heard
        # right (不洛芬 → 布洛芬); 无压痛 or 没发烧 never change.
        if changed_negation and (shared < len(span) - 1 or len(span) < 3 or term.category not in ("drug", "brand")):
            return False
        for s, e in protected:
            if start <= s and e <= start + len(span) and span[s - start:e - start] != replacement[s - start:e - start]:
                return False
        return True

    @staticmethod
    def _rank(candidate: _Candidate, context: str | None) -> tuple[float, bool, bool]:
        in_context = bool(context) and candidate.term.text in (context or "")
        return (round(candidate.score, 3), in_context, candidate.term.curated)

    @staticmethod
    def _apply(text: str, candidates: list[_Candidate]) -> CorrectionResult:
        # Longer spans first (a whole drug name beats a piece of it), then the better score.
        chosen: list[_Candidate] = []
        for candidate in sorted(candidates, key=lambda c: (c.end - c.start, c.score), reverse=True):
            if all(candidate.end <= c.start or candidate.start >= c.end for c in chosen):
                chosen.append(candidate)
        chosen.sort(key=lambda c: c.start)
        pieces, changes, position = [], [], 0
        for candidate in chosen:
            pieces.append(text[position:candidate.start])
            pieces.append(candidate.term.text)
            changes.append(Change(candidate.start, text[candidate.start:candidate.end], candidate.term.text,
                                  candidate.score))
            position = candidate.end
        pieces.append(text[position:])
        return CorrectionResult("".join(pieces), changes)
