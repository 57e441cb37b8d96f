"""Multi-turn triage calls end to end on the real embedded store (SQLite): caller turns in, spoken
replies and the store's hand-off queue / bookings out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.embedded import EmbeddedStore, open_store
from backends.interfaces import Principal
from dialogue import Reply, create_dialogue
from evals.records.resources import patient

HOSPITAL = "demo-hospital"
SERVICE = Principal("voice-agent", "service", HOSPITAL)
ADMIN = Principal("admin", "hospital_admin", HOSPITAL)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    opened = open_store(f"sqlite:///{tmp_path}/triage.db", tmp_path / "keys.json", seed_days=3)
    yield opened
    opened.close()


async def call(dialogue, turns: list[str | None]) -> list[list[Reply]]:
    """Play a call: ``None`` is a silence. Returns the replies of the opening and of each turn."""
    spoken = [[r async for r in dialogue.open()]]
    for turn in turns:
        replies = dialogue.handle_silence() if turn is None else dialogue.handle(turn)
        spoken.append([r async for r in replies])
    return spoken


def said(replies: list[Reply]) -> str:
    return "".join(r.text for r in replies)


async def test_chest_pain_gets_120_a_queued_nurse_and_a_transfer(store: EmbeddedStore) -> None:
    dialogue = create_dialogue("triage", consultation=store, call_id="c-chest")
    spoken = await call(dialogue, ["我爸爸胸口疼，像压着一块大石头，一直出冷汗", "转人工"])
    assert "120" in said(spoken[1])
    assert spoken[2][-1].end_call
    queue = await store.handoff_queue(ADMIN)
    assert [(t.request.call_id, t.request.level, t.request.red_flags) for t in queue] == [
        ("c-chest", 2, ("chest_pain_acs",))
    ]
    assert "疑似急性冠脉综合征" in queue[0].request.summary


async def test_red_flag_in_a_later_answer_switches_to_emergency_and_stays(store: EmbeddedStore) -> None:
    dialogue = create_dialogue("triage", consultation=store, call_id="c-late")
    spoken = await call(dialogue, ["我头晕", "昨天开始的", "现在右边胳膊也抬不起来了", "没有别的了，好像好点了"])
    assert "120" not in said(spoken[1])
    assert "120" in said(spoken[3])
    snapshot = dialogue.snapshot()
    assert snapshot["red_flags"] == ["stroke"]
    assert (snapshot["level"], snapshot["department"]) == (2, "急诊科")


async def test_child_with_fever_is_booked_into_pediatrics(store: EmbeddedStore) -> None:
    caller = await store.create(SERVICE, patient())
    dialogue = create_dialogue("triage", consultation=store, call_id="c-child", patient_id=caller["id"])
    spoken = await call(dialogue, ["孩子五岁，发烧三十八度八，咳嗽", "今天早上开始的", "没有", "好的，帮我预约", "可以"])
    decision = dialogue.snapshot()
    assert (decision["level"], decision["department"]) == (3, "儿科")
    assert "医生" in said(spoken[4]) and spoken[4][-1].meta["state"] == "choose_slot"
    assert spoken[5][-1].end_call and "已经帮您预约" in said(spoken[5])
    assert decision["appointment"] is not None
    assert "儿科" in decision["reason"]


async def test_without_a_patient_id_the_chosen_slot_goes_to_a_human(store: EmbeddedStore) -> None:
    dialogue = create_dialogue("triage", consultation=store, call_id="c-anon")
    spoken = await call(dialogue, ["脸上长痘痘好几个月了", "没有别的", "预约", "可以"])
    assert spoken[-1][-1].end_call and "核实" in said(spoken[-1])
    ticket = (await store.handoff_queue(ADMIN))[0]
    assert ticket.request.extra["intent"] == "book" and ticket.request.extra["slot_id"]
    assert dialogue.snapshot()["appointment"] is None


async def test_declining_ends_politely_with_level_four(store: EmbeddedStore) -> None:
    dialogue = create_dialogue("triage", consultation=store, call_id="c-no")
    spoken = await call(dialogue, ["老是反酸烧心", "一个多月了", "没有", "不用了，谢谢"])
    assert dialogue.snapshot()["level"] == 4
    assert "消化内科" in said(spoken[3])
    assert spoken[4][-1].end_call
    assert await store.handoff_queue(ADMIN) == []


async def test_abusive_caller_is_answered_calmly_and_the_emergency_still_counts() -> None:
    dialogue = create_dialogue("triage", call_id="c-abuse")
    spoken = await call(dialogue, ["你们这破热线跟傻子一样，我胸口疼出冷汗啊"])
    assert "120" in said(spoken[1])
    assert any(word in said(spoken[1]) for word in ("着急", "理解"))


async def test_off_topic_and_garbled_turns_get_polite_reprompts() -> None:
    dialogue = create_dialogue("triage", call_id="c-off")
    spoken = await call(dialogue, ["……", "今天天气怎么样", "你们食堂几点开门"])
    assert all(not r.end_call for turn in spoken for r in turn)
    assert "没听清" in said(spoken[1]) or "没听明白" in said(spoken[1]) or "再讲" in said(spoken[1])
    assert "不舒服" in said(spoken[2])
    assert "分诊" in said(spoken[3]) or "帮不上" in said(spoken[3])


async def test_silence_after_a_red_flag_ends_with_the_120_instruction() -> None:
    dialogue = create_dialogue("triage", call_id="c-silent")
    spoken = await call(dialogue, ["我妈嘴歪了，说话不清楚", None, None])
    assert not spoken[2][-1].end_call
    assert spoken[3][-1].end_call and "120" in said(spoken[3])


async def test_pregnancy_routes_to_obstetrics_and_elderly_abdominal_pain_is_urgent() -> None:
    pregnant = create_dialogue("triage", call_id="c-preg")
    await call(pregnant, ["我怀孕四个月了，最近老是胃口不好", "一个礼拜了", "没有"])
    assert (pregnant.snapshot()["level"], pregnant.snapshot()["department"]) == (4, "妇产科")
    elderly = create_dialogue("triage", call_id="c-old")
    await call(elderly, ["我奶奶八十岁了，肚子有点疼", "昨天开始", "三分", "没有"])
    assert elderly.snapshot()["level"] == 3
    assert "65岁以上老人腹痛" in elderly.snapshot()["reason"]


async def test_pain_score_answer_raises_urgency_and_missing_answers_never_lower_it() -> None:
    severe = create_dialogue("triage", call_id="c-pain")
    spoken = await call(severe, ["腰疼", "今天早上", "八九分吧"])
    assert severe.snapshot()["level"] == 2
    assert severe.snapshot()["department"] == "急诊科"
    assert "120" in said(spoken[3])
    unknown = create_dialogue("triage", call_id="c-unknown")
    await call(unknown, ["不太舒服", "说不好", "不太清楚", "不知道", "不知道"])
    assert (unknown.snapshot()["state"], unknown.snapshot()["level"]) == ("offer", 3)
    assert "信息不足时不降低紧急程度" in unknown.snapshot()["reason"]
