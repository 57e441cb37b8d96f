"""Bad input never decides safety: profanity, fillers, repeated words, English words mixed in, half
sentences, a caller correcting themselves, two complaints at once, a relative and the patient both
mentioned. Each case is one caller turn through the real triage dialogue (rules only)."""

from __future__ import annotations

import pytest

from dialogue import create_dialogue
from dialogue.triage.flow import TriageDialogue


async def flags_after(*turns: str) -> set[str]:
    dialogue = create_dialogue("triage", call_id="bad-input")
    assert isinstance(dialogue, TriageDialogue)
    [reply async for reply in dialogue.open()]
    for turn in turns:
        [reply async for reply in dialogue.handle(turn)]
    return {hit.code for hit in dialogue.hits}


@pytest.mark.parametrize(("turns", "code"), [
    (("他妈的这破电话，我爸胸口疼得直冒冷汗",), "chest_pain_acs"),
    (("卧槽卧槽，孩子抽过去了",), "seizure"),
    (("嗯…那个…就是…嗯…喘…喘不上气",), "severe_dyspnea"),
    (("疼疼疼，胸口疼疼疼，汗一直出",), "chest_pain_acs"),
    (("刚做了CT说是脑出血",), "stroke"),
    (("我有糖尿病，HbA1c一直挺高，今天血糖仪显示二点几，手直抖",), "hypoglycemia"),
    (("B超说宫外孕，现在肚子疼得厉害",), "pregnancy_emergency"),
    (("我妈她…她嘴…", "嘴歪了"), "stroke"),
    (("不是左边，是右边胳膊突然抬不起来",), "stroke"),
    (("我咳嗽好几天了，还有就是刚才吐了好多血",), "major_bleeding"),
    (("我自己就是有点感冒，主要是我老公，他叫不醒了",), "unconscious"),
])
async def test_bad_input_does_not_hide_a_red_flag(turns: tuple[str, ...], code: str) -> None:
    assert code in await flags_after(*turns)


@pytest.mark.parametrize("turns", [
    ("妈的，就是有点咳嗽，没发烧",),
    ("嗯…那个…我想开点降压药，血压一直挺稳的",),
    ("胸口不疼了，就是还有点咳嗽",),
    ("上周晕过一次，现在好好的，想挂个号查查",),
    ("早上起来浑身没劲",),  # whole-body weakness is not a one-sided stroke sign
])
async def test_bad_input_does_not_invent_a_red_flag(turns: tuple[str, ...]) -> None:
    assert await flags_after(*turns) == set()
