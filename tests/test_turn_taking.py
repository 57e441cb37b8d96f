"""End of turn: Mandarin cues, the policy, and whole-turn transcription on real rendered speech."""

from __future__ import annotations

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

from turntaking import EndOfTurnPolicy, EndOfTurnSettings, cues


@pytest.mark.parametrize("text", ["嗯", "嗯。", "对对对", "好的", "是的。", "哦", "啊", "嗯嗯，好的", "对，是的",
                                  "谢谢", "好的，谢谢。", "好灯", "适等。"])
def test_backchannels(text):
    assert cues.is_backchannel(text)


@pytest.mark.parametrize("text", ["", "我头疼", "对，我头疼", "好的，我想挂号", "不对",
                                  "谢谢，我还想问一下", "好疼", "是谁", "对面", "等等"])
def test_not_backchannels(text):
    assert not cues.is_backchannel(text)


@pytest.mark.parametrize("text", ["我这个头疼啊，就是", "吃了药以后然后", "孩子发烧，还有", "我血压一百八十",
                                  "体温三十八点", "我还有那个"])
def test_unfinished_endings(text):
    assert cues.ends_unfinished(text)
    assert not cues.ends_final(text)


@pytest.mark.parametrize("text", ["我血压180", "我体温38点", "高压150", "我这个头疼啊，就说", "我想问一下就熟。",
                                  "我这个头疼了，就数", "我想问一下就输", "我还有纳肯", "我还有纳肚"])
def test_whisper_digit_forms_and_misheard_connectives_are_unfinished(text):
    assert cues.ends_unfinished(text)


@pytest.mark.parametrize("text", ["我孩子发烧三十九度", "我头疼了三天。", "血压一百五", "药快吃完了，想再开一点", "好一点",
                                  "血压145比90", "高压一百四十低压九十", "一百四十比九十",
                                  "吃完饭就睡", "他对这个很熟", "拿"])
def test_complete_clauses_are_not_unfinished(text):
    assert not cues.ends_unfinished(text)


def test_final_particles_and_questions():
    assert cues.ends_final("已经吃过退烧药了。")
    assert cues.ends_final("要挂哪个科？")
    assert cues.ends_final("可以吗")
    assert not cues.ends_final("我孩子发烧三十九度")


def test_policy_waits_long_for_unfinished_words_and_skips_the_model():
    policy = EndOfTurnPolicy()

    def model_must_not_run() -> float:
        raise AssertionError("smart-turn should not run when the words settle the wait")

    call = policy.decide("我这个头疼啊，就是", model_must_not_run)
    assert call.reason == "unfinished_words" and call.wait_s == policy.settings.unfinished_s
    assert policy.decide("嗯", model_must_not_run).reason == "backchannel"
    # 就是 as Whisper hears it trailing off over Opus, where smart-turn did not hold the turn.
    assert policy.decide("我想问一下就熟。", model_must_not_run).reason == "unfinished_words"
    call = policy.decide("我孩子发烧三十九度", lambda: 0.5)
    assert call.reason == "default" and call.wait_s == policy.settings.default_s


def test_policy_outwaits_a_thinking_pause_when_the_model_is_sure_the_caller_is_not_done():
    # Whisper heard 我还有那个 as 我还有捣骨: the words give no cue, the model does.
    policy = EndOfTurnPolicy()
    call = policy.decide("我还有捣骨", lambda: 0.03)
    assert call.reason == "model_unfinished" and call.wait_s > 1.5
    assert policy.decide("我还有捣骨。", lambda: 0.03).reason == "model_unfinished"  # Whisper's 。 is no cue
    # A final particle is the words disagreeing: not held.
    assert policy.decide("已经吃过退烧药了", lambda: 0.05).wait_s == policy.settings.default_s


def test_questions_hand_the_turn_over_but_clause_final_particles_do_not():
    assert cues.ends_question("不用再来了吧")
    assert cues.ends_question("要挂哪个科？")
    assert cues.ends_question("可以吗。")
    assert not cues.ends_question("我爸爸七十八岁了，")
    assert not cues.ends_question("我妈妈呢")  # a topic, more to come
    assert not cues.ends_question("我孩子发烧三十九度")


