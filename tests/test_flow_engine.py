"""The flow engine on its own: a flow as data plus small code, the shared handling of silence,
garbled input and abuse, transitions checked against the spec, optional re-wording, phrasebook variety.
A small follow-up-style flow is built here to show that non-triage flows fit the same engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from dialogue.base import Reply
from dialogue.engine import FlowDialogue, FlowSpec, StateSpec, Turn, split_sentences
from dialogue.phrasebook import Phrasebook

PROMPTS = {
    "hello": ["您好，这里是随访电话。"],
    "ask_bp": ["请问今天血压多少？"],
    "ask_meds": ["药是按时吃的吗？"],
    "thanks": ["好的，谢谢。再见。"],
    "silence_reprompt": ["您还在吗？"],
    "silence_goodbye": ["没有听到声音，先挂断了，再见。"],
    "garbled": ["没听清，请再说一遍。"],
    "abuse": ["我理解您着急。"],
    "abuse_goodbye": ["我先为您转接人工。"],
}


def follow_up_spec(next_of_bp: tuple[str, ...] = ("meds", "bp")) -> FlowSpec:
    return FlowSpec(
        flow="followup-demo",
        start="bp",
        states={
            "bp": StateSpec("bp", "ask_bp", ("systolic", "diastolic"), next_of_bp),
            "meds": StateSpec("meds", "ask_meds", ("adherence",), ("done",)),
            "done": StateSpec("done", None, (), ("done",)),
        },
    )


class FollowUpDemo(FlowDialogue):
    """A two-question follow-up: the shape issue 5's flows will take."""

    def __init__(self, spec: FlowSpec | None = None, phraser: Any = None) -> None:
        super().__init__(spec or follow_up_spec(), Phrasebook(PROMPTS, seed=1), phraser)
        self.answers: dict[str, str] = {}

    def opening(self) -> Turn:
        return Turn([self.phrases.say("hello"), self.phrases.say("ask_bp")], "bp", rephrase=(1,))

    async def on_bp(self, text: str) -> Turn:
        self.answers["bp"] = text
        return Turn([self.phrases.say("ask_meds")], "meds", rephrase=(0,))

    async def on_meds(self, text: str) -> Turn:
        self.answers["meds"] = text
        return Turn([self.phrases.say("thanks")], "done", end_call=True)


async def collect(replies: AsyncIterator[Reply]) -> list[Reply]:
    return [reply async for reply in replies]


async def test_a_flow_runs_its_states_and_ends_on_the_last_sentence() -> None:
    dialogue = FollowUpDemo()
    opening = await collect(dialogue.open())
    assert [r.text for r in opening] == ["您好，这里是随访电话。", "请问今天血压多少？"]
    await collect(dialogue.handle("一百三十，八十五"))
    closing = await collect(dialogue.handle("每天都吃"))
    assert [r.end_call for r in closing] == [False, True]
    assert dialogue.answers == {"bp": "一百三十，八十五", "meds": "每天都吃"}
    assert await collect(dialogue.handle("还有事吗")) == []
    assert dialogue.snapshot() == {"flow": "followup-demo", "state": "done"}


async def test_silence_reprompts_with_the_states_question_once_then_ends() -> None:
    dialogue = FollowUpDemo()
    await collect(dialogue.open())
    first = await collect(dialogue.handle_silence())
    assert [r.text for r in first] == ["您还在吗？", "请问今天血压多少？"]
    second = await collect(dialogue.handle_silence())
    assert second[-1].end_call and dialogue.ended


async def test_speech_resets_the_silence_count() -> None:
    dialogue = FollowUpDemo()
    await collect(dialogue.open())
    await collect(dialogue.handle_silence())
    await collect(dialogue.handle("一百二"))
    assert not any(r.end_call for r in await collect(dialogue.handle_silence()))


async def test_garbled_input_reprompts_without_moving() -> None:
    dialogue = FollowUpDemo()
    await collect(dialogue.open())
    replies = await collect(dialogue.handle("  ...?! "))
    assert [r.text for r in replies] == ["没听清，请再说一遍。", "请问今天血压多少？"]
    assert dialogue.state == "bp"


async def test_abuse_is_answered_calmly_and_repeated_abuse_hands_over() -> None:
    dialogue = FollowUpDemo()
    await collect(dialogue.open())
    calm = await collect(dialogue.handle("傻逼"))
    assert calm[0].text == "我理解您着急。" and dialogue.state == "bp"
    await collect(dialogue.handle("滚蛋"))
    last = await collect(dialogue.handle("闭嘴"))
    assert last[-1].text == "我先为您转接人工。" and last[-1].end_call


async def test_content_around_an_insult_is_still_handled() -> None:
    dialogue = FollowUpDemo()
    await collect(dialogue.open())
    replies = await collect(dialogue.handle("烦死了笨蛋，一百三十八十"))
    assert replies[0].text == "我理解您着急。"
    assert dialogue.state == "meds"


async def test_transitions_outside_the_spec_are_refused() -> None:
    dialogue = FollowUpDemo(follow_up_spec(next_of_bp=("bp",)))
    await collect(dialogue.open())
    with pytest.raises(RuntimeError, match="'bp' -> 'meds' is not in the spec; allowed: \\('bp',\\)"):
        await collect(dialogue.handle("一百三"))


def test_a_spec_with_unknown_states_names_them() -> None:
    with pytest.raises(ValueError, match=r"transitions \['nowhere'\] must be states"):
        FlowSpec("x", "a", {"a": StateSpec("a", None, (), ("nowhere",))})


def test_the_packaged_triage_spec_loads() -> None:
    spec = FlowSpec.load("triage")
    assert spec.start == "complaint" and spec.settings["max_questions"] == 3
    assert "emergency" in spec.states["complaint"].next


async def test_only_marked_sentences_go_through_the_rewording_hook() -> None:
    seen = []

    async def phraser(text: str, context: dict[str, Any]) -> AsyncIterator[str]:
        seen.append((text, context["state"]))
        yield "换个说法：" + text

    dialogue = FollowUpDemo(phraser=phraser)
    opening = await collect(dialogue.open())
    assert [r.text for r in opening] == ["您好，这里是随访电话。", "换个说法：请问今天血压多少？"]
    await collect(dialogue.handle("一百三"))
    closing = await collect(dialogue.handle("吃了"))
    assert [r.text for r in closing] == ["好的，谢谢。", "再见。"]  # closing turns are never re-worded
    assert seen == [("请问今天血压多少？", "bp"), ("药是按时吃的吗？", "meds")]


def test_phrasebook_varies_and_fills_fields() -> None:
    book = Phrasebook({"q": ["甲{who}", "乙{who}", "丙{who}"]}, seed=3)
    book.defaults["who"] = "您"
    picks = [book.say("q") for _ in range(30)]
    assert all(a != b for a, b in zip(picks, picks[1:], strict=False))
    assert book.say("q", who="孩子").endswith("孩子")
    with pytest.raises(KeyError, match="'nope' not in the phrasebook; known: \\['q'\\]"):
        book.say("nope")


def test_split_sentences_keeps_punctuation() -> None:
    assert split_sentences("好的。您在吗？请说！") == ["好的。", "您在吗？", "请说！"]
    assert split_sentences("没有标点") == ["没有标点"]
