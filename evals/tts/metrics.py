"""Scoring for the TTS benchmark: reading and polyphone checks, round-trip character error rate."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pypinyin import lazy_pinyin

from tts.normalize import SpeechNormalizer
from tts.pronunciation import Pronouncer

_HANZI = re.compile(r"[\u4e00-\u9fff]")
# A listener cannot tell these apart in a transcript: 幺 is how 一 is said in numbers, and
# Whisper writes 两 or 二 as it likes.
_SAME_SOUND = str.maketrans({"幺": "一", "两": "二"})


@dataclass(frozen=True)
class PolyphoneCheck:
    prompt_id: str
    phrase: str
    expected: str
    got: str

    @property
    def ok(self) -> bool:
        return self.expected == self.got


def check_polyphones(pronouncer: Pronouncer, prompt: dict) -> list[PolyphoneCheck]:
    """The pinyin the pronouncer gives each annotated phrase, in the context of its prompt."""
    hanzi = "".join(_HANZI.findall(prompt["reading"]))
    syllables = pronouncer.pinyin(prompt["reading"])
    checks = []
    for item in prompt["polyphones"]:
        start = hanzi.index(item["phrase"])
        got = " ".join(syllables[start : start + len(item["phrase"])])
        checks.append(PolyphoneCheck(prompt["id"], item["phrase"], item["pinyin"], got))
    return checks


def canonical(text: str, normalizer: SpeechNormalizer) -> str:
    """Hanzi only, numbers as spoken, 幺/两 folded: what CER compares."""
    return "".join(_HANZI.findall(normalizer.normalize(text))).translate(_SAME_SOUND)


def toneless_syllables(canonical_text: str) -> list[str]:
    """Pinyin without tones: a homophone Whisper picked (诊/整 aside) counts as heard."""
    return lazy_pinyin(canonical_text)


def edit_distance(reference: str | list[str], hypothesis: str | list[str]) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref_char in enumerate(reference, 1):
        current = [i]
        for j, hyp_char in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_char != hyp_char)))
        previous = current
    return previous[-1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")
