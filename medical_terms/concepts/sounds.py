"""Hearing concept forms through misrecognition: where a caller's words came out of the recogniser as
other characters with the same (or nearly the same) sound, find the forms they stand for.

Whisper writes what it hears with whatever characters fit (好像也没在传奇了 for 喘气了, 肚子腾得厉害 for
疼得, 怎么按都只不住 for 止不住, 今天没感觉到太动 for 胎动). :class:`SoundIndex` indexes every form of
every concept that allows it (``Concept.pinyin``) by toneless syllables and finds, in a clause, the
windows that sound like a form:

- ``exact``/``fuzzy``: forms of three or more characters (and the two-character forms a concept lists
  in ``pinyin_forms``): exact toneless syllables under three... four characters, longer ones with the
  confusable sounds merged (zh/z, ch/c, sh/s, n/l, -ng/-n) — the matcher's original misheard layer;
- ``pair``: any other two-character form, and any two-character dictionary word inside a form or a
  regex form (胎动 in 胎动减少, 阳台 in a fall's pattern), by exact toneless syllables, only where the two
  characters heard are no word of the general dictionary (jieba's): 太动 is a misheard 胎动, while 相似
  is not 想死, 指甲 not 支架, 科学 not 咳血; only where the form is what that sound most likely says
  (:func:`is_dominant_homophone`: 扬台 is 阳台, 度期 may be 毒气, 赌气 or 肚脐); never with a particle on either side (天了 is no 舔了) and never
  re-spelling a numeral (一平 is 一瓶, 度五 no 毒物). A word that is no form only re-spells the clause;
- ``near``: forms of four or more characters with one syllable merely near (the same initial and a
  final one letter off, or an initial differing only in aspiration: 接不上去 for 接不上气, 添三导寺 for
  颠三倒四; not a syllable that only rhymes, 斗得厉害 is no 抽得厉害, nor one further off, 已经贴了 is no
  已经跳了, nor one a confusable sound plus a letter off, 尿特别多 is no 量特别多), every other syllable
  fuzzily equal;
- ``after_site``: a one-character symptom form (疼, 痛, 闷, 晕…) heard as a homophone right after a body
  site (肚子腾, 胸口同): alone a single syllable is far too common to trust.

A window is only a candidate where it neither cuts nor re-spells a literal form that is surely a word
(three or more characters, or a dictionary word: 煤气 is not re-read as 没气), and never starts on a
particle. A two-character window that is itself a dictionary word is what was said (中锋 is no 中风,
编写 no 便血, 到期 no 捯气). Unless it is a form of three or more syllables heard exactly, a window
may not re-spell a character of a word of jieba's segmentation of the clause that it cuts (平时不怎么运动:
不怎么运 is no 不怎么应). The
matcher then re-spells the clause with the forms heard (same length, so offsets hold) and matches its
literal and regex forms again, which is how compound forms and patterns (嗓子堵得慌, 怎么按都止不住)
are heard too.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import product
from typing import Any

from medical_terms.concepts.model import Concept
from medical_terms.phonetics import (
    fuzzy,
    is_hanzi,
    split_syllable,
    syllables,
)

MIN_PINYIN_LENGTH = 3
"""Shortest form matched by sound without being listed in ``pinyin_forms`` or being a ``pair``."""
MIN_FUZZY_LENGTH = 4
"""Shorter forms must sound exactly the same (toneless); longer ones may differ by a confusable sound."""
MIN_NEAR_LENGTH = 4
"""Shortest form that may have one syllable merely near."""

# A misheard term does not start on a particle (么反应 is 什么反应, not 没反应).
PARTICLES = frozenset("的地得了着么吗呢吧啊呀哦个这那哪和都还为就也又")
_MAX_READINGS = 8
_SPOKEN_VARIANTS = {"血": ("xue", "xie"), "咯": ("ka", "ge", "luo"), "晕": ("yun",), "抽": ("chou",)}
# Two syllables with a particle (烧了, 疼的) are too common a sound to trust; a numeral is heard
# right, it may stay (一平 → 一瓶) but is never re-spelled (度五 is no 毒物).
_NUMERALS = frozenset("一二三四五六七八九十两百千万零半几")
# Initials that differ only in aspiration, which a recogniser confuses (添三导寺 for 颠三倒四).
_ASPIRATION_PAIRS = tuple(
    {a, b} for a, b in (("b", "p"), ("d", "t"), ("g", "k"), ("j", "q"), ("z", "c"), ("zh", "ch"))
)
# The categories whose one-character forms are heard after a site (肚子腾 → 疼).
_AFTER_SITE_CATEGORIES = ("symptom",)


WORD = -1
"""The concept number of a :class:`Heard` that is a word inside forms, not a form: it only re-spells."""


@dataclass(frozen=True)
class Heard:
    """A window of a clause that sounds like ``form`` of the concept numbered ``concept`` (or, with
    :data:`WORD`, like a word of the forms and patterns)."""

    start: int
    end: int
    form: str
    concept: int
    kind: str


class SoundIndex:
    """Every form that may be matched by sound, indexed by its syllables (built once per matcher)."""

    def __init__(self, concepts: Sequence[Concept]) -> None:
        self._keys: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
        self._pairs: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
        self._near: dict[tuple[str, ...], list[tuple[str, int, str]]] = defaultdict(list)
        self._single: dict[str, list[tuple[str, int]]] = defaultdict(list)
        self._sites = frozenset(
            number for number, concept in enumerate(concepts) if concept.category == "site"
        )
        for number, concept in enumerate(concepts):
            if not concept.pinyin:
                continue
            for form in concept.forms:
                if not all(is_hanzi(char) for char in form):
                    continue
                for spoken in spoken_forms(form):
                    if len(form) >= MIN_PINYIN_LENGTH or form in concept.pinyin_forms:
                        self._keys[_key(spoken, len(form) >= MIN_FUZZY_LENGTH)].append((form, number))
                    elif len(form) == 2 and not any(char in PARTICLES for char in form):
                        self._pairs[spoken].append((form, number))
                    elif len(form) == 1 and concept.category in _AFTER_SITE_CATEGORIES:
                        self._single[spoken[0]].append((form, number))
                    if len(form) >= MIN_NEAR_LENGTH and spoken == syllables(form):
                        fuzzy_key = _key(spoken, True)
                        for index, syllable in enumerate(spoken):
                            self._near[(*fuzzy_key[:index], "*", *fuzzy_key[index + 1 :])].append(
                                (form, number, syllable)
                            )
            for text in (
                *concept.forms,
                *(run for pattern in concept.patterns for run in _literal_runs(pattern)),
            ):
                for word in _words_in(text):
                    for spoken in spoken_forms(word):
                        self._pairs[spoken].append((word, WORD))
        # a near form matches its first or its second syllable (only one syllable is off)
        self._near_heads = {(len(key), key[1] if key[0] == "*" else key[0]) for key in self._near}
        self._near_seconds = {(len(key), key[1]) for key in self._near if key[1] != "*"}
        self._lengths = sorted(
            {len(key) for key in self._keys} | {2} | {len(key) for key in self._near}, reverse=True
        )

    def __bool__(self) -> bool:
        return bool(self._keys or self._pairs or self._near or self._single)

    def find(self, clause: str, words: Sequence[tuple[int, int]]) -> list[Heard]:
        """The windows of ``clause`` that sound like a form. ``words``: (start, end) of the literal forms
        found in it; a window may not cut or re-spell one that is surely a word (three or more
        characters, or a dictionary word: what was said stays), and a ``pair`` window may touch none."""
        exact = syllables(clause)
        fuzzy_keys = tuple("~" + fuzzy(s) for s in exact)
        touched = [False] * len(clause)
        for start, end in words:
            touched[start:end] = [True] * (end - start)
        said = [(s, e) for s, e in words if _is_word(clause[s:e])]
        # how many Chinese characters run from each position
        run = [0] * (len(clause) + 1)
        for index in range(len(clause) - 1, -1, -1):
            run[index] = run[index + 1] + 1 if is_hanzi(clause[index]) else 0
        segmented = _segmented(clause)
        found: list[Heard] = []
        for start in range(len(clause)):
            if not run[start] or clause[start] in PARTICLES:
                continue
            for length in self._lengths:
                if length > run[start]:
                    continue
                end = start + length
                kept = [(s, e) for s, e in said if s < end and start < e]
                if any(s < start or e > end for s, e in kept):
                    continue  # it would cut a word that was said
                key = fuzzy_keys[start:end] if length >= MIN_FUZZY_LENGTH else exact[start:end]
                candidates = [
                    Heard(start, end, form, number, "pinyin")
                    for form, number in self._keys.get(key, ())
                    if length > 2 or form == clause[start:end] or not is_common_word(clause[start:end])
                ]
                if length == 2 and not touched[start] and not touched[start + 1]:
                    window = clause[start:end]
                    pairs = self._pairs.get(key, ())
                    if pairs and _pair_window(window):
                        candidates += [
                            Heard(start, end, form, number, "pair")
                            for form, number in pairs
                            if form != window
                            and _keeps_numerals(window, form)
                            and is_dominant_homophone(form, key)
                        ]
                if length >= MIN_NEAR_LENGTH and (
                    (length, fuzzy_keys[start]) in self._near_heads
                    or (length, fuzzy_keys[start + 1]) in self._near_seconds
                ):
                    candidates += self._near_forms(start, exact[start:end], fuzzy_keys[start:end])
                if candidates:
                    found.extend(
                        h
                        for h in candidates
                        if all(h.form[s - start : e - start] == clause[s:e] for s, e in kept)
                        and (_sure(h) or not _respells_a_cut_word(clause, h, segmented))
                    )
        return found

    def find_after_sites(
        self, clause: str, words: Sequence[tuple[int, int]], sites: Sequence[tuple[int, int]]
    ) -> list[Heard]:
        """One-character symptom forms heard as a homophone right after a body site (肚子腾 → 疼), where
        no literal form (``words``, as for :meth:`find`) was found; ``sites``: (concept number, end) of
        what was found in ``clause`` so far (others are ignored)."""
        found: list[Heard] = []
        segmented = _segmented(clause)
        for concept, end in sites:
            if concept not in self._sites or end >= len(clause) or not is_hanzi(clause[end]):
                continue
            if any(s <= end < e for s, e in words):
                continue
            found.extend(
                heard
                for form, number in self._single.get(syllables(clause[end])[0], ())
                if form != clause[end]
                and not _respells_a_cut_word(
                    clause, heard := Heard(end, end + 1, form, number, "after_site"), segmented
                )
            )
        return found

    def _near_forms(self, start: int, exact: Sequence[str], fuzzy_keys: Sequence[str]) -> list[Heard]:
        found = []
        for index in range(len(exact)):
            key = (*fuzzy_keys[:index], "*", *fuzzy_keys[index + 1 :])
            for form, number, syllable in self._near.get(key, ()):
                if _near(exact[index], syllable):
                    found.append(Heard(start, start + len(exact), form, number, "near"))
        return found


def _sure(heard: Heard) -> bool:
    """A form of three or more characters heard by its own syllables: a sound that long is no accident,
    whatever words the segmentation of a misheard clause makes around it (海王外贸 is 往外冒)."""
    return heard.kind == "pinyin" and heard.end - heard.start > 2


def _segmented(clause: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of the words of two or more characters in jieba's segmentation of ``clause``
    (dictionary words only, no guessed ones)."""
    return tuple(
        (start, end) for _, start, end in _tokenizer().tokenize(clause, HMM=False) if end - start >= 2
    )


