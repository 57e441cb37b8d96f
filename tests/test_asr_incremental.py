"""Incremental final transcripts: the pause decode, its reuse at end of speech, and the live service."""

import numpy as np
import pytest
from pipecat.frames.frames import (
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.tests.utils import SleepFrame, run_test

from asr.incremental import IncrementalSettings, IncrementalTranscript, agreed_prefix, voiced_after
from asr.short_window import ShortWindowTranscriber
from asr.transcriber import WhisperTranscriber

RATE = 16000


def _float(audio: np.ndarray) -> np.ndarray:
    return audio.astype(np.float32) / 32767


def _last_voiced_end(audio: np.ndarray) -> int:
    return int(np.nonzero(np.abs(audio) > 0.01)[0][-1]) + 1


@pytest.mark.parametrize(
    ("previous", "current", "stable"),
    [("", "患者否认", ""), ("患者否认", "患者否认胸痛", "患者否认"), ("患者否认胸痛", "患者否认胸痛。", "患者否认胸痛"),
     ("患者否认胸痛", "患者否认兄痛", "患者否认")],
)
def test_the_stable_part_is_what_two_interims_agree_on(previous: str, current: str, stable: str) -> None:
    assert agreed_prefix(previous, current) == stable


def test_voice_after_a_point_is_found_relative_to_the_callers_level() -> None:
    tone = (np.sin(np.arange(RATE) / 3) * 0.3).astype(np.float32)
    hum = np.full(RATE // 2, 0.02, np.float32)  # line noise: under a sixth of the caller's level
    assert not voiced_after(np.concatenate([tone, np.zeros(RATE // 2, np.float32)]), RATE)
    assert not voiced_after(np.concatenate([tone, hum]), RATE)
    assert voiced_after(np.concatenate([tone, np.zeros(RATE // 4, np.float32), tone]), RATE)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="quiet_s must be within"):
        IncrementalSettings(quiet_s=3.0)
    with pytest.raises(ValueError, match="interim_every_s must be 0"):
        IncrementalSettings(interim_every_s=0.05)


def test_the_final_is_the_pause_decode_when_nothing_was_said_after_it(fast: ShortWindowTranscriber, speak) -> None:
    audio = _float(speak("患者否认胸痛。"))
    at_pause = audio[:_last_voiced_end(audio) + RATE // 10]
    turn = IncrementalTranscript(fast)
    interim = turn.pause(at_pause)
    final = turn.finish(audio)
    assert turn.reused
    assert final.text == interim == fast.transcribe(at_pause).text
    assert "胸痛" in final.text and final.path == "short_window"


def test_speech_after_the_pause_is_decoded_with_the_rest(fast: ShortWindowTranscriber, speak) -> None:
    first, second = _float(speak("我孩子发烧三十九度")), _float(speak("已经吃过退烧药了"))
    audio = np.concatenate([first, second])
    turn = IncrementalTranscript(fast)
    turn.pause(first[:_last_voiced_end(first) + RATE // 10])
    final = turn.finish(audio)
    assert not turn.reused
    assert final.text == fast.transcribe(audio).text
    assert "发烧" in final.text and "退烧" in final.text


def test_without_a_pause_decode_the_final_is_the_short_window_decode(fast: ShortWindowTranscriber, speak) -> None:
    audio = _float(speak("我头疼了三天。"))
    turn = IncrementalTranscript(fast)
    assert turn.finish(audio) == fast.transcribe(audio)
    assert not turn.reused


def test_a_looping_decode_at_the_pause_falls_back_to_stock(fast: ShortWindowTranscriber, speak, monkeypatch) -> None:
    # A real loop cannot be provoked on demand, so the window decode is replaced by one that loops.
    monkeypatch.setattr(fast, "_decode_window", lambda *_args: ("低压95低压95低压95低压95", 0.0, -0.2, False))
    audio = _float(speak("患者否认胸痛。"))
    turn = IncrementalTranscript(fast)
    turn.pause(audio)
    final = turn.finish(audio)
    assert turn.reused and final.path == "fallback"
    assert "胸痛" in final.text and "低压" not in final.text


def _audio_frames(pcm: np.ndarray) -> list[InputAudioRawFrame]:
    return [InputAudioRawFrame(pcm[i:i + 320].tobytes(), RATE, 1) for i in range(0, len(pcm), 320)]


async def test_the_service_transcribes_at_the_pause_before_the_vad_stops(fast: WhisperTranscriber, speak) -> None:
    from asr.service import TurnDecoder
    from turntaking import EndOfTurnProcessor

    stt = EndOfTurnProcessor(TurnDecoder(fast, incremental=IncrementalSettings()), decide=lambda _text, _audio: (0.3, "test"))
    speech = speak("患者否认胸痛。")
    silence = np.zeros(RATE // 10, np.int16)
    frames = [
        VADUserStartedSpeakingFrame(), *_audio_frames(speech),
        SleepFrame(sleep=0.15), *_audio_frames(silence),  # quiet for 0.15 s: the pause decode starts
        SleepFrame(sleep=10.0),  # the VAD's stop comes late here, so the decode surely ends before it
        VADUserStoppedSpeakingFrame(), SleepFrame(sleep=10.0),
    ]
    down, _ = await run_test(stt, frames_to_send=frames)
    interims = [i for i, f in enumerate(down) if isinstance(f, InterimTranscriptionFrame) and f.text]
    stop = next(i for i, f in enumerate(down) if isinstance(f, VADUserStoppedSpeakingFrame))
    finals = [f for f in down if isinstance(f, TranscriptionFrame)]
    assert interims and interims[0] < stop  # an interim transcript while the VAD still said speaking
    assert len(finals) == 1 and "胸痛" in finals[0].text
    assert finals[0].text == down[interims[0]].text
