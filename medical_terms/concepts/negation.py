"""Negation scope for caller speech: is a matched symptom said to be absent ("没有胸痛")?

The scope is deliberately tight: a cue (没有/没/不/无/未/否认/不是) negates a match only when nothing
but filler words ("有", "感觉", "出现"...) stands between them. "没吃药胸口疼" therefore stays
positive: when in doubt the symptom counts, because over-triage is the accepted error direction.
Profanity is not a cue (妈的不想活了 is about not wanting to live), and a correction negates only
what it corrects (不是左边，是右边).
"""

from __future__ import annotations

import re

_CUE = re.compile(r"没有|没|无|未|否认|不是|不")
# 不/没 inside these words does not negate what follows ("不停地抽", "止不住").
_NOT_A_CUE = ("不停", "不止", "不住", "不断", "不行", "不了", "不上", "不动", "不清", "不醒", "不应",
              "不起", "不适", "不舒服", "不知道", "不好", "不少", "不到", "没准", "无力", "不太好", "没完", "不管",
              "不得了", "不得劲", "没法", "没办法", "无缘无故", "不然", "不一会")
_FILLER = re.compile(
    r"(?:有|想|要|打算|会|出现过?|感觉到?|觉得|感到|发现|到|什么|任何|明显|的|过|再|也|还|都|太|很|特别|啥|"
    r"一点|那种|有过|了|怎么|出|见|怎么样|咋|说过|提过|讲过|说起过|说|提)*"
)


def is_negated(text: str, start: int) -> bool:
    """Whether the symptom matched at ``text[start:]`` is negated by a cue right before it.

    Args:
        text: The caller's utterance.
        start: Index where the symptom match begins.

    Returns:
        True when a negation cue, followed only by filler words, precedes ``start``.
    """
    window_start = max(0, start - 10)
    for cue in _CUE.finditer(text, window_start, start):
        position = cue.start()
        if text.startswith(_NOT_A_CUE, position):
            continue
        if cue.group() == "不是" and position > 0 and text[position - 1] == "是":
            continue  # "是不是胸痛" is uncertainty, not absence
        if _FILLER.fullmatch(text, cue.end(), start):
            return True
    return False