def _respells_a_cut_word(clause: str, heard: Heard, segmented: Sequence[tuple[int, int]]) -> bool:
    """Whether ``heard`` re-spells a character of a word of the clause that its window cuts: the
    segmentation, not the window alone, says what was said (不怎么运动 is 不怎么 运动, so 不怎么运 is no
    不怎么应; 没感觉到太动力 cuts 动力 but re-spells only 太, and is 胎动). A two-character word whose
    other character makes a word with its other neighbour is no sure segmentation (一平安眠要: 平安 or
    安眠, so 一平 may still be 一瓶)."""
    changed = [i for i in range(heard.start, heard.end) if heard.form[i - heard.start] != clause[i]]
    for start, end in segmented:
        if not any(start <= i < end for i in changed):
            continue
        cut_tail = start < heard.end < end and not (
            end - start == 2 and is_common_word(clause[end - 1 : end + 1])
        )
        cut_head = start < heard.start < end and not (
            end - start == 2 and is_common_word(clause[max(0, start - 1) : start + 1])
        )
        if cut_tail or cut_head:
            return True
    return False


@cache
def _tokenizer() -> Any:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.dt


def _is_word(said: str) -> bool:
    """A literal form that was surely said as such: three or more characters, or a dictionary word
    (煤气; not 吸了, which 布呼吸了 — 不呼吸了 — only brushes)."""
    return len(said) >= 3 or is_common_word(said)


