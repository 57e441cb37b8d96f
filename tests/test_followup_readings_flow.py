"""Follow-up calls hearing values as callers say them: halves in two answers, run-together readings, values
known only roughly (一百八十几 alerts at once, a straddling one left unknown alerts at the end), a read-back
corrected by the caller, pregnancy, a reading volunteered unasked, and an answer given in a red-flag turn."""

from __future__ import annotations

import pytest

from dialogue.followup.flow import FollowupDialogue


async def _call(program: str, turns: list[str]) -> FollowupDialogue:
    dialogue = FollowupDialogue(program=program)
    [reply async for reply in dialogue.open()]
    for turn in turns:
        if dialogue.ended:
            break
        replies = dialogue.handle_silence() if turn == "" else dialogue.handle(turn)
        [reply async for reply in replies]
    return dialogue


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("高压一百三十五", "低压八十五"),
        ("上面那个数是一百三十五", "下面那个八十五"),
        ("高压一百三十五", "八十五"),
        ("低压八十五", "高压一百三十五"),
    ],
)
async def test_halves_in_two_answers_make_one_reading(first: str, second: str) -> None:
    dialogue = await _call("hypertension", ["还行", first, second])
    assert dialogue.state == "confirm" and dialogue.pending == {"systolic": 135, "diastolic": 85}


@pytest.mark.parametrize("said", ["一八五一百一", "一百八十五，一百一", "一八五，一一零", "幺八五一百一十"])
async def test_a_run_together_danger_reading_is_read_back_then_alerts(said: str) -> None:
    dialogue = await _call("hypertension", ["挺好", said, "对的"])
    assert dialogue.values == {"systolic": 185, "diastolic": 110}
    assert "blood_pressure_high" in {d.code for d in dialogue.dangers}


@pytest.mark.parametrize(
    ("program", "said"),
    [
        ("hypertension", "一百八十几，一百"),
        ("hypertension", "高压快两百了"),
        ("hypertension", "两百出头"),
        ("diabetes", "二点几"),
        ("diabetes", "十七点几"),
        ("diabetes", "测了，血糖仪上就显示个HI"),
        ("diabetes", "显示LO"),
    ],
)
async def test_a_value_past_a_threshold_whatever_its_last_digit_alerts_but_is_not_recorded(
    program: str, said: str
) -> None:
    dialogue = await _call(program, ["还行", said])
    assert dialogue.dangers and dialogue.values == {} and dialogue.state == "final"
    assert dialogue.question in ("blood_pressure", "glucose")  # the clinician's value is asked once more


async def test_the_exact_value_after_an_approximate_danger_is_kept() -> None:
    dialogue = await _call("hypertension", ["还行", "一百八十几", "早上量的是一百八十六，一百零二"])
    assert dialogue.values == {"systolic": 186, "diastolic": 102} and dialogue.dangers


@pytest.mark.parametrize(
    ("program", "said"), [("hypertension", "一百七八十，一百"), ("diabetes", "十六点几")]
)
async def test_a_straddling_value_left_unknown_alerts(program: str, said: str) -> None:
    dialogue = await _call(program, ["还行", said, said, said])
    assert dialogue.dangers and not dialogue.values


@pytest.mark.parametrize(("program", "said"), [("hypertension", "一百四十几，九十"), ("diabetes", "七点多")])
async def test_a_rough_value_far_from_any_threshold_is_asked_again_and_never_alerts(
    program: str, said: str
) -> None:
    dialogue = await _call(program, ["还行", said, said, said])
    assert not dialogue.dangers and not dialogue.values and not dialogue.pending


async def test_a_read_back_corrected_by_the_caller_uses_the_correction() -> None:
    dialogue = await _call("hypertension", ["还行", "一百九十，一百", "不对，是一百七十，一百"])
    assert dialogue.pending == {"systolic": 170, "diastolic": 100}
    [reply async for reply in dialogue.handle("对的")]
    assert dialogue.values == {"systolic": 170, "diastolic": 100} and not dialogue.dangers


