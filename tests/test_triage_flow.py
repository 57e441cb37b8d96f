"""Triage flow end to end (rules only, no backend): greeting, red flags, questions, silence, factory."""

from __future__ import annotations

import pytest

from dialogue import FLOWS, Reply, UnknownFlowError, create_dialogue


async def _collect(replies) -> list[Reply]:
    return [reply async for reply in replies]


async def test_factory_knows_triage_and_names_flows_on_unknown() -> None:
    assert "triage" in FLOWS
    with pytest.raises(UnknownFlowError, match="known flows: triage"):
        create_dialogue("karaoke")


async def test_greets_as_triage_line_and_asks_what_is_wrong() -> None:
    dialogue = create_dialogue("triage", call_id="t1")
    replies = await _collect(dialogue.open())
    text = "".join(r.text for r in replies)
    assert text.startswith("您好，这里是医院分诊热线")
    assert "不舒服" in text
    assert not any(r.end_call for r in replies)


@pytest.mark.parametrize(
    ("utterance", "code"),
    [("我胸口疼，像压着一块大石头，还出冷汗", "chest_pain_acs"), ("我妈嘴歪了，说话也说不清楚", "stroke")],
)
async def test_red_flag_gives_120_at_once(utterance: str, code: str) -> None:
    dialogue = create_dialogue("triage", call_id="t2")
    await _collect(dialogue.open())
    replies = await _collect(dialogue.handle(utterance))
    assert "120" in replies[0].text
    assert code in replies[0].meta["red_flags"]
    assert replies[0].meta["level"] <= 2
    assert dialogue.snapshot()["department"] == "急诊科"


async def test_non_urgent_complaint_gets_questions_then_level_and_offer() -> None:
    dialogue = create_dialogue("triage", call_id="t3")
    await _collect(dialogue.open())
    first = await _collect(dialogue.handle("嗓子疼，流鼻涕"))
    assert first[-1].text.endswith("？")
    for answer in ("两天了", "没有别的"):
        await _collect(dialogue.handle(answer))
    snapshot = dialogue.snapshot()
    assert snapshot["level"] == 4
    assert snapshot["department"] == "耳鼻喉科"
    assert snapshot["state"] == "offer"


async def test_silence_reprompts_once_then_ends_politely() -> None:
    dialogue = create_dialogue("triage", call_id="t4")
    await _collect(dialogue.open())
    first = await _collect(dialogue.handle_silence())
    assert not any(r.end_call for r in first)
    second = await _collect(dialogue.handle_silence())
    assert second[-1].end_call
    assert "120" in "".join(r.text for r in second)
