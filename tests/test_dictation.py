"""Dictation: sections by cue and by content, voice commands never in the note, negations intact, no
sections → 现病史 with a warning, and the Composition saved by the doctor (role-checked)."""

from __future__ import annotations

import pytest

from backends.interfaces import AccessDeniedError, Principal
from dialogue import create_dialogue
from dialogue.dictation.commands import parse_command, split_commands
from dialogue.dictation.flow import DictationDialogue, composition
from dialogue.dictation.note import Note

DOCTOR = Principal("doc-general-practice-1", "doctor", "demo-hospital", department_id="dept-general-practice")


async def _dictate(dialogue: DictationDialogue, utterances: list[str]) -> list[str]:
    said = [reply.text async for reply in dialogue.open()]
    for utterance in utterances:
        said += [reply.text async for reply in dialogue.handle(utterance)]
    return said


def test_cued_dictation_goes_to_the_named_sections_without_the_cue_words() -> None:
    note = Note()
    note.dictate("主诉，右下腹痛一天。现病史，患者一天前出现脐周疼痛，伴恶心，无呕吐。诊断：急性阑尾炎。")
    sections = note.sections()
    assert sections["主诉"] == "右下腹痛一天。"
    assert sections["现病史"] == "患者一天前出现脐周疼痛，伴恶心，无呕吐。"
    assert sections["初步诊断"] == "急性阑尾炎。"


def test_uncued_dictation_is_placed_by_content_and_negations_survive() -> None:
    note = Note()
    note.dictate("反复咳嗽咳痰十年，加重三天，伴发热。既往有慢性阻塞性肺疾病病史，无药物过敏史，否认高血压。"
                 "查体双肺可闻及湿啰音。血常规白细胞升高。初步诊断慢性阻塞性肺疾病急性加重。给予头孢曲松静脉滴注。")
    sections = note.sections()
    assert "咳嗽咳痰十年，加重三天" in sections["主诉"] and "伴发热" in sections["现病史"]
    assert sections["过敏史"] == "无药物过敏史。"
    assert "否认高血压" in sections["既往史"]
    assert "湿啰音" in sections["体格检查"] and "白细胞" in sections["辅助检查"]
    assert "头孢曲松" in sections["处理意见"]


def test_no_recognisable_sections_keeps_everything_under_hpi_with_a_warning() -> None:
    note = Note()
    note.dictate("今天来复诊，最近感觉还行，药一直在吃。")
    assert note.sections() == {"现病史": "今天来复诊，最近感觉还行，药一直在吃。"}
    assert note.warnings() and "现病史" in note.warnings()[0]


@pytest.mark.parametrize(
    ("said", "name", "section"),
    [("删除上一句", "delete_last", None), ("删掉上一句。", "delete_last", None), ("撤销", "undo", None),
     ("下一段", "next_section", None), ("读一遍主诉", "read", "主诉"), ("把现病史读一遍", "read", "现病史"),
     ("保存病历。", "save", None), ("好的，保存病历", "save", None)],
)
def test_commands_are_recognised(said: str, name: str, section: str | None) -> None:
    command = parse_command(said)
    assert command is not None and command.name == name and command.section == section


def test_text_mentioning_a_command_word_stays_dictation() -> None:
    assert parse_command("患者拒绝撤销医嘱。") is None
    pieces = split_commands("伴恶心。删除上一句。无呕吐。")
    assert pieces[0] == "伴恶心。" and pieces[2] == "无呕吐。" and parse_command("删除上一句") == pieces[1]


async def test_voice_commands_edit_the_note_and_never_enter_it() -> None:
    dialogue = DictationDialogue()
    said = await _dictate(dialogue, [
        "主诉，头痛三天。", "现病史，三天前出现头痛。我说错了。", "删除上一句", "把主诉改成头痛两天。",
        "读一遍主诉", "撤销", "下一段", "否认高血压病史。", "读一遍",
    ])
    sections = dialogue.note.sections()
    assert sections["主诉"] == "头痛三天。"  # the change was undone
    assert sections["现病史"] == "三天前出现头痛。"
    assert sections["既往史"] == "否认高血压病史。"
    assert "主诉：头痛两天。" in said and "既往史：否认高血压病史。" in said
    assert not any(word in "".join(sections.values()) for word in ("删除", "撤销", "读一遍", "改成", "下一段"))


async def test_saved_as_a_composition_authored_by_the_doctor(records_store) -> None:
    patient = await records_store.create(DOCTOR, {"resourceType": "Patient", "name": [{"text": "口述测试"}]})
    dialogue = create_dialogue("dictation", records=records_store, principal=DOCTOR, patient_id=patient["id"])
    said = await _dictate(dialogue, ["主诉，头晕一周。过敏史，无药物过敏史。诊断，高血压。", "保存病历"])
    assert dialogue.ended and "保存" in said[-1]
    note = await records_store.read(DOCTOR, "Composition", dialogue.composition_id)
    assert note["author"][0]["reference"] == "Practitioner/doc-general-practice-1"
    assert note["subject"]["reference"] == f"Patient/{patient['id']}" and note["status"] == "preliminary"
    assert {s["title"]: s["text"]["div"] for s in note["section"]}["过敏史"].endswith(">无药物过敏史。</div>")
    other = Principal("doc-general-practice-2", "doctor", "demo-hospital", department_id="dept-general-practice")
    with pytest.raises(AccessDeniedError):  # only the author amends the note
        await records_store.update(other, {**note, "title": "改"})


def test_dictation_requires_a_doctor_principal(records_store) -> None:
    service = Principal("voice-agent", "service", "demo-hospital")
    with pytest.raises(ValueError, match="doctor"):
        DictationDialogue(records=records_store, principal=service, patient_id="p")
    assert composition(Note(), "p", DOCTOR, "e")["encounter"] == {"reference": "Encounter/e"}


@pytest.mark.parametrize(("heard", "name"), [("删除上一剧", "delete_last"), ("保存病例", "save"), ("撤消", "undo")])
def test_commands_misspelt_by_asr_are_recognised_by_sound(heard: str, name: str) -> None:
    command = parse_command(heard)
    assert command is not None and command.name == name


def test_section_cues_heard_wrongly_and_without_commas_still_place_text() -> None:
    note = Note()
    for heard in ("主诉 右下腹痛一天。", "先病史 患者一天前出现脐周疼痛 伴恶心", "国民使无"):
        note.dictate(heard)
    assert note.sections() == {"主诉": "右下腹痛一天。", "现病史": "患者一天前出现脐周疼痛，伴恶心。", "过敏史": "无。"}