def test_policy_ends_fast_only_when_a_question_and_the_model_agree():
    policy = EndOfTurnPolicy()
    assert policy.decide("我已经好多了，不用再来了吧", lambda: 0.97).wait_s == policy.settings.confident_s
    assert policy.decide("不用再来了吧", lambda: 0.3).wait_s == policy.settings.default_s
    assert policy.decide("不用再来了吧", None).wait_s == policy.settings.default_s
    # 了 closes a clause as often as a sentence: the 0.49 s pause after it must not end the turn.
    call = policy.decide("我爸爸七十八岁了。", lambda: 0.97)
    assert call.wait_s == policy.settings.default_s > 0.49 + 0.1


def test_default_wait_outlasts_a_clause_pause():
    # Clause pauses in Mandarin reach 0.61 s (BASELINE.md); a shorter default would split turns.
    assert EndOfTurnSettings().default_s > 0.61
    with pytest.raises(ValueError, match="confident_s <= default_s"):
        EndOfTurnSettings(confident_s=1.0, default_s=0.5)
    with pytest.raises(ValueError, match="model_unfinished <= model_complete"):
        EndOfTurnSettings(model_unfinished=0.95)


def test_voicing_clock_times_the_end_of_speech_and_notices_unconfirmed_speech():
    from turntaking.voicing import VoicingClock

    clock = VoicingClock()
    speech = (np.sin(np.arange(320) / 3) * 6000).astype(np.int16).tobytes()
    hum = (np.sin(np.arange(320) / 3) * 500).astype(np.int16).tobytes()  # line noise: 1/12 of the speech
    for i in range(50):
        clock.add(speech, 10.0 + 0.02 * i, in_speech=True)
    for i in range(10):
        clock.add(hum, 11.0 + 0.02 * i, in_speech=True)  # the VAD still says speech: its stop delay
    assert clock.speech_end(11.2, 0.2) == pytest.approx((10.98, 1.0))  # 50 frames heard by then
    # No voiced frame near: the VAD's estimate, 0.2 s before all that was heard.
    assert clock.speech_end(15.0, 0.2) == pytest.approx((14.8, 1.0))
    assert not clock.voiced_since(10.98)
    clock.add(speech, 11.5, in_speech=False)
    assert clock.voiced_since(10.98)
    assert clock.voiced_s_since(10.98) == pytest.approx(0.02)  # a click, so far
    clock.add(speech, 11.52, in_speech=False)
    clock.add(speech, 11.54, in_speech=False)
    assert clock.voiced_s_since(10.98) == pytest.approx(0.06)


