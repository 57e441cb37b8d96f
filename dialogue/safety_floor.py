"""The safety floor the flow engine runs on every caller utterance, before anything else.

It owns three things: the caller's words as the rules read them (profanity, fillers and hesitation
marks taken out, so a caller's manners never hide a red flag: "妈的喘不上气" is "喘不上气"), the
deterministic red-flag rules (:mod:`dialogue.safety`) over the whole call so far, and any add-only
detectors (a learned model may raise a flag, never clear one). It also says which flags put a call
in crisis mode. Nothing here logs patient text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from opencc import OpenCC

from dialogue.facts import Vitals
from dialogue.people import Person
from dialogue.safety import RedFlagHit, SafetyRules

__all__ = ["CRISIS_ACTIONS", "Detector", "SafetyFloor", "is_crisis", "plain", "readable"]

CRISIS_ACTIONS = frozenset({"call_12356"})
"""Actions of flags that mean a caller in crisis (self-harm): stay on the line, never hang up."""

_BOUNDARY = r"[，。,.！!？?、；;：:\s…~～]"
# Longest first, so "他妈的" goes as a whole and "妈的" does not leave "他" behind.
_PROFANITY = re.compile(
    r"妈了个巴子|草泥马|操你妈|他妈的|他娘的|特么的|你妈的|狗日的|卧槽|我操|我草|我靠|我擦|操蛋|尼玛|妈的|特么|"
    r"(?i:tmd|wtf|fuck)"
)
# A lone 靠/草/操 is an oath only when it stands by itself ("靠，胸口疼"); inside words (依靠, 草药) it stays.
_LONE_OATH = re.compile(rf"(?:(?<={_BOUNDARY})|^)[靠草操](?={_BOUNDARY}|$)")
_FILLER = re.compile(r"[嗯呃唔]+|那个(?=那个|[…,，.。、\s])|(?:(?<={_BOUNDARY})|^)[啊额哎](?={_BOUNDARY}|$)".replace(
    "{_BOUNDARY}", _BOUNDARY))
_HESITATION = re.compile(r"…+|⋯+|\.{2,}|——+|-{2,}")
_SPACES = re.compile(r"\s+")
# Full-width letters and digits (ＣＴ, ３９度) as their ASCII forms; punctuation stays as it is.
_FULL_WIDTH = str.maketrans({chr(code): chr(code - 0xFEE0) for code in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B),
                                                                       *range(0xFF41, 0xFF5B))} | {"\u3000": " "})
_TO_SIMPLIFIED = OpenCC("t2s")
# 廿 (twenty) and 卅 (thirty), still said in southern speech: 血糖廿五 is 血糖二十五.
_OLD_TENS = re.compile("[廿卅]")
_OLD_TENS_VALUE = {"廿": "二十", "卅": "三十"}
# A space between two single Chinese characters in text typed character by character ("我 妈 喝 了").
_SPACED = re.compile(r"(?<=[\u4e00-\u9fff]) (?=[\u4e00-\u9fff](?: |$))")


def is_crisis(hit: RedFlagHit) -> bool:
    """Whether ``hit`` means a caller in crisis (see :data:`CRISIS_ACTIONS`)."""
    return hit.action in CRISIS_ACTIONS


@lru_cache(maxsize=4096)
def plain(utterance: str) -> str:
    """The utterance in the script every lexicon is written in: traditional characters as simplified
    (我爸剛才暈倒了 → 我爸刚才晕倒了), full-width letters and digits as ASCII (３９度 → 39度), 廿/卅 as
    二十/三十."""
    text = str(_TO_SIMPLIFIED.convert(utterance.translate(_FULL_WIDTH)))
    return _OLD_TENS.sub(lambda m: _OLD_TENS_VALUE[m.group()], text)


@lru_cache(maxsize=4096)  # the whole call is re-read every turn: each utterance is cleaned once
def readable(utterance: str) -> str:
    """The utterance as the rules read it: in simplified characters (:func:`plain`), oaths, fillers and
    hesitation marks removed.

    Nothing else changes, so negation ("没有…胸口疼" → "没有胸口疼") and numbers read as before.
    """
    text = _SPACED.sub("", plain(utterance))  # 百 草 枯 typed letter by letter is 百草枯, not an oath 草
    text = _PROFANITY.sub("", text)
    text = _LONE_OATH.sub("", text)
    text = _FILLER.sub("", text)
    text = _HESITATION.sub("", text)
    return _SPACES.sub("", text)


class Detector(Protocol):
    """An add-only red-flag detector (e.g. the learned one in ``dialogue.detector``)."""

    def detect_hits(self, utterance: str) -> list[RedFlagHit]:
        """Red flags this detector sees in one (readable) utterance."""
        ...


class SafetyFloor:
    """The red-flag rules plus add-only detectors, over the whole call.

    Args:
        rules: The deterministic red-flag rules.
        detectors: Add-only detectors, asked about each new utterance (default: none).
        ask: What a detector's hit does. ``False``: it is a red flag like a rule's. ``True``: it is only
            a suspicion (:meth:`suspected`); a flow that can ask (triage) asks that presentation's
            discriminator question, and the answer, or a "不知道" kept open Manchester-style, sets the
            level. Either way nothing a detector says clears a rule's flag.
    """

    def __init__(self, rules: SafetyRules, detectors: Sequence[Detector] = (), ask: bool = False) -> None:
        self.rules = rules
        self.detectors = tuple(detectors)
        self.ask = ask

    @classmethod
    def load(cls) -> SafetyFloor:
        """The packaged rules, no detectors."""
        return cls(SafetyRules.load())

    def check(self, transcript: Sequence[str], vitals: Vitals | None = None, person: Person | None = None,
              spoken_values: bool = True) -> list[RedFlagHit]:
        """Every red flag in the call so far, most urgent first, one hit per code.

        Args:
            transcript: The caller's utterances in order (the whole call so far).
            vitals: Values the flow has read (default: read by the rules from the transcript).
            person: Who is affected (default: read by the rules from the transcript).
            spoken_values: Whether values said in the transcript count (see :meth:`SafetyRules.check`).
        """
        text = "。".join(readable(utterance) for utterance in transcript)
        hits = self.rules.check(text, vitals, person, spoken_values=spoken_values)
        if transcript and self.detectors and not self.ask:
            latest = readable(transcript[-1])
            for detector in self.detectors:
                hits += detector.detect_hits(latest)
        best: dict[str, RedFlagHit] = {}
        for hit in hits:
            if hit.code not in best or hit.level < best[hit.code].level:
                best[hit.code] = hit
        return sorted(best.values(), key=lambda hit: hit.level)

    def suspected(self, transcript: Sequence[str], known: Sequence[RedFlagHit] = ()) -> list[str]:
        """In ``ask`` mode: the red-flag codes the detectors see in the latest utterance that are not in
        ``known`` (the flags already raised), for the flow to ask about; empty otherwise."""
        if not (self.ask and self.detectors and transcript):
            return []
        latest = readable(transcript[-1])
        codes = {hit.code for hit in known}
        found = [hit.code for detector in self.detectors for hit in detector.detect_hits(latest)]
        return [code for code in dict.fromkeys(found) if code not in codes]

    def new_hits(self, transcript: Sequence[str], known: Sequence[RedFlagHit], vitals: Vitals | None = None,
                 person: Person | None = None, spoken_values: bool = True) -> list[RedFlagHit]:
        """The flags of :meth:`check` whose code is not in ``known`` (flags are sticky)."""
        codes = {hit.code for hit in known}
        return [hit for hit in self.check(transcript, vitals, person, spoken_values) if hit.code not in codes]
