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

Words misheard next to a spoken value (its unit, a numeral homophone, the vital sign it measures)
follow their own, value-anchored rules in ``value_words``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache

import jieba

from medical_terms.lexicon import Lexicon, Term
from medical_terms.phonetics import (
    FUZZY_SIMILARITY,
    fuzzy,
    is_hanzi,
    readings,
    spoken_readings,
    syllable_similarity,
    syllables,
)
from medical_terms.value_words import NEGATION_CHARS, TextView, value_word_fixes

MAX_TERM_CHARS = 12
_MAX_READING_COMBINATIONS = 16
_DRUG_CATEGORIES = ("drug", "brand")
# Shortest span where one syllable may be merely near (带蛋白 → 钙蛋白) or unrelated (wildcard).
_MIN_NEAR_LENGTH = 4


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
        self._prefixes: set[tuple[str, ...]] = set()
        # Curated terms by (length, first two fuzzy syllables) and (length, last two): a term of
        # four or more syllables off by one still matches the span on one of those pairs.
        self._by_head: dict[tuple[int, str, str], list[Term]] = defaultdict(list)
        self._by_tail: dict[tuple[int, str, str], list[Term]] = defaultdict(list)
        for term in self.lexicon.terms:
            if len(term.text) > MAX_TERM_CHARS or not all(is_hanzi(ch) for ch in term.text):
                continue
            key = tuple(fuzzy(s) for s in term.pinyin)
            self._exact[key].append(term)
            self._prefixes.update(key[:i] for i in range(1, len(key) + 1))
            if term.curated and len(key) >= _MIN_NEAR_LENGTH:
                self._by_head[(len(key), key[0], key[1])].append(term)
                self._by_tail[(len(key), key[-2], key[-1])].append(term)
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
        boundaries = self._boundaries(text)
        protected = self._protected_spans(text)
        heard = readings(text)
        fuzzy_options = [tuple(dict.fromkeys(fuzzy(r) for r in options)) for options in heard]
        hanzi = [is_hanzi(ch) for ch in text]
        covering = [-1] * len(text)
        for index, (s, e, _) in enumerate(protected):
            for i in range(s, e):
                covering[i] = index
        candidates = []
        for start in range(len(text)):
            keys: list[tuple[str, ...]] = [()]
            for end in range(start + 1, min(len(text), start + MAX_TERM_CHARS) + 1):
                if not hanzi[end - 1]:
                    break
                keys = [key + (f,) for key in keys for f in fuzzy_options[end - 1] if key + (f,) in self._prefixes]
                keys = keys[:_MAX_READING_COMBINATIONS]
                if end - start < 2:
                    continue
                # Short spans must sit on word boundaries; long ones may cut a word that the
                # misrecognition itself created (叛脱拉|做成 for 泮托拉唑).
                if end - start < _MIN_NEAR_LENGTH and (start not in boundaries or end not in boundaries):
                    continue
                if self._cuts_protected(start, end, covering, protected):
                    continue
                pool = self._pool(keys, fuzzy_options[start:end])
                if not pool:
                    continue
                span = text[start:end]
                if span in self.lexicon or self._is_common_word(span):
                    continue
                best = self._best_term(span, start, heard[start:end], pool, protected, context)
                if best is not None:
                    candidates.append(best)
        candidates.extend(self._value_word_candidates(text, boundaries, protected, candidates))
        return self._apply(text, candidates)

    def _value_word_candidates(
        self, text: str, boundaries: set[int], protected: list[tuple[int, int, bool]], found: list[_Candidate]
    ) -> list[_Candidate]:
        """Units, numeral homophones and vital signs misheard next to a value (see ``value_words``)."""
        drug_ends = {e for s, e, _ in protected if self.lexicon.by_text[text[s:e]].category in _DRUG_CATEGORIES}
        drug_ends.update(c.end for c in found if c.term.category in _DRUG_CATEGORIES)
        view = TextView(
            text=text,
            heard=spoken_readings(text),
            boundaries=boundaries,
            taken=[(s, e) for s, e, _ in protected] + [(c.start, c.end) for c in found],
            drug_ends=drug_ends,
            is_word=lambda span: span in self.lexicon or self._is_common_word(span),
        )
        return [
            _Candidate(fix.start, fix.end, Term(fix.replacement, syllables(fix.replacement), "curated", "value", 0), 1.0)
            for fix in value_word_fixes(view)
        ]

    @staticmethod
    def _cuts_protected(start: int, end: int, covering: list[int], protected: list[tuple[int, int, bool]]) -> bool:
        first, last = covering[start], covering[end - 1]
        return (first >= 0 and protected[first][0] < start) or (last >= 0 and protected[last][1] > end)

    def _boundaries(self, text: str) -> set[int]:
        boundaries, position = {0}, 0
        for word in self._tokenizer.cut(text, HMM=False):
            position += len(word)
            boundaries.add(position)
        return boundaries

    def _is_common_word(self, span: str) -> bool:
        frequency: int = self._tokenizer.FREQ.get(span, 0)
        return frequency >= self.settings.common_word_frequency

    def _protected_spans(self, text: str) -> list[tuple[int, int, bool]]:
        """Lexicon terms already spelled right (start, end, curated), longest first, not overlapping."""
        spans: list[tuple[int, int, bool]] = []
        taken = [False] * len(text)
        for length in range(min(len(text), MAX_TERM_CHARS), 1, -1):
            for start in range(len(text) - length + 1):
                term = self.lexicon.by_text.get(text[start:start + length])
                if term is None or any(taken[start:start + length]):
                    continue
                spans.append((start, start + length, term.curated))
                for i in range(start, start + length):
                    taken[i] = True
        return spans

    def _pool(self, keys: list[tuple[str, ...]], options: list[tuple[str, ...]]) -> list[Term]:
        """Terms whose fuzzy pinyin equals one of ``keys`` (the span's readings), and curated
        terms of four or more syllables that differ from the span's readings in one syllable."""
        pool: list[Term] = []
        for key in keys:
            pool.extend(self._exact.get(key, ()))
        length = len(options)
        if length >= _MIN_NEAR_LENGTH:
            near: dict[str, Term] = {}
            for a in options[0]:
                for b in options[1]:
                    near.update((t.text, t) for t in self._by_head.get((length, a, b), ()))
            for a in options[-2]:
                for b in options[-1]:
                    near.update((t.text, t) for t in self._by_tail.get((length, a, b), ()))
            for term in near.values():
                key = self._fuzzy_key(term)
                if sum(k not in o for k, o in zip(key, options, strict=True)) <= 1:
                    pool.append(term)
        return pool

    @staticmethod
    @cache
    def _fuzzy_key(term: Term) -> tuple[str, ...]:
        return tuple(fuzzy(s) for s in term.pinyin)

    def _best_term(
        self,
        span: str,
        start: int,
        heard: tuple[tuple[str, ...], ...],
        pool: list[Term],
        protected: list[tuple[int, int, bool]],
        context: str | None,
    ) -> _Candidate | None:
        end = start + len(span)
        scored: dict[str, _Candidate] = {}
        for term in pool:
            if term.text in scored:
                continue
            similarities = [max(syllable_similarity(r, t) for r in options)
                            for options, t in zip(heard, term.pinyin, strict=True)]
            score = sum(similarities) / len(similarities)
            wildcard = score < self.settings.min_similarity
            if wildcard and not self._one_interior_wildcard(similarities, term, start, protected):
                continue
            if not self._acceptable(span, similarities, term, start, protected, wildcard):
                continue
            scored[term.text] = _Candidate(start, end, term, score)
        if not scored:
            return None
        ranked = sorted(scored.values(), key=lambda c: self._rank(c, context), reverse=True)
        if len(ranked) > 1 and self._rank(ranked[0], context) == self._rank(ranked[1], context):
            return None
        return ranked[0]

    @staticmethod
    def _negation_kept(pairs: list[tuple[str, str]], shared: int, exact_sound: bool, term: Term) -> bool:
        """A negation character is rewritten only inside a drug name: heard right but for that
        character (不洛芬 → 布洛芬), or inside the word and sounding exactly like it (清没素 →
        青霉素). A span starting with 无, 没, 不 (无压痛, 没发烧) keeps it."""
        changed = [i for i, (a, b) in enumerate(pairs) if a != b and a in NEGATION_CHARS]
        if not changed:
            return True
        if term.category not in ("drug", "brand") or len(pairs) < 3:
            return False
        if shared >= len(pairs) - 1:
            return True
        return exact_sound and term.curated and 0 not in changed

    def _one_interior_wildcard(
        self, similarities: list[float], term: Term, start: int, protected: list[tuple[int, int, bool]]
    ) -> bool:
        """One unrelated syllable, inside a long span holding no correctly spelled term, for a curated term."""
        end = start + len(similarities)
        if not term.curated or len(similarities) < self.settings.min_wildcard_length:
            return False
        if similarities.count(0.0) != 1 or similarities[0] == 0.0 or similarities[-1] == 0.0:
            return False
        if sum(similarities) / len(similarities) < (len(similarities) - 1) / len(similarities):
            return False
        return not any(start <= s and e <= end for s, e, _ in protected)

    def _acceptable(
        self,
        span: str,
        similarities: list[float],
        term: Term,
        start: int,
        protected: list[tuple[int, int, bool]],
        wildcard: bool,
    ) -> bool:
        replacement = term.text
        if not term.curated and len(replacement) < self.settings.min_uncurated_length:
            return False
        pairs = list(zip(span, replacement, strict=True))
        shared = sum(a == b for a, b in pairs)
        exact_sound = all(s == 1.0 for s in similarities)
        near = any(0.0 < s < FUZZY_SIMILARITY for s in similarities)
        if len(span) == 2 and (not term.curated or not exact_sound or shared < 1):
            return False
        if near and (not term.curated or shared < self.settings.min_shared_chars):
            return False
        # Four confusable syllables in a row are evidence enough (可受可谈 → 咳嗽咳痰); shorter
        # spans that only sound close must also share a character.
        if not exact_sound and len(span) < _MIN_NEAR_LENGTH and shared < self.settings.min_shared_chars:
            return False
        if any(a != b and b in NEGATION_CHARS for a, b in pairs):
            return False
        if not self._negation_kept(pairs, shared, exact_sound, term):
            return False
        inside = [(s, e, curated) for s, e, curated in protected if start <= s and e <= start + len(span)]
        if inside and near:
            return False  # extending a correct term by a near-sounding guess (硝酸甘油零 → 硝酸甘油片)
        for s, e, curated in inside:
            if span[s - start:e - start] == replacement[s - start:e - start]:
                continue
            # A THUOCL word inside the span may be a homophone piece of a longer curated term
            # (超生 in 颈动脉超生 → 颈动脉超声); a curated word inside the span is never rewritten.
            if curated or not term.curated or wildcard:
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
