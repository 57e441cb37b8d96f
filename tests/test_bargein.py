"""Barge-in: the policy, the playout gate, and the pause/resume/interrupt timeline of a call's
barge-in processor, conversation and playout gate, coordinated only through frames.

The timeline tests script frames with ``run_test`` through the three processors as the pipeline
orders them; the dialogue there is a two-line test flow (a real ``Dialogue`` subclass) so that
what it is asked to answer can be checked exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.tests.utils import SleepFrame, run_test

from agent.conversation import ConversationProcessor
from dialogue.base import Dialogue, Reply
from turntaking import (
    BargeInDecision,
    BargeInPolicy,
    BargeInProcessor,
    PausePlayoutFrame,
    PlayoutPendingFrame,
    ResumePlayoutFrame,
)
from turntaking.playout import PlayoutGate


def test_policy_backchannels_and_noise_resume():
    policy = BargeInPolicy()
    for text in ("嗯", "对。", "好的", "是的", "哦", "啊", "嗯嗯"):
        assert policy.on_transcript(text, 0.4) == BargeInDecision.RESUME, text
    assert policy.on_transcript("", 0.3) == BargeInDecision.RESUME


def test_policy_words_and_long_speech_interrupt():
    policy = BargeInPolicy()
    assert policy.on_transcript("等一下", 0.5) == BargeInDecision.INTERRUPT
    assert policy.on_transcript("不对，我说的是我妈妈", 1.5) == BargeInDecision.INTERRUPT
    assert policy.on_transcript("好的好的好的好的", 2.0) == BargeInDecision.INTERRUPT  # too long for feedback
    assert policy.while_speaking(0.4) == BargeInDecision.WAIT
    assert policy.while_speaking(1.2) == BargeInDecision.INTERRUPT


def _audio(n: int) -> list[TTSAudioRawFrame]:
    return [TTSAudioRawFrame(b"\x00\x01" * 640, 16000, 1, context_id="c1") for _ in range(n)]


async def test_gate_passes_audio_in_order_with_the_stop_after_it():
    gate = PlayoutGate()
    frames = [*_audio(5), TTSStoppedFrame(context_id="c1"), SleepFrame(sleep=0.5)]
    down, _ = await run_test(gate, frames_to_send=frames)
    kinds = [type(f) for f in down]
    assert kinds == [TTSAudioRawFrame] * 5 + [TTSStoppedFrame]


async def test_paused_gate_holds_audio_and_an_interruption_drops_it():
    gate = PlayoutGate()
    gate.pause()
    frames = [*_audio(5), SleepFrame(sleep=0.3), InterruptionFrame(), SleepFrame(sleep=0.2)]
    down, up = await run_test(gate, frames_to_send=frames)
    assert not any(isinstance(f, TTSAudioRawFrame) for f in down)
    assert any(isinstance(f, InterruptionFrame) for f in down)
    assert not gate.paused and not gate.holds_audio
    # Upstream, the gate said when agent audio started and stopped waiting in it.
    assert [f.pending for f in up if isinstance(f, PlayoutPendingFrame)] == [True, False]


async def test_gate_pauses_and_resumes_on_frames():
    paused = [PausePlayoutFrame(), *_audio(3), SleepFrame(sleep=0.3)]
    down, _ = await run_test(PlayoutGate(), frames_to_send=[*paused, InterruptionFrame(), SleepFrame(sleep=0.2)])
    assert not any(isinstance(f, TTSAudioRawFrame) for f in down)  # held, then dropped
    paused = [PausePlayoutFrame(), *_audio(3), SleepFrame(sleep=0.3)]
    down, _ = await run_test(PlayoutGate(), frames_to_send=[*paused, ResumePlayoutFrame(), SleepFrame(sleep=0.3)])
    assert [type(f) for f in down] == [TTSAudioRawFrame] * 3  # held, then played on resume


class _TwoLineFlow(Dialogue):
    flow = "test"

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.heard_calls: list[tuple[str, str]] = []

    async def open(self) -> AsyncIterator[Reply]:
        yield Reply("您好，请问哪里不舒服？")

    async def handle(self, utterance: str) -> AsyncIterator[Reply]:
        self.handled.append(utterance)
        yield Reply("好的，我知道了。")

    async def handle_silence(self) -> AsyncIterator[Reply]:
        yield Reply("您还在吗？")

    def heard(self, spoken: str, played: str) -> None:
        self.heard_calls.append((spoken, played))


def _conversation(dialogue: Dialogue, events: list[dict]) -> tuple[Pipeline, PlayoutGate]:
    gate = PlayoutGate()
    steps = Pipeline([
        BargeInProcessor(BargeInPolicy(), resume_after_s=0.3),
        ConversationProcessor(dialogue, on_event=events.append),
        gate,
    ])
    return steps, gate


async def test_backchannel_during_agent_speech_resumes_and_is_not_a_turn():
    dialogue, events = _TwoLineFlow(), []
    processor, gate = _conversation(dialogue, events)
    frames = [
        SleepFrame(sleep=0.1), BotStartedSpeakingFrame(),
        VADUserStartedSpeakingFrame(), SleepFrame(sleep=0.1), VADUserStoppedSpeakingFrame(),
        InterimTranscriptionFrame("嗯", "caller", "t"), TranscriptionFrame("嗯", "caller", "t"),
        SleepFrame(sleep=0.3),
    ]
    down, _ = await run_test(processor, frames_to_send=frames)
    states = [e["state"] for e in events if e["type"] == "barge_in"]
    assert states == ["paused", "resumed"]
    assert not gate.paused
    assert dialogue.handled == []
    assert not any(isinstance(f, InterruptionFrame) for f in down)


async def test_noise_during_agent_speech_resumes_after_the_pause():
    dialogue, events = _TwoLineFlow(), []
    processor, gate = _conversation(dialogue, events)
    frames = [
        SleepFrame(sleep=0.1), BotStartedSpeakingFrame(),
        VADUserStartedSpeakingFrame(), SleepFrame(sleep=0.1), VADUserStoppedSpeakingFrame(),
        SleepFrame(sleep=0.6),  # no words came: resume_after_s is 0.3
    ]
    await run_test(processor, frames_to_send=frames)
    assert [e["state"] for e in events if e["type"] == "barge_in"] == ["paused", "resumed"]
    assert not gate.paused


async def test_words_during_agent_speech_interrupt_and_become_the_next_turn():
    dialogue, events = _TwoLineFlow(), []
    processor, _gate = _conversation(dialogue, events)
    frames = [
        SleepFrame(sleep=0.1), BotStartedSpeakingFrame(),
        VADUserStartedSpeakingFrame(), SleepFrame(sleep=0.1), VADUserStoppedSpeakingFrame(),
        InterimTranscriptionFrame("等一下", "caller", "t"), SleepFrame(sleep=0.1),
        TranscriptionFrame("等一下，我还有问题", "caller", "t"), SleepFrame(sleep=0.3),
    ]
    down, _ = await run_test(processor, frames_to_send=frames)
    assert [e["state"] for e in events if e["type"] == "barge_in"] == ["paused", "interrupted"]
    assert any(isinstance(f, InterruptionFrame) for f in down)
    assert dialogue.handled == ["等一下，我还有问题"]
    spoken = [f.text for f in down if isinstance(f, TTSSpeakFrame)]
    assert spoken[-1] == "好的，我知道了。"
    captions = [e for e in events if e["type"] == "transcript" and e["role"] == "caller"]
    assert [(c["text"], c["final"]) for c in captions] == [("等一下", False), ("等一下，我还有问题", True)]


async def test_speech_when_the_agent_is_silent_is_a_plain_turn():
    dialogue, events = _TwoLineFlow(), []
    processor, gate = _conversation(dialogue, events)
    frames = [
        SleepFrame(sleep=0.1),
        VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(),
        TranscriptionFrame("嗯", "caller", "t"), SleepFrame(sleep=0.2),
    ]
    await run_test(processor, frames_to_send=frames)
    assert not [e for e in events if e["type"] == "barge_in"]
    assert dialogue.handled == ["嗯"]  # an answer to a question, not a backchannel
    assert not gate.paused


async def test_speech_while_agent_audio_waits_in_the_gate_is_a_candidate():
    # The transport has not said the bot speaks, but the gate says agent audio waits to play: the
    # caller would hear it, so their speech pauses it like any barge-in.
    dialogue, events = _TwoLineFlow(), []
    processor, gate = _conversation(dialogue, events)
    frames = [
        SleepFrame(sleep=0.1), PlayoutPendingFrame(True),
        VADUserStartedSpeakingFrame(), SleepFrame(sleep=0.1), VADUserStoppedSpeakingFrame(),
        SleepFrame(sleep=0.6),
    ]
    await run_test(processor, frames_to_send=frames)
    assert [e["state"] for e in events if e["type"] == "barge_in"] == ["paused", "resumed"]
    assert not gate.paused and dialogue.handled == []


async def test_a_candidate_that_speaks_on_after_a_clause_pause_interrupts():
    dialogue, events = _TwoLineFlow(), []
    processor, _gate = _conversation(dialogue, events)
    frames = [
        SleepFrame(sleep=0.1), BotStartedSpeakingFrame(),
        VADUserStartedSpeakingFrame(), SleepFrame(sleep=0.3), VADUserStoppedSpeakingFrame(),
        SleepFrame(sleep=0.2), VADUserStartedSpeakingFrame(),  # 等一下，| 我还有问题
        SleepFrame(sleep=1.2),  # still speaking past interrupt_after_s, no transcript yet
    ]
    down, _ = await run_test(processor, frames_to_send=frames)
    assert [e["state"] for e in events if e["type"] == "barge_in"] == ["paused", "interrupted"]
    assert any(isinstance(f, InterruptionFrame) for f in down)
