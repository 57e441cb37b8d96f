"""Follow-up answers in the words patients use: adherence, danger symptoms in lay words, and symptoms
told as past and over (not a danger) versus recent ones (still a danger)."""

from __future__ import annotations

import pytest

from dialogue.followup.answers import (
    mentioned_now,
    read_adherence,
    read_alcohol,
    read_cigarettes,
    read_hypoglycemia,
    read_side_effects,
    read_symptoms,
)
from dialogue.followup.classify import symptom_dangers
from dialogue.followup.program import Program


@pytest.mark.parametrize(
    ("text", "adherence"),
    [
        ("降压药一天不落", "规律"),
        ("他那药一天不落，我管着呢", "规律"),
        ("三天打鱼两天晒网", "间断"),
        ("吃了胃难受，一个月也就吃个十来天", "间断"),
        ("有时候药没吃", "间断"),
        ("改吃保健品了，医院开的药没吃", "不服药"),
        ("感觉好了就停了，没吃一个多月了", "不服药"),
        ("在喝中药调理，西药不吃了", "不服药"),
        ("她那药俺也不知道吃没吃", None),
    ],
)
def test_adherence_in_lay_words(text: str, adherence: str | None) -> None:
    assert read_adherence(text) == adherence


@pytest.mark.parametrize(
    ("program", "text", "code"),
    [
        ("hypertension", "夜里憋醒好几回，得垫三个枕头坐着才能睡", "orthopnoea"),
        ("hypertension", "不太好，心里扑通扑通跳得厉害，慌得很", "palpitation_chest_tightness"),
        ("hypertension", "鼻子出血，流了半个多钟头都止不住", "bleeding_uncontrolled"),
        ("hypertension", "最近左边胳膊腿都没劲，走路老往一边偏", "stroke_signs"),
        ("hypertension", "头疼得像要裂开一样，吃了止疼片也不管用", "severe_headache_dizziness"),
        ("hypertension", "俺娘这两天迷迷糊糊的，叫她半天才答应", "consciousness"),
        ("diabetes", "尿多，老想喝水，嘴干得不行", "polydipsia_polyuria_marked"),
        ("diabetes", "左眼突然看不见了", "sudden_vision_loss"),
        ("diabetes", "心口闷，疼得往后背窜", "chest_pain"),
        ("diabetes", "测出来是LO，仪器上就俩字母", "meter_out_of_range"),
    ],
)
def test_danger_symptoms_in_lay_words(program: str, text: str, code: str) -> None:
    assert code in {danger.code for danger in symptom_dangers(Program.load(program), text)}


@pytest.mark.parametrize(
    "text",
    [
        "以前胸口疼过，放了支架，这两年没再疼过",
        "还好，就是前两天吃坏肚子了有点恶心，现在好了",
        "上个月有一回，饿着了有点心慌，吃了块糖就好了",
        "没有心慌，也不胸闷，就是最近睡不太好",
    ],
)
def test_past_and_over_or_denied_is_not_a_danger(text: str) -> None:
    assert symptom_dangers(Program.load("hypertension"), text) == []


def test_recent_symptom_counts_even_when_it_has_passed() -> None:
    assert mentioned_now("胸口疼", "刚才胸口疼，现在好了")
    assert mentioned_now("胸口疼", "没事。刚才胸口疼")


def test_danger_symptoms_also_through_the_concept_layer_but_not_in_a_denied_clause() -> None:
    program = Program.load("hypertension")
    assert "orthopnoea" in {d.code for d in symptom_dangers(program, "我传不上气")}  # misheard 喘
    assert symptom_dangers(program, "没有什么反应") == []


_WHO = ("", "药", "降压药", "他那药", "二甲双胍", "胰岛素我")
_REGULAR_SAID = (
    "天天吃",
    "每天都吃",
    "一天没断",
    "一顿没落过",
    "没停过，天天吃",
    "一顿不少",
    "按时吃的",
    "吃着呢，一天一片",
    "一回没落下",
    "每天早晚各一次，都吃了",
    "我天天看着他吃",
    "顿顿吃",
)
_OFTEN_SAID = ("有时候", "偶尔", "隔三差五", "隔三岔五", "三天两头", "时不时", "经常")
_MISS_SAID = ("忘吃", "忘一回", "漏一顿", "不吃", "没吃")
_COUNTS = ("一", "两", "三", "两三", "好几")