async def test_the_same_denied_reading_again_and_again_ends_as_unknown() -> None:
    dialogue = await _call("diabetes", ["还行", "六点七", *["不对，是六点七"] * 4])
    assert dialogue.question != "glucose" and "glucose" not in dialogue.values


async def test_pregnant_with_pressure_above_normal_alerts() -> None:
    dialogue = await _call("hypertension", ["我是她爱人，她现在怀孕七个月了", "一百四十六，九十四", "对的"])
    assert "pregnancy_high_bp" in {d.code for d in dialogue.dangers}
    dialogue = await _call("hypertension", ["还行，以前怀孕的时候血压也高过", "一百四十六，九十四", "对的"])
    assert not dialogue.dangers
    dialogue = await _call("hypertension", ["我闺女替我说，我还在喂奶", "一百四十二，九十二", "对的"])
    assert "pregnancy_high_bp" in {d.code for d in dialogue.dangers}


@pytest.mark.parametrize(
    ("said", "alerts"),
    [
        ("挺好，就是昨天在药店量了个血压，高压一百八十五，低压一百一十二", True),
        ("挺好，以前血压高压一百八十五，低压一百一十二，现在好了", False),
        ("挺好，昨天量了个血压，高压一百三十五，低压八十五", False),
        ("别的还好，就是血压一直降不下来，这两天都两百多", True),
        ("挺好，血压一百三十多", False),
    ],
)
async def test_a_pressure_volunteered_in_a_diabetes_call_counts(said: str, alerts: bool) -> None:
    dialogue = await _call("diabetes", [said])
    assert bool(dialogue.dangers) == alerts and dialogue.values == {}


async def test_the_answer_in_a_red_flag_turn_is_kept() -> None:
    dialogue = await _call(
        "diabetes", ["刚才手一直抖，还冒冷汗，吃了块糖好点了", "刚才测是三点一", "格列美脲每天吃"]
    )
    assert dialogue.ended and dialogue.answers.get("adherence") == "规律"


async def test_a_reading_with_two_exact_spellings_is_not_stored_without_a_read_back() -> None:
    dialogue = await _call("hypertension", ["心口闷，有点慌", "一百四十八九十"])
    assert dialogue.state == "final" and "systolic" not in dialogue.values


@pytest.mark.parametrize(("said", "alerts"), [("心跳一百二", True), ("心率一百一十五，别的还好", True), ("心跳七十二", False)])
async def test_a_heart_rate_volunteered_in_a_diabetes_call_counts(said: str, alerts: bool) -> None:
    dialogue = await _call("diabetes", [said])
    assert bool(dialogue.dangers) == alerts and "heart_rate" not in dialogue.values


async def test_one_half_past_its_threshold_alerts_before_the_other_is_said() -> None:
    dialogue = await _call("hypertension", ["还行", "高压一百九十五"])
    assert "blood_pressure_high" in {d.code for d in dialogue.dangers} and dialogue.values == {}
    [reply async for reply in dialogue.handle("低压九十七")]  # danger mode asks once more: the other half
    assert dialogue.values == {"systolic": 195, "diastolic": 97}
    dialogue = await _call("hypertension", ["还行", "高压一百五十五"])
    assert not dialogue.dangers and dialogue.partial == {"systolic": 155}


async def test_a_yes_that_repeats_the_reading_confirms_it() -> None:
    dialogue = await _call("hypertension", ["还行", "一百八十五，一百一", "对，一百八十五，一百一"])
    assert dialogue.values == {"systolic": 185, "diastolic": 110} and dialogue.dangers


@pytest.mark.parametrize(
    ("first", "who"),
    [("我是她闺女，俺娘耳朵背，我替她回答吧，她最近还中", "她"), ("我是他老伴，老头子耳朵背，我替他说", "他"), ("挺好", "您")],
)
async def test_a_relative_answering_hears_the_patient_named(first: str, who: str) -> None:
    dialogue = FollowupDialogue(program="hypertension")
    [reply async for reply in dialogue.open()]
    said = [reply.text async for reply in dialogue.handle(first)]
    assert f"{who}最近" in "".join(said) or f"说一下{who}" in "".join(said)
