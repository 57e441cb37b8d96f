"""Follow-up calls: value reading, read-back and correction, danger criteria, classification across calls,
refusal / silence / hang-up, and the results in the embedded records store."""

from __future__ import annotations

from datetime import date

import pytest

from backends.interfaces import Principal
from dialogue import create_dialogue
from dialogue.followup import answers
from dialogue.followup.classify import next_step
from dialogue.followup.flow import FollowupDialogue
from dialogue.followup.program import Program
from dialogue.followup.values import read_blood_pressure, read_glucose, read_weight

HTN = Program.load("hypertension")
TEAM = Principal("nurse-gp", "department", "demo-hospital", department_id="dept-general-practice")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("高压一百四十六低压九十二", (146, 92)),
        ("一百七十五、一百一十二", (175, 112)),
        ("今天早上量的一百八十六，一百零八", (186, 108)),
        ("146/92 mmHg", (146, 92)),
        ("上面一百三十四，下面八十二", (134, 82)),
        ("一百五，不对，是一百四十五比九十", (145, 90)),
        ("今天早上量了两次，一百四十二，八十八", (142, 88)),
    ],
)
def test_blood_pressure_from_colloquial_speech(text: str, expected: tuple[int, int]) -> None:
    reading = read_blood_pressure(text, HTN.ranges)
    assert reading.ok and (reading.values["systolic"], reading.values["diastolic"]) == expected


@pytest.mark.parametrize(
    ("text", "status"),
    [("一百四十多", "approximate"), ("一百三四，九十", "approximate"), ("高压一百三", "incomplete"),
     ("三百五，九十", "out_of_range"), ("九十，一百四", "out_of_range"), ("不知道", "missing")],
)
def test_blood_pressure_is_never_guessed(text: str, status: str) -> None:
    assert read_blood_pressure(text, HTN.ranges).status == status


@pytest.mark.parametrize(
    ("text", "value", "status"),
    [("空腹六点八", 6.8, "ok"), ("早上测的十七点五", 17.5, "ok"), ("早上七点测的六点八", 6.8, "ok"),
     ("七点多", None, "approximate"), ("六点几吧", None, "approximate"), ("一百二十六", None, "out_of_range")],
)
def test_glucose(text: str, value: float | None, status: str) -> None:
    reading = read_glucose(text, (1.1, 33.3))
    assert reading.status == status and reading.values.get("glucose") == value


def test_weight_needs_a_unit_and_converts_jin() -> None:
    assert read_weight("一百四十斤", (25, 250)).values == {"weight": 70.0}
    assert read_weight("七十", (25, 250)).status == "unit"


@pytest.mark.parametrize(
    ("text", "adherence"),
    [("药天天都按时吃", "规律"), ("有时候忘了吃", "间断"), ("吃了药就觉得好了，有时候就不吃", "间断"),
     ("药吃完了没去开", "不服药"), ("血压正常了我就停药了", "不服药"), ("还行吧", None)],
)
def test_adherence_classes(text: str, adherence: str | None) -> None:
    assert answers.read_adherence(text) == adherence


def test_negated_symptom_lists_stay_negated() -> None:
    options = list(HTN.symptoms)
    assert answers.read_symptoms("没有头疼头晕", options) == ["1"]
    assert answers.read_symptoms("有点头疼，腿也肿", options) == ["2", "9"]


def test_state_machine_first_unsatisfactory_recalls_second_refers() -> None:
    today = date(2026, 11, 23)
    first = next_step("控制不满意", 0, "控制满意", urgent=False, today=today)
    assert (first.action, first.streak, first.next_due) == ("recall_2w", 1, date(2026, 12, 7))
    second = next_step("控制不满意", first.streak, "控制不满意", urgent=False, today=today)
    assert (second.action, second.streak) == ("referral", 2)
    back = next_step("控制满意", second.streak, "控制不满意", urgent=False, today=today)
    assert (back.action, back.streak, back.next_due) == ("routine", 0, date(2027, 2, 21))


async def _call(dialogue: FollowupDialogue, turns: list[str]) -> list[str]:
    said = [reply.text async for reply in dialogue.open()]
    for turn in turns:
        if dialogue.ended:
            break
        replies = dialogue.handle_silence() if turn == "" else dialogue.handle(turn)
        said += [reply.text async for reply in replies]
    return said


async def test_read_back_is_corrected_by_voice() -> None:
    dialogue = FollowupDialogue(program="hypertension")
    said = await _call(dialogue, ["还行", "一百三十，八十", "不对，低压是八十二"])
    assert "一百三十比八十" in "".join(said) or "高压一百三十，低压八十" in "".join(said)
    assert dialogue.state == "confirm" and dialogue.pending == {"systolic": 130, "diastolic": 82}
    await _call_more(dialogue, ["对"])
    assert dialogue.values == {"systolic": 130, "diastolic": 82}


