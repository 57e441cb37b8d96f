"""Discriminators of high-risk presentations: what opens a presentation, what rules it out, which question
comes next, and the Manchester-style floor (unknown or never ruled out keeps the level)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from dialogue.people import Person
from dialogue.triage.discriminators import ABSENT, PRESENT, UNKNOWN, Assessment, read_minutes, table


def _assessed(*turns: str) -> Assessment:
    assessment = Assessment()
    person = Person()
    for turn in turns:
        person.update(turn)
        assessment.observe(turn, person)
    return assessment


@pytest.mark.parametrize(("text", "presentation"), [
    ("我老伴心里头像压了块石头", "chest"),
    ("他捂着胸口说胃疼", "chest"),
    ("我爸一下一下地倒气，叫他眼睛都不睁", "consciousness"),
    ("俺娘嘴角往左边歪了", "neuro"),
    ("我同事开会时突然说的话乱七八糟，听不懂他说啥", "neuro"),
    ("今早吐了小半盆血", "bleeding"),
    ("他把一整瓶安眠药都吃了", "poisoning"),
    ("屋里生着炉子，我妈头晕", "poisoning"),
    ("我不想再拖累家里了", "self_harm"),
    ("她已经站在阳台上了", "self_harm"),
    ("吃了芒果以后舌头肿了", "allergy"),
    ("孩子抽风，口吐白沫", "seizure"),
    ("我爸从梯子上摔下来了", "trauma"),
])
def test_lay_words_open_the_presentation(text: str, presentation: str) -> None:
    assert presentation in _assessed(text).touched


@pytest.mark.parametrize("text", [
    "胸口不疼，也不闷，就是后背有点酸",
    "没有喘不上气，就是嗓子有点痒",
    "我没有想不开，就是最近压力大睡不好",
    "嘴没歪，说话也清楚",
])
def test_negated_mentions_open_nothing(text: str) -> None:
    assessment = _assessed(text)
    assert assessment.floor() is None


def test_an_unasked_discriminator_keeps_the_level_and_only_no_answers_lower_it() -> None:
    assessment = _assessed("我胸口有点疼")
    floor = assessment.floor()
    assert floor is not None and floor.level == 2  # not yet ruled out: stays urgent
    for _ in range(3):
        question = assessment.next_question()
        assert question is not None and question.presentation == "chest"
        assert assessment.answer(question.id, "没有") == ABSENT
    assert assessment.next_question() is None
    assert assessment.floor() is None  # every asked discriminator ruled out


@pytest.mark.parametrize("reply", ["不太清楚", "不知道", "说不好", "嗯……这个……"])
def test_dont_know_counts_as_present_for_the_level(reply: str) -> None:
    assessment = _assessed("胸口闷得慌")
    question = assessment.next_question()
    assert question is not None
    assert assessment.answer(question.id, reply) == UNKNOWN
    floor = assessment.floor()
    assert floor is not None and floor.level == 2
    assert assessment.next_question() is None  # settled: no more questions about the chest
    assert assessment.flags() == []  # unknown keeps the level, it does not invent a red flag


def test_a_yes_answer_feeds_the_red_flag() -> None:
    assessment = _assessed("我胸口疼")
    assert assessment.answer("cold_sweat", "有，出了一身汗") == PRESENT
    assert [code for code, _, _ in assessment.flags()] == ["chest_pain_acs"]


def test_question_polarity_follows_the_question() -> None:
    assessment = _assessed("鼻子流血了，流了好多")
    assert assessment.answer("bleeding_ongoing", "止住了") == ABSENT
    assessment = _assessed("刚才吐血了")
    assert assessment.answer("bleeding_ongoing", "没有，还在吐") == PRESENT


def test_unknown_responsiveness_keeps_level_two_and_asks_for_a_nurse() -> None:
    assessment = _assessed("老人摔了一跤，之后一直犯困")
    question = assessment.next_question()
    assert question is not None and question.id == "unresponsive"
    assessment.answer("unresponsive", "不太清楚")
    floor = assessment.floor()
    assert floor is not None and floor.level == 2 and floor.nurse


def test_low_risk_context_asks_nothing() -> None:
    assessment = _assessed("上楼的时候胸口发闷，停下来歇一会就好")
    assert assessment.next_question() is None
    assert assessment.floor() is None


def test_signs_described_in_the_text_are_read_without_asking() -> None:
    assessment = _assessed("心口这块像有东西压着，已经快半个钟头了")
    assert assessment.states["chest_duration"] == PRESENT
    assert assessment.flags()[0][0] == "chest_pain_acs"


def test_young_infant_needs_the_age() -> None:
    assert "infant" in _assessed("我家宝宝生下来才十来天，摸着身上热").touched
    assert "infant" not in _assessed("发烧三天了，最高三十九度二").touched


@pytest.mark.parametrize(("text", "minutes"), [
    ("快半个钟头了", 30), ("前后得有二十分钟", 20), ("一个多小时", 60), ("一上午", 180), ("十几分钟", 15),
    ("三分钟", 3), ("没多久", None),
])
def test_spoken_durations(text: str, minutes: float | None) -> None:
    assert read_minutes(text) == minutes


def test_every_question_has_a_prompt_and_every_flag_is_a_red_flag_code() -> None:
    prompts = json.loads(resources.files("dialogue.data.prompts").joinpath("triage.json").read_text("utf-8"))
    red_flags = json.loads(resources.files("dialogue.data").joinpath("red_flags.json").read_text("utf-8"))
    codes = {rule["code"] for rule in red_flags["rules"]}
    for presentation in table():
        assert presentation.flag in codes
        for discriminator in presentation.discriminators:
            assert discriminator.question is None or discriminator.question in prompts
            assert discriminator.flag is None or discriminator.flag in codes


async def _call(*turns: str) -> tuple[list[str], dict]:
    from dialogue import create_dialogue

    dialogue = create_dialogue("triage", call_id="disc")
    [reply async for reply in dialogue.open()]
    said = []
    for turn in turns:
        said.append("".join([reply.text async for reply in dialogue.handle(turn)]))
    return said, dialogue.snapshot()


async def test_the_agent_asks_one_discriminator_and_dont_know_keeps_it_urgent() -> None:
    said, snapshot = await _call("我胸口有点不舒服", "不太清楚")
    assert said[0].count("？") == 1 and "120" not in said[0]
    assert snapshot["level"] == 2 and snapshot["department"] == "急诊科"
    assert snapshot["red_flags"] == []  # unknown keeps the level; it is not a confirmed flag


async def test_a_yes_to_a_discriminator_raises_the_red_flag_with_the_120_instruction() -> None:
    said, snapshot = await _call("我胸口有点不舒服", "有")
    assert "120" in said[-1]
    assert "chest_pain_acs" in snapshot["red_flags"]


async def test_discriminators_ruled_out_let_the_level_go_down() -> None:
    said, snapshot = await _call("我胸口有点不舒服", "几分钟就好了，现在不疼了", "没有", "没有", "不疼", "没有")
    assert snapshot["level"] == 3
    assert snapshot["red_flags"] == []


def test_each_discriminator_question_is_one_short_question() -> None:
    prompts = json.loads(resources.files("dialogue.data.prompts").joinpath("triage.json").read_text("utf-8"))
    for presentation in table():
        for discriminator in presentation.discriminators:
            for wording in prompts.get(discriminator.question or "", []):
                assert wording.count("？") == 1 and len(wording) <= 30, wording


@pytest.mark.parametrize(("text", "presentation"), [
    ("我传不上气了", "breathing"),  # misheard 喘 (the concept layer's pinyin forms)
    ("他吃了大半瓶阿普唑仑", "poisoning"),
])
def test_concept_rules_open_presentations_the_regexes_miss(text: str, presentation: str) -> None:
    assert presentation in _assessed(text).touched


def test_concept_rules_need_their_concepts_close_together() -> None:
    assert "chest" not in _assessed("没有胸痛，就是想查查心脏，我爸有心脏病").touched


def test_complaints_are_also_read_through_the_concept_layer() -> None:
    from dialogue.triage.slots import find_complaints

    assert "wheeze" in {c.id for c in find_complaints("我传不上气了")}  # misheard 喘, no phrasing matches
    assert "dizziness" not in {c.id for c in find_complaints("血压一百四十五，没有头疼头晕")}


def test_an_accidental_cut_is_bleeding_not_self_harm() -> None:
    assessment = _assessed("我手上割了个口子，血一直往外冒")
    assert "self_harm" not in assessment.touched
    assert [code for code, _, _ in assessment.flags()] == ["major_bleeding"]
    assert "self_harm" in _assessed("我弟把自己手腕割了，地上一摊血").touched


def test_history_alone_does_not_flag_a_low_risk_presentation() -> None:
    assert _assessed("以前放过支架，偶尔胸口有点闷，一会儿就好").flags() == []
    assert _assessed("我有糖尿病十七年了").flags() == []
    assert [code for code, _, _ in _assessed("我有冠心病，今天胸口疼").flags()] == ["chest_pain_acs"]


@pytest.mark.parametrize("text", ["刚做完手术，腿肿，喘得厉害", "发烧，脖子硬，身上有出血点", "我在化疗，今天发烧三十八度五",
                                  "我爸有心衰，今天喘得比平时厉害"])
def test_context_makes_a_common_symptom_urgent(text: str) -> None:
    floor = _assessed(text).floor()
    assert floor is not None and floor.level <= 2


def test_fever_alone_is_not_urgent() -> None:
    assert _assessed("孩子五岁，发烧三十八度八，咳嗽流鼻涕，精神还可以").floor() is None


@pytest.mark.parametrize("text", [
    "咳嗽的时候胸口有点疼，感冒一个礼拜了", "跑步以后有点喘，歇一会就好了", "月经量比平时多一点，没什么不舒服",
    "刷牙牙龈出血", "大便干，有点带血，痔疮又犯了", "孩子磕了一下额头，起了个包，哭完就好了",
    "胃有点烧，吃完饭就这样", "嗓子疼，喉咙有点肿，吞东西疼", "以前晕倒过一次，查了没事，最近挺好",
    "我有冠心病，想来开点药", "我胸口长了个痘",
])
def test_everyday_complaints_open_no_urgent_presentation(text: str) -> None:
    assessment = _assessed(text)
    assert assessment.floor() is None and assessment.flags() == []
