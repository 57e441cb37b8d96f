"""Knowing when unsure (issue 18): per-word confidence from the decoder reaches the dialogue; an
unsure value is confirmed, never recorded when denied; a failed read-back is asked digit by digit;
dictation marks unsure and corrected words for the doctor."""

from __future__ import annotations

import numpy as np

from dialogue.dictation.flow import DictationDialogue, composition
from dialogue.followup import confirm
from dialogue.followup.flow import FollowupDialogue
from medical_terms.confidence import Confidence, correct_heard
from medical_terms.correction import TermCorrector


def _sure(text: str, probability: float = 0.99) -> Confidence:
    return Confidence.of_pieces([(text, probability)])


def _unsure_numbers(text: str) -> Confidence:
    """Sure words, unsure digits (as the decoder is on a mumbled number)."""
    return Confidence.of_pieces(
        [(ch, 0.2 if ch.isdigit() or ch in "一二三四五六七八九十百" else 0.99) for ch in text]
    )


async def _say(
    dialogue: FollowupDialogue | DictationDialogue, text: str, confidence: Confidence | None = None
) -> str:
    return "".join([reply.text async for reply in dialogue.handle(text, confidence)])


def test_confidence_reaches_the_dialogue_from_real_whisper(fast, speak) -> None:
    audio = speak("我的血压是一百八十五，一百一十。").astype(np.float32) / 32767
    transcript = fast.transcribe(audio)
    assert transcript.confidence is not None and transcript.confidence.text == transcript.text
    assert all(0.0 < w.probability <= 1.0 for w in transcript.confidence.words)
    text, confidence = correct_heard(TermCorrector(), transcript.text, transcript.confidence, "血压")
    assert confidence is not None and confidence.text == text
    assert confidence.numbers() is not None  # the digits of the reading carry their probability
    dialogue = FollowupDialogue(program="hypertension")
    import asyncio

    async def run() -> None:
        [r async for r in dialogue.open()]
        await _say(dialogue, "还行")
        await _say(dialogue, text, confidence)

    asyncio.run(run())
    assert dialogue.confidence is not None and dialogue.confidence.text == text


def test_realign_keeps_the_lowest_probability_and_marks_corrections() -> None:
    heard = Confidence.of_pieces([("血压", 0.9), ("一百八", 0.3), ("十五", 0.8)])
    normalised = heard.realign("血压185")
    assert normalised.text == "血压185" and normalised.numbers() == 0.3
    corrected = _sure("吃阿托法他听").realign("吃阿托伐他汀", [(1, 6)])
    assert corrected.corrected_spans() == [(1, 6)]


async def test_an_unsure_value_in_danger_mode_is_confirmed_and_not_recorded_when_denied() -> None:
    dialogue = FollowupDialogue(program="hypertension")
    [r async for r in dialogue.open()]
    await _say(dialogue, "还行")
    await _say(dialogue, "一百八十六，一百零八")  # a danger: the survey stops, only the key questions remain
    await _say(dialogue, "对")
    assert dialogue.state == "final"
    dialogue.values.pop("systolic", None)
    dialogue.values.pop("diastolic", None)
    dialogue.question = "blood_pressure"
    said = await _say(dialogue, "185/110", _unsure_numbers("185/110"))
    assert "一百八十五" in said and "对吗" in said  # one short question
    assert "systolic" not in dialogue.values
    await _say(dialogue, "不对")
    assert "systolic" not in dialogue.values and "diastolic" not in dialogue.values


async def test_a_sure_value_in_danger_mode_is_recorded_as_unconfirmed() -> None:
    dialogue = FollowupDialogue(program="hypertension")
    [r async for r in dialogue.open()]
    await _say(dialogue, "还行")
    await _say(dialogue, "一百八十六，一百零八")
    await _say(dialogue, "对")
    dialogue.values.clear()
    dialogue.question = "blood_pressure"
    await _say(dialogue, "185/110", _sure("185/110"))
    assert dialogue.values == {"systolic": 185, "diastolic": 110} and set(dialogue.unconfirmed) == {
        "systolic",
        "diastolic",
    }


async def test_a_failed_read_back_is_asked_digit_by_digit() -> None:
    dialogue = FollowupDialogue(program="hypertension")
    [r async for r in dialogue.open()]
    await _say(dialogue, "还行")
    await _say(dialogue, "一百四十五，九十")  # misheard, say; read back
    said = await _say(dialogue, "不对，是一百四十五，九十")  # the same mishearing again
    assert "一个数字一个数字" in said and dialogue.expects_digits() and "高压" in said
    said = await _say(dialogue, "一，五，五")
    assert "低压" in said and dialogue.expects_digits()
    said = await _say(dialogue, "九，二")
    assert dialogue.state == "confirm" and "一百五十五" in said and "九十二" in said
    assert "systolic" not in dialogue.values  # nothing recorded before the yes
    await _say(dialogue, "对的")
    assert dialogue.values == {"systolic": 155, "diastolic": 92}


async def test_digit_read_back_denied_twice_leaves_the_value_unknown() -> None:
    dialogue = FollowupDialogue(program="diabetes")
    [r async for r in dialogue.open()]
    await _say(dialogue, "还行")
    await _say(dialogue, "六点八")
    await _say(dialogue, "不对")
    for _ in range(confirm.MAX_DIGIT_ROUNDS):
        assert dialogue.expects_digits()
        await _say(dialogue, "六，点，九")
        assert dialogue.state == "confirm"
        await _say(dialogue, "不对")
    assert "glucose" not in dialogue.values and not dialogue.expects_digits()