async def _call_more(dialogue: FollowupDialogue, turns: list[str]) -> None:
    for turn in turns:
        [reply async for reply in dialogue.handle(turn)]


async def test_approximate_value_is_asked_again_not_guessed() -> None:
    dialogue = FollowupDialogue(program="diabetes")
    said = await _call(dialogue, ["还可以", "七点多"])
    assert dialogue.state == "ask" and "glucose" not in dialogue.values and not dialogue.pending
    assert "数" in said[-2] or "准确" in said[-2]


async def test_danger_value_ends_survey_with_advice_and_same_day_handoff(records_store) -> None:
    patient = await records_store.create(TEAM, {"resourceType": "Patient", "name": [{"text": "随访测试甲"}]})
    dialogue = FollowupDialogue(program="hypertension", records=records_store, principal=TEAM,
                                patient_id=patient["id"], consultation=records_store, call_id="fu-danger")
    said = await _call(dialogue, ["还行", "一百八十六，一百零八", "对", "有时候忘了吃"])
    text = "".join(said)
    assert "今天" in text and "医生" in text and dialogue.ended
    assert dialogue.handoff_id is not None and dialogue.snapshot()["alert"] is True
    assert dialogue.answers["adherence"] == "间断" and dialogue.result["action"] == "urgent_referral"
    queue = await records_store.handoff_queue(TEAM)
    assert any(t.ticket_id == dialogue.handoff_id and t.request.flow == "followup" for t in queue)


async def test_symptom_red_flag_gives_120_and_ends() -> None:
    dialogue = FollowupDialogue(program="hypertension")
    said = await _call(dialogue, ["胸口疼了半个多小时，还出了一身冷汗", "一百五十，九十"])
    assert "120" in "".join(said) and dialogue.ended and dialogue.hits


async def test_refusal_and_silence_end_politely_as_incomplete() -> None:
    refused = FollowupDialogue(program="diabetes")
    said = await _call(refused, ["我现在没空，别打了"])
    assert refused.ended and refused.outcome == "incomplete" and "再见" in said[-1]
    silent = FollowupDialogue(program="diabetes")
    await _call(silent, ["", ""])
    assert silent.ended and silent.outcome == "incomplete"


async def test_full_call_writes_encounter_observations_and_questionnaire(records_store) -> None:
    patient = await records_store.create(TEAM, {"resourceType": "Patient", "name": [{"text": "随访测试乙"}],
                                                "birthDate": "1960-05-01"})
    answers_said = ["还行", "一百五十二，九十四", "对", "天天吃", "没有", "没有", "七十八", "对", "六十五公斤", "对",
                    "不抽", "不喝", "每天走半小时", "偏淡"]
    for expected_action in ("recall_2w", "referral"):  # two unsatisfactory calls in a row
        dialogue = create_dialogue("followup", records=records_store, principal=TEAM, patient_id=patient["id"],
                                   program="hypertension", call_id="fu-full")
        await _call(dialogue, answers_said)
        assert dialogue.outcome == "completed" and dialogue.result["visit_class"] == "控制不满意"
        assert dialogue.result["action"] == expected_action
    encounter = await records_store.read(TEAM, "Encounter", dialogue.saved["encounter"])
    assert encounter["type"][0]["coding"][0]["display"] == "电话" and encounter["class"]["code"] == "VR"
    observations = await records_store.search(TEAM, "Observation", {"patient": patient["id"]})
    bp = [o for o in observations if o["code"]["coding"][0]["code"] == "85354-9"]
    assert {c["valueQuantity"]["value"] for c in bp[-1]["component"]} == {152, 94}
    response = await records_store.read(TEAM, "QuestionnaireResponse", dialogue.saved["questionnaire_response"])
    items = {item["linkId"]: item["answer"] for item in response["item"]}
    assert response["status"] == "completed" and items["adherence"][0]["valueString"] == "规律"


async def test_hang_up_saves_partial_answers(records_store) -> None:
    patient = await records_store.create(TEAM, {"resourceType": "Patient", "name": [{"text": "随访测试丙"}]})
    dialogue = FollowupDialogue(program="diabetes", records=records_store, principal=TEAM, patient_id=patient["id"])
    await _call(dialogue, ["还行", "空腹六点六", "对", "每天吃"])
    await dialogue.hangup()
    response = await records_store.read(TEAM, "QuestionnaireResponse", dialogue.saved["questionnaire_response"])
    assert dialogue.outcome == "partial" and response["status"] == "stopped"
    assert dialogue.result["streak"] == 0  # an unfinished call does not move the state machine


def test_service_identity_cannot_run_a_call_with_history(records_store) -> None:
    service = Principal("voice-agent", "service", "demo-hospital")
    with pytest.raises(ValueError, match="care team"):
        FollowupDialogue(program="hypertension", records=records_store, principal=service, patient_id="p")
