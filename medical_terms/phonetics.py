"""Toneless pinyin of Chinese text, one syllable per character, and syllable similarity.

Whisper's mistakes on medical terms are mostly homophones or near-homophones (硝苯地平 →
消本地平), so matching ignores tones and treats the sounds Mandarin speakers and Whisper confuse
most (zh/z, ch/c, sh/s, n/l, -ng/-n) as close but not equal.
"""

from __future__ import annotations

from pypinyin import Style, lazy_pinyin

_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r",
             "z", "c", "s", "y", "w")
_FUZZY_INITIALS = {"zh": "z", "ch": "c", "sh": "s", "n": "l"}
# lv/lu and nv/nu: pypinyin writes ü as v, Whisper often picks the u homophone (氯 → 路).
_FUZZY_FINALS = {"ang": "an", "eng": "en", "ing": "in", "iang": "ian", "uang": "uan", "v": "u", "ve": "ue"}
FUZZY_SIMILARITY = 0.85


def is_hanzi(char: str) -> bool:
    """True for a CJK unified ideograph."""
    return "\u4e00" <= char <= "\u9fff"


def syllables(text: str) -> tuple[str, ...]:
    """Toneless pinyin, exactly one entry per character (non-Chinese characters stand for themselves)."""
    return tuple(lazy_pinyin(text, style=Style.NORMAL, errors=lambda chunk: list(chunk)))


def split_syllable(syllable: str) -> tuple[str, str]:
    """(initial, final) of one toneless syllable; the initial is '' for 安, 饿..."""
    for initial in _INITIALS:
        if syllable.startswith(initial) and len(syllable) > len(initial):
            return initial, syllable[len(initial):]
    return "", syllable


def fuzzy(syllable: str) -> str:
    """The syllable with confusable initials and finals merged (shi → si, ling → lin, nan → lan)."""
    initial, final = split_syllable(syllable)
    return _FUZZY_INITIALS.get(initial, initial) + _FUZZY_FINALS.get(final, final)


def syllable_similarity(heard: str, term: str) -> float:
    """1 for the same toneless syllable, FUZZY_SIMILARITY for a confusable one, else 0."""
    if heard == term:
        return 1.0
    if fuzzy(heard) == fuzzy(term):
        return FUZZY_SIMILARITY
    return 0.0