@pytest.mark.parametrize("who", _WHO)
@pytest.mark.parametrize("said", _REGULAR_SAID)
def test_taking_as_prescribed_however_said(who: str, said: str) -> None:
    assert read_adherence(who + said) == "规律"


@pytest.mark.parametrize("often", _OFTEN_SAID)
@pytest.mark.parametrize("miss", _MISS_SAID)
def test_missing_now_and_then_however_said(often: str, miss: str) -> None:
    for who in _WHO:
        assert read_adherence(f"{who}{often}{miss}") == "间断", who + often + miss
        assert read_adherence(f"{who}天天吃，就是{often}{miss}") == "间断"


@pytest.mark.parametrize("count", _COUNTS)
@pytest.mark.parametrize(
    "form",
    ["这礼拜忘了{n}回", "一个礼拜漏了{n}次", "这周落了{n}天", "一礼拜能吃个{n}天就不错了", "上礼拜断了{n}天"],
)
def test_missed_doses_counted(count: str, form: str) -> None:
    assert read_adherence(form.format(n=count)) == "间断"


@pytest.mark.parametrize("stop", ["停了", "不吃了", "断了", "没吃了"])
@pytest.mark.parametrize(
    ("gap", "adherence"),
    [
        ("半个月", "不服药"),
        ("一个多月", "不服药"),
        ("好几个月", "不服药"),
        ("两天", "间断"),
        ("三四天", "间断"),
        ("好几天", "间断"),
    ],
)
def test_a_stop_is_not_taking_unless_the_gap_was_short(stop: str, gap: str, adherence: str) -> None:
    assert read_adherence(f"药{stop}，有{gap}了") == adherence


@pytest.mark.parametrize(
    ("text", "adherence"),
    [
        ("医生开了药我没吃，是药三分毒", "不服药"),
        ("医生开的药我一直没吃，我光靠管住嘴迈开腿", "不服药"),
        ("药吃完了没去拿，一个多礼拜没吃了", "不服药"),
        ("前阵子药吃完了，隔了四五天才去拿的药", "间断"),
        ("上个月药吃完了，拖了一礼拜才去医院开", "间断"),
        ("胰岛素我自己减了两个单位，怕低血糖", "间断"),
        ("每天都打，就是量少了", "间断"),
        ("药他不老实吃，一礼拜能吃个三四天就不错了", "间断"),
        ("不是每天都吃", "间断"),
        ("药这两天没顾上吃", "间断"),
        ("哎呀你们这电话打得真准时", None),
        ("每天早上快走四十分钟", None),
    ],
)
def test_adherence_stories(text: str, adherence: str | None) -> None:
    assert read_adherence(text) == adherence


@pytest.mark.parametrize(
    "text", ["身上没啥不舒服的", "没啥症状", "身上挺好，没啥症状", "啥毛病都没有", "莫得啥子不舒服"]
)
def test_nothing_wrong_said_without_a_bare_no(text: str) -> None:
    assert read_symptoms(text, list(Program.load("diabetes").symptoms)) == ["1"]


def test_no_side_effects_and_no_hypos_in_lay_words() -> None:
    assert read_side_effects("吃了药也没啥反应") is False
    assert read_hypoglycemia("低血糖没犯过") == "无" and read_hypoglycemia("从来没低过") == "无"


@pytest.mark.parametrize(
    "text",
    [
        "挺好，心不慌手也不抖",
        "头一点都不疼",
        "上个礼拜有一回饭吃晚了，手有点抖，吃了块糖就好了",
        "脚上前阵子磨了个泡，上了药早长好了",
    ],
)
def test_denied_inside_the_words_or_past_and_over_is_no_danger(text: str) -> None:
    assert symptom_dangers(Program.load("diabetes"), text) == []