def test_voicing_clock_hears_speech_in_part_of_a_frame():
    # A frame that holds 5 ms of speech (a syllable's tail, the next clause's onset) is quieter as
    # a whole than the threshold; by whole-frame RMS, a clause resuming late in a frame 0.60 s
    # after the end of speech went unseen at the 0.62 s wait and the turn was split.
    from turntaking.voicing import VoicingClock

    clock = VoicingClock()
    speech = (np.sin(np.arange(320) / 3) * 6000).astype(np.int16)
    for i in range(25):
        clock.add(speech.tobytes(), 10.0 + 0.02 * i, in_speech=True)
    tail = np.concatenate([speech[:80] // 4, np.zeros(240, np.int16)])
    assert np.sqrt(np.mean(np.square(tail, dtype=np.float64))) < clock.threshold
    clock.add(tail.tobytes(), 10.5, in_speech=True)
    assert clock.last_voiced == pytest.approx(10.5)
    onset = np.concatenate([np.zeros(240, np.int16), speech[:80] // 4])
    clock.add(np.zeros(320, np.int16).tobytes(), 10.52, in_speech=False)
    clock.add(onset.tobytes(), 10.54, in_speech=False)
    assert clock.voiced_since(10.52) and clock.voiced_s_since(10.52) == pytest.approx(0.005)
    clock.add((speech // 40).tobytes(), 10.56, in_speech=False)  # line noise stays unvoiced
    assert clock.last_voiced == pytest.approx(10.54)


# -- when a turn is committed (a fake transcriber: these tests set when the decode and the VAD's
# events happen, not what was said; real Whisper takes 0.2-2 s here) ------------------------------

_TONE = (np.sin(np.arange(8000) / 3) * 6000).astype(np.int16)  # 0.5 s, loud enough to be voiced


class _FixedTranscriber:
    """Answers ``text`` for any audio, after ``delay_s``."""

    def __init__(self, text: str = "我头疼了三天", delay_s: float = 0.0) -> None:
        self.text, self.delay_s = text, delay_s

    def transcribe(self, audio, hotwords=None):
        import time

        from asr.transcriber import Transcript

        time.sleep(self.delay_s)
        return Transcript(self.text, 0.0, len(audio) / 16000, "test")


async def _count_finals(stt, frames) -> int:
    down, _ = await run_test(stt, frames_to_send=frames)
    return len([f for f in down if isinstance(f, TranscriptionFrame)])


async def test_a_turn_due_while_the_caller_resumes_unconfirmed_waits_for_the_vad():
    # The decode finishes between the caller's audible restart and the VAD's confirmation of it.
    from asr.service import TurnDecoder
    from turntaking import EndOfTurnProcessor

    stt = EndOfTurnProcessor(TurnDecoder(_FixedTranscriber(delay_s=0.5)), decide=lambda _text, _audio: (0.0, "test"))
    frames = [
        VADUserStartedSpeakingFrame(), *_audio_frames(_TONE), VADUserStoppedSpeakingFrame(),
        SleepFrame(sleep=0.4), *_audio_frames(_TONE[:1600]),  # audible again at 0.4 s ...
        SleepFrame(sleep=0.25), VADUserStartedSpeakingFrame(),  # ... confirmed by the VAD at 0.65 s
        *_audio_frames(_TONE), VADUserStoppedSpeakingFrame(), SleepFrame(sleep=1.5),
    ]
    assert await _count_finals(stt, frames) == 1


async def test_a_pause_that_only_looks_long_because_audio_came_late_does_not_end_the_turn():
    from asr.service import TurnDecoder
    from turntaking import EndOfTurnProcessor, TurnTiming

    quiet = np.zeros(320 * 10, np.int16)  # the caller's 0.2 s pause ...
    frames = [
        VADUserStartedSpeakingFrame(), *_audio_frames(_TONE), VADUserStoppedSpeakingFrame(),
        SleepFrame(sleep=0.55), *_audio_frames(quiet),  # ... delivered in one burst 0.55 s later,
        *_audio_frames(_TONE[:1600]), SleepFrame(sleep=0.1),  # with the caller going on
        VADUserStartedSpeakingFrame(), *_audio_frames(_TONE), VADUserStoppedSpeakingFrame(),
        SleepFrame(sleep=1.2),
    ]
    for late_audio_s, finals in ((0.3, 1), (0.0, 2)):  # 0: counted in wall time, the turn splits
        stt = EndOfTurnProcessor(TurnDecoder(_FixedTranscriber()), decide=lambda _text, _audio: (0.4, "test"),
                                 timing=TurnTiming(late_audio_s=late_audio_s))
        assert await _count_finals(stt, frames) == finals, late_audio_s


async def test_a_soft_restart_the_vad_confirms_late_does_not_split_the_turn():
    from asr.service import TurnDecoder
    from turntaking import EndOfTurnProcessor, TurnTiming

    frames = [
        VADUserStartedSpeakingFrame(), *_audio_frames(_TONE), VADUserStoppedSpeakingFrame(),
        SleepFrame(sleep=0.25), *_audio_frames(_TONE[:3200]),  # audible again for 0.2 s at 0.25 s ...
        SleepFrame(sleep=0.45), VADUserStartedSpeakingFrame(),  # ... which the VAD confirms at 0.7 s
        *_audio_frames(_TONE), VADUserStoppedSpeakingFrame(), SleepFrame(sleep=1.2),
    ]
    for speech_grace_s, finals in ((0.6, 1), (0.2, 2)):
        stt = EndOfTurnProcessor(TurnDecoder(_FixedTranscriber("我血压一百八十多")),
                                 decide=lambda _text, _probability: (0.3, "test"),
                                 timing=TurnTiming(resume_speech_grace_s=speech_grace_s, late_audio_s=0.0))
        assert await _count_finals(stt, frames) == finals, speech_grace_s


async def test_the_final_is_preceded_by_when_the_caller_stopped_speaking():
    import time

    from asr.service import TurnDecoder
    from turntaking import EndOfTurnProcessor, HeardTranscriptionFrame, TurnEndedFrame

    stt = EndOfTurnProcessor(TurnDecoder(_FixedTranscriber()), decide=lambda _text, _audio: (0.3, "test"))
    started = time.monotonic()
    frames = [VADUserStartedSpeakingFrame(), *_audio_frames(_TONE), VADUserStoppedSpeakingFrame(), SleepFrame(sleep=1.0)]
    down, _ = await run_test(stt, frames_to_send=frames)
    kinds = [type(f) for f in down if isinstance(f, (TurnEndedFrame, TranscriptionFrame))]
    assert kinds == [TurnEndedFrame, HeardTranscriptionFrame]  # the final carries the decoder's confidence
    ended = next(f for f in down if isinstance(f, TurnEndedFrame))
    assert (ended.wait_s, ended.reason) == (0.3, "test")
    assert started < ended.speech_end < time.monotonic() - 0.3


def test_smart_turn_model_scores_real_speech(locator, speak):
    from turntaking.smart_turn import SmartTurnModel

    model = SmartTurnModel(locator.smart_turn())
    audio = speak("我头疼了三天，晚上睡不好觉。").astype(np.float32) / 32768
    probability = model.probability(audio)
    assert 0.0 <= probability <= 1.0
    assert model.probability(np.zeros(16000, np.float32)) != probability
    assert model.submit(audio).result() == pytest.approx(probability)  # beside the final decode
    model.close()


# -- whole-turn transcription (real Whisper, rendered speech) -------------------------------------


def _audio_frames(pcm: np.ndarray) -> list[InputAudioRawFrame]:
    return [InputAudioRawFrame(pcm[i:i + 320].tobytes(), 16000, 1) for i in range(0, len(pcm), 320)]


async def test_a_clause_pause_does_not_split_the_turn_and_a_late_transcript_does_not_leak(engines, speak):
    from asr.service import TurnDecoder
    from turntaking import EndOfTurnProcessor

    stt = EndOfTurnProcessor(TurnDecoder(engines.transcriber), decide=lambda _text, _audio: (0.7, "test"))
    first, second = speak("我孩子发烧三十九度"), speak("已经吃过退烧药了")
    frames = [
        VADUserStartedSpeakingFrame(), *_audio_frames(first), VADUserStoppedSpeakingFrame(),
        SleepFrame(sleep=0.3),  # a clause pause: the caller goes on before the turn may end
        VADUserStartedSpeakingFrame(), *_audio_frames(second), VADUserStoppedSpeakingFrame(),
        SleepFrame(sleep=25.0),  # two Whisper runs at once on a loaded 2-core box take seconds
    ]
    down, _ = await run_test(stt, frames_to_send=frames)
    finals = [f for f in down if isinstance(f, TranscriptionFrame)]
    assert len(finals) == 1, [(type(f).__name__, getattr(f, "text", "")) for f in down if not isinstance(f, InputAudioRawFrame)]
    assert "发烧" in finals[0].text and "退烧" in finals[0].text
    interims = [f for f in down if isinstance(f, InterimTranscriptionFrame) and f.text]
    assert interims and down.index(interims[-1]) < down.index(finals[0])
    assert not any(isinstance(f, InputAudioRawFrame) for f in down)


async def test_two_turns_stay_apart(engines, speak):
    from asr.service import TurnDecoder
    from turntaking import EndOfTurnProcessor

    stt = EndOfTurnProcessor(TurnDecoder(engines.transcriber), decide=lambda _text, _audio: (0.3, "test"))
    frames = [
        VADUserStartedSpeakingFrame(), *_audio_frames(speak("我头疼")), VADUserStoppedSpeakingFrame(),
        SleepFrame(sleep=12.0),
        VADUserStartedSpeakingFrame(), *_audio_frames(speak("我想挂号")), VADUserStoppedSpeakingFrame(),
        SleepFrame(sleep=12.0),
    ]
    down, _ = await run_test(stt, frames_to_send=frames)
    finals = [f.text for f in down if isinstance(f, TranscriptionFrame)]
    assert len(finals) == 2, finals
    assert "头" in finals[0] and "挂" not in finals[0]
    assert "挂" in finals[1] and "头" not in finals[1]