def test_digits_are_read_only_from_digit_strings() -> None:
    assert confirm.read_digits("一，八，五。") == 185
    assert confirm.read_digits("七、点、五") == 7.5
    assert confirm.read_digits("185") == 185
    assert confirm.read_digits("幺零八") == 108
    assert confirm.read_digits("一百八十五") == 185  # said in words after all: read, then read back
    assert confirm.read_digits("一百八十几") is None  # never guessed
    assert confirm.read_digits("点") is None
    assert confirm.read_digits("不知道") is None


def test_the_digit_decoder_hears_digits_in_real_speech(fast, speak) -> None:
    from asr.digits import DigitDecoder

    audio = speak("一，六，五。").astype(np.float32) / 32767
    transcript = DigitDecoder(fast).transcribe(audio)
    assert transcript.path == "digits"
    assert set(transcript.text) <= set("零〇一二两三四五六七八九幺点0123456789，、,. ")
    assert confirm.read_digits(transcript.text) == 165


async def test_dictation_marks_unsure_and_corrected_words_for_review() -> None:
    dialogue = DictationDialogue(call_id="t")
    [r async for r in dialogue.open()]
    text = "主诉头痛三天，口服阿托伐他汀。"
    words = Confidence.of_pieces(
        [("主诉头痛", 0.95), ("三", 0.2), ("天，口服", 0.95), ("阿托伐他汀", 0.9), ("。", 0.9)]
    )
    words = words.realign(text, [(9, 14)])
    await _say(dialogue, text, words)
    review = dialogue.snapshot()["review"]
    assert any("“三”" in mark for mark in review) and any("阿托伐他汀" in mark for mark in review)
    from backends.interfaces import Principal

    resource = composition(
        dialogue.note, "p1", Principal("d1", "doctor", "demo"), None, review=dialogue.open_review()
    )
    marks = [e for e in resource.get("extension", []) if e["url"].endswith("dictation-review")]
    assert len(marks) == len(review) == 2


async def test_a_number_that_cannot_be_the_value_is_asked_digit_by_digit() -> None:
    dialogue = FollowupDialogue(program="diabetes")
    [r async for r in dialogue.open()]
    await _say(dialogue, "还行")
    said = await _say(dialogue, "空腹血糖六十八")  # out of range: a misheard 六点八
    assert dialogue.expects_digits() and "一个数字一个数字" in said and "glucose" not in dialogue.values
    said = await _say(dialogue, "六、点、八")
    assert dialogue.state == "confirm" and "六点八" in said
    await _say(dialogue, "对的")
    assert dialogue.values == {"glucose": 6.8}


async def test_a_corrected_unsure_value_in_danger_mode_is_read_back_again() -> None:
    dialogue = FollowupDialogue(program="diabetes")
    [r async for r in dialogue.open()]
    await _say(dialogue, "早上手抖心慌，出了好多冷汗")  # a danger: only the key value and adherence follow
    assert dialogue.state == "final" and dialogue.question == "glucose"
    said = await _say(dialogue, "2", _unsure_numbers("2"))
    assert "二" in said and "对吗" in said and "glucose" not in dialogue.values
    said = await _say(dialogue, "不对，是3.2", _sure("不对，是3.2"))
    assert "三点二" in said and "glucose" not in dialogue.values
    await _say(dialogue, "对")
    assert dialogue.values == {"glucose": 3.2} and not dialogue.unconfirmed


async def test_term_correction_carries_the_confidence_on_the_frame() -> None:
    from pipecat.tests.utils import run_test

    from agent.term_correction import TermCorrectionProcessor
    from turntaking import HeardTranscriptionFrame

    corrector = TermCorrector()

    def heard(text: str, confidence: Confidence) -> tuple[str, Confidence | None]:
        return correct_heard(corrector, text, confidence)

    step = TermCorrectionProcessor(lambda text: text, correct_heard=heard)
    said = "我在吃阿托法他汀"  # 法 for 伐: correction writes the drug name
    frame = HeardTranscriptionFrame(said, "caller", "t", confidence=Confidence.of_pieces([(said, 0.4)]))
    down, _ = await run_test(step, frames_to_send=[frame])
    out = next(f for f in down if isinstance(f, HeardTranscriptionFrame))
    assert out.text == "我在吃阿托伐他汀" and out.result["raw"] == said
    assert out.confidence is not None and out.confidence.text == out.text
    assert out.confidence.corrected_spans() == [(3, 8)]  # the drug name, written by correction


async def test_a_half_heard_alike_twice_is_kept_and_only_the_other_asked_again() -> None:
    dialogue = FollowupDialogue(program="hypertension")
    [r async for r in dialogue.open()]
    await _say(dialogue, "还行")
    await _say(dialogue, "一百四十六，九十八")
    await _say(dialogue, "不对，是一百四十六，九十八")  # heard the same again: digits
    await _say(dialogue, "一，四，六")
    said = await _say(dialogue, "九，八")  # the low half misheard once more
    assert dialogue.state == "confirm" and "九十八" in said
    said = await _say(dialogue, "不对，是一百四十六，九十二")
    assert dialogue.expects_digits() and "低压" in said and "高压" not in said  # 146 was heard alike twice
    said = await _say(dialogue, "九，二")
    assert dialogue.state == "confirm" and "一百四十六" in said and "九十二" in said
    await _say(dialogue, "对")
    assert dialogue.values == {"systolic": 146, "diastolic": 92}