@pytest.mark.parametrize("where", ["夜里起来尿", "晚上起夜", "一晚上跑厕所", "半夜上厕所"])
@pytest.mark.parametrize(
    ("count", "danger"),
    [
        ("三", True),
        ("四", True),
        ("五六", True),
        ("好几", True),
        ("七八", True),
        ("一", False),
        ("两", False),
        ("一两", False),
    ],
)
@pytest.mark.parametrize("unit", ["回", "趟", "次"])
def test_night_voiding_counted(where: str, count: str, danger: bool, unit: str) -> None:
    found = {d.code for d in symptom_dangers(Program.load("diabetes"), f"最近老口渴，{where}{count}{unit}")}
    assert ("polydipsia_polyuria_marked" in found) == danger


@pytest.mark.parametrize(
    "text",
    [
        "左脚大脚趾头上那个口子一个月了也不长好，这两天开始流脓，边上都发黑了",
        "脚后跟烂了个口子，化脓了",
        "脚趾头有点发黑",
    ],
)
def test_a_festering_or_blackened_foot_is_a_danger(text: str) -> None:
    assert "foot_wound" in {d.code for d in symptom_dangers(Program.load("diabetes"), text)}


@pytest.mark.parametrize(
    ("program", "text", "code"),
    [
        ("hypertension", "脑袋嗡嗡的，晕得站不住", "severe_headache_dizziness"),
        ("hypertension", "晕得起不来床", "severe_headache_dizziness"),
        ("diabetes", "呼出来的气有股怪味，酸酸的", "acetone_breath"),
        ("diabetes", "嘴里有股烂水果的味儿", "acetone_breath"),
        ("diabetes", "尿多老想喝水", "polydipsia_polyuria_marked"),
        ("diabetes", "口干得很，小便也多", "polydipsia_polyuria_marked"),
        ("diabetes", "一天到晚口渴，喝了还渴", "polydipsia_polyuria_marked"),
        ("diabetes", "喘气又深又快", "deep_breathing"),
        ("diabetes", "脸通红", "flushed_skin"),
        ("diabetes", "脚上的伤口一直不好还发臭", "foot_wound"),
    ],
)
def test_more_danger_symptoms_in_lay_words(program: str, text: str, code: str) -> None:
    assert code in {danger.code for danger in symptom_dangers(Program.load(program), text)}


@pytest.mark.parametrize("text", ["有点口渴", "晚上起夜一回", "嘴不干，尿也正常", "头有点晕，不厉害", "脸不红"])
def test_mild_or_denied_look_alikes_are_no_danger(text: str) -> None:
    assert symptom_dangers(Program.load("diabetes"), text) == []


@pytest.mark.parametrize(
    ("text", "adherence"),
    [
        ("药一直按医生说的吃", "规律"),
        ("早晚各一片，雷打不动", "规律"),
        ("一天没拉下", "规律"),
        ("每天早上起来第一件事就是吃药", "规律"),
        ("出门在外就没带", "间断"),
        ("血压不高的时候就不吃", "间断"),
        ("头不晕就不吃了，晕了再吃", "间断"),
        ("吃得不太准时", "间断"),
        ("好久没吃了", "不服药"),
        ("药早不吃了", "不服药"),
        ("嫌贵就没买", "不服药"),
        ("我觉得没必要吃", "不服药"),
    ],
)
def test_adherence_more_voices(text: str, adherence: str) -> None:
    assert read_adherence(text) == adherence


@pytest.mark.parametrize(
    ("text", "per_day"),
    [("烟抽的，一天十来根", 10), ("一天一包", 20), ("半包", 10), ("一天两三根", 2.5), ("一天二十支", 20), ("烟早戒了", 0)],
)
def test_cigarettes_a_habit_read_at_its_middle(text: str, per_day: float) -> None:
    assert read_cigarettes(text) == per_day


@pytest.mark.parametrize(("text", "liang"), [("喝点啤酒，一天一瓶", 1), ("一天二两白酒", 2), ("啤酒两瓶", 2), ("酒不喝", 0)])
def test_alcohol_in_liang_a_bottle_of_beer_as_one(text: str, liang: float) -> None:
    assert read_alcohol(text) == liang