def _near(heard: str, meant: str) -> bool:
    """One syllable heard for another close to it: the same initial and a final one letter off (去 for
    气), or an initial differing only in aspiration and the same final (添 for 颠); not one that only
    rhymes (斗/抽) or whose final is further off (贴/跳)."""
    if fuzzy(heard) == fuzzy(meant):
        return False
    # One deviation only, on the syllables as written: a confusable sound merged on top of a final
    # one letter off is two steps (尿 niao is no 量 liang, 运 yun no 应 ying).
    heard_initial, heard_final = split_syllable(heard)
    meant_initial, meant_final = split_syllable(meant)
    if heard_initial == meant_initial:
        return _one_letter_off(heard_final, meant_final)
    return {heard_initial, meant_initial} in _ASPIRATION_PAIRS and heard_final == meant_final


def _one_letter_off(a: str, b: str) -> bool:
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    shorter, longer = sorted((a, b), key=len)
    return len(longer) - len(shorter) == 1 and any(
        longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer))
    )


def _pair_window(window: str) -> bool:
    """Two characters that may be a misheard pair: no dictionary word, no particle."""
    return not is_common_word(window) and not any(char in PARTICLES for char in window)


def _keeps_numerals(window: str, form: str) -> bool:
    return all(heard == meant or heard not in _NUMERALS for heard, meant in zip(window, form, strict=True))


