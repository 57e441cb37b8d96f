"""Audio and text guards of the ASR fast path, and the long-audio splitter (no models needed)."""

import numpy as np
import pytest

from asr.signal_guard import SignalGuard
from asr.splitting import split_long_audio
from asr.text_guard import degenerate, repeated_span

RATE = 16000


@pytest.fixture(scope="module")
def guard() -> SignalGuard:
    return SignalGuard()


def test_silence_is_rejected(guard: SignalGuard) -> None:
    assert guard.check(np.zeros(2 * RATE, np.float32)).rejection == "silence"
    assert guard.check(np.full(RATE, 1e-5, np.float32)).rejection == "silence"


def test_pure_noise_is_rejected(guard: SignalGuard) -> None:
    noise = np.random.default_rng(0).normal(0, 0.1, 3 * RATE).astype(np.float32)
    assert guard.check(noise).rejection == "no_speech"


def test_clipped_audio_is_rejected(guard: SignalGuard) -> None:
    square = np.sign(np.sin(np.linspace(0, 400 * np.pi, 2 * RATE))).astype(np.float32)
    assert guard.check(square).rejection == "clipped"


@pytest.mark.parametrize(
    ("text", "speech_s", "reason"),
    [
        ("高压150低压95低压95低压95", 3.0, "repetition"),
        ("转转转", 2.1, "too_short"),
        ("不算", 2.1, "too_short"),
        ("动态新电\ufffd", 2.5, "broken_character"),
        ("我" * 40, 2.0, "too_long"),
    ],
)
def test_degenerate_decodes_are_named(text: str, speech_s: float, reason: str) -> None:
    assert degenerate(text, speech_s) == reason


def test_low_confidence_is_degenerate() -> None:
    assert degenerate("高点125毫克", 2.0, avg_logprob=-1.9) == "low_confidence"


@pytest.mark.parametrize("text", ["血压一百五十", "我今天早上量的血压是145/90。", "每日两次，每日两次"])
def test_plausible_decodes_pass(text: str) -> None:
    assert degenerate(text, 2.5, avg_logprob=-0.3) is None


def test_repeated_span_finds_the_loop() -> None:
    assert repeated_span("低压95低压95低压95") == "低压95"
    assert repeated_span("一天两次") is None


def test_long_audio_is_split_at_pauses_without_losing_samples() -> None:
    rng = np.random.default_rng(1)
    talk = rng.normal(0, 0.2, 7 * RATE).astype(np.float32)
    pause = np.zeros(RATE // 2, np.float32)
    audio = np.concatenate([talk, pause] * 10)  # 75 s
    pieces = split_long_audio(audio, max_s=28.0)
    assert len(pieces) >= 3
    assert all(len(p) <= 28 * RATE for p in pieces)
    assert np.array_equal(np.concatenate(pieces), audio)
    for piece in pieces[:-1]:
        assert np.all(piece[-RATE // 20:] == 0)  # each cut falls in a pause


def test_split_rejects_a_window_under_a_second() -> None:
    with pytest.raises(ValueError, match="max_s must be at least 1 s, got 0.5"):
        split_long_audio(np.zeros(RATE, np.float32), 0.5)
