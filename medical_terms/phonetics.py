"""Toneless pinyin of Chinese text, one syllable per character, and syllable similarity.

Whisper's mistakes on medical terms are mostly homophones or near-homophones (硝苯地平 →
消本地平), so matching ignores tones and treats the sounds Mandarin speakers and Whisper confuse
most (zh/z, ch/c, sh/s, n/l, -ng/-n) as close but not equal.
"""

from __future__ import annotations

from functools import cache

from pypinyin import Style, lazy_pinyin, pinyin

_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r",
             "z", "c", "s", "y", "w")
_FUZZY_INITIALS = {"zh": "z", "ch": "c", "sh": "s", "n": "l"}
# lv/lu and nv/nu: pypinyin writes ü as v, Whisper often picks the u homophone (氯 → 路).
_FUZZY_FINALS = {"ang": "an", "eng": "en", "ing": "in", "iang": "ian", "uang": "uan", "v": "u", "ve": "ue"}
FUZZY_SIMILARITY = 0.85
NEAR_SIMILARITY = 0.6


def is_hanzi(char: str) -> bool:
    """True for a CJK unified ideograph."""
    return "\u4e00" <= char <= "\u9fff"


def syllables(text: str) -> tuple[str, ...]:
    """Toneless pinyin, exactly one entry per character (non-Chinese characters stand for themselves)."""
    return tuple(lazy_pinyin(text, style=Style.NORMAL, errors=lambda chunk: list(chunk)))  # type: ignore[arg-type,return-value]  # pypinyin also takes a list


def toneless(text: str) -> str:
    """The toneless pinyin of ``text`` as one string (心电图 → xindiantu): a key for finding a
    word by its sound whatever characters Whisper wrote for it."""
    return "".join(syllables(text))


# Particles whose rare readings (的 as di, 得 as dei, 了 as liao) would let them start a term.
_CONTEXT_READING_ONLY = frozenset("的地得了着还和都为么那哪这个")


@cache
def _char_readings(char: str) -> tuple[str, ...]:
    if not is_hanzi(char) or char in _CONTEXT_READING_ONLY:
        return (char,) if not is_hanzi(char) else ()
    return tuple(dict.fromkeys(pinyin(char, style=Style.NORMAL, heteronym=True)[0]))


# How a digit is said: Whisper writes a numeral it hears inside a word as a digit (毫摩尔 → 毫模2).
DIGIT_READINGS: dict[str, tuple[str, ...]] = {
    "0": ("ling",), "1": ("yi", "yao"), "2": ("er", "liang"), "3": ("san",), "4": ("si",),
    "5": ("wu",), "6": ("liu",), "7": ("qi",), "8": ("ba",), "9": ("jiu",),
}


def readings(text: str) -> tuple[tuple[str, ...], ...]:
    """Every toneless reading of each character, the reading in context first.

    Recognised text is often nonsense, so the contextual reading pypinyin picks (长 in 血长规 read
    zhang) may not be the one the speaker said (chang); matching tries them all.
    """
    contextual = syllables(text)
    return tuple(
        (first, *(r for r in _char_readings(char) if r != first)) for first, char in zip(contextual, text, strict=True)
    )


def spoken_readings(text: str) -> tuple[tuple[str, ...], ...]:
    """``readings`` where a digit stands for how it is said (2 → er, liang), for matching a
    word that Whisper wrote with a digit in it (毫模2美生 sounds like 毫摩尔每升)."""
    return tuple(DIGIT_READINGS.get(char, options) for char, options in zip(text, readings(text), strict=True))


@cache
def split_syllable(syllable: str) -> tuple[str, str]:
    """(initial, final) of one toneless syllable; the initial is '' for 安, 饿..."""
    for initial in _INITIALS:
        if syllable.startswith(initial) and len(syllable) > len(initial):
            return initial, syllable[len(initial):]
    return "", syllable


@cache
def fuzzy(syllable: str) -> str:
    """The syllable with confusable initials and finals merged (shi → si, ling → lin, nan → lan)."""
    initial, final = split_syllable(syllable)
    return _FUZZY_INITIALS.get(initial, initial) + _FUZZY_FINALS.get(final, final)


def _finals_near(a: str, b: str) -> bool:
    if a[:1] == b[:1]:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    shorter, longer = sorted((a, b), key=len)
    return any(longer[:i] + longer[i + 1:] == shorter for i in range(len(longer))) or (
        len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1
    )


@cache
def syllable_similarity(heard: str, term: str) -> float:
    """1 for the same toneless syllable, FUZZY_SIMILARITY for a confusable one, NEAR_SIMILARITY
    for one sharing its final (带/钙) or its initial with a close final (血/悬), else 0."""
    if heard == term:
        return 1.0
    if fuzzy(heard) == fuzzy(term):
        return FUZZY_SIMILARITY
    heard_initial, heard_final = split_syllable(fuzzy(heard))
    term_initial, term_final = split_syllable(fuzzy(term))
    if heard_final == term_final and heard_initial and term_initial:
        return NEAR_SIMILARITY
    if heard_initial == term_initial and heard_initial and _finals_near(heard_final, term_final):
        return NEAR_SIMILARITY
    return 0.0