def respell(clause: str, heard: Sequence[Heard]) -> tuple[str, list[bool]]:
    """``clause`` with the heard windows written as their forms (longest first; a character already
    re-spelled is not changed again), and which characters changed."""
    chars = list(clause)
    taken = [False] * len(clause)
    for item in sorted(heard, key=lambda h: (-(h.end - h.start), h.start)):
        span = range(item.start, item.end)
        if any(taken[i] and chars[i] != char for i, char in zip(span, item.form, strict=True)):
            continue  # a longer form heard here already spelled it otherwise
        for offset, char in enumerate(item.form):
            chars[item.start + offset] = char
            taken[item.start + offset] = True
    changed = [a != b for a, b in zip(chars, clause, strict=True)]
    return "".join(chars), changed


def spoken_forms(form: str) -> list[tuple[str, ...]]:
    """The ways a form may be said: its contextual reading, and the other everyday reading of a
    character whose two readings are both common in speech (血: xie in 吐血, xue in careful speech).
    Other heteronyms are left out: 便 read pian would make 一片雪花 a 便血."""
    spoken = [syllables(form)]
    choices = (
        _SPOKEN_VARIANTS.get(char, (syllable,)) for char, syllable in zip(form, spoken[0], strict=True)
    )
    for options in product(*choices):
        if len(spoken) >= _MAX_READINGS:
            break
        if options not in spoken:
            spoken.append(options)
    return spoken


def _literal_runs(pattern: str) -> list[str]:
    """The runs of Chinese characters a regex form spells out (not those inside ``[...]`` classes)."""
    runs, current, depth = [], "", 0
    for char in pattern:
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        if depth == 0 and is_hanzi(char):
            current += char
            continue
        if current:
            runs.append(current)
        current = ""
    if current:
        runs.append(current)
    return runs


def _words_in(text: str) -> set[str]:
    """The two-character dictionary words inside a form or a pattern's run (胎动 in 胎动减少): the
    vocabulary that is re-spelled when heard as other characters."""
    return {text[i : i + 2] for i in range(len(text) - 1) if is_common_word(text[i : i + 2])}


def _key(spoken: tuple[str, ...], fuzzy_sounds: bool) -> tuple[str, ...]:
    """The index key of a form's syllables: fuzzy ones (prefixed ``~``) for long forms, exact for short."""
    return tuple("~" + fuzzy(s) for s in spoken) if fuzzy_sounds else spoken


def is_common_word(word: str) -> bool:
    """Whether the two-character ``word`` is in the general dictionary (jieba's, any frequency): then it
    was said."""
    return word in _dictionary()[0]


def is_dominant_homophone(word: str, sound: Sequence[str]) -> bool:
    """Whether ``word`` is what two syllables ``sound`` most likely say: among the dictionary's common
    words (not names of people, places or organisations) with that sound, none other is used more
    than half as often (阳台 242 for yang tai, next 样态 3; but du qi is 毒气 278, 赌气 219 or 肚脐 61:
    left alone). A word the dictionary lacks counts once."""
    rivals = _dictionary()[1].get(tuple(sound), {})
    own = rivals.get(word, 1)
    return all(count * _DOMINANCE <= own for other, count in rivals.items() if other != word)


_DOMINANCE = 2
_PROPER_NOUN_TAGS = ("nr", "ns", "nt", "nz")


@cache
def _dictionary() -> tuple[frozenset[str], dict[tuple[str, ...], dict[str, int]]]:
    """jieba's two-character words, and the common ones (with their frequency) by toneless sound."""
    import jieba

    words: set[str] = set()
    by_sound: dict[tuple[str, ...], dict[str, int]] = defaultdict(dict)
    with jieba.get_dict_file() as handle:
        text = handle.read().decode("utf-8")
    for word, count, tag in _TWO_CHARACTER_ENTRY.findall(text):  # word frequency [tag], one a line
        words.add(word)
        if is_hanzi(word[0]) and is_hanzi(word[1]) and not tag.startswith(_PROPER_NOUN_TAGS):
            by_sound[(_reading(word[0]), _reading(word[1]))][word] = int(count)
    return frozenset(words), dict(by_sound)


_TWO_CHARACTER_ENTRY = re.compile(r"^(\S\S) (\d+)(?: (\S+))?\s*$", re.MULTILINE)


@cache
def _reading(char: str) -> str:
    return syllables(char)[0]
