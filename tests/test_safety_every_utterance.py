"""The safety floor is the engine's job: every utterance, in every state of every flow, whatever else it
contains, goes through the red-flag rules first; the agent says only what happened; a caller in crisis
is never told to hang up and never hung up on.

The red-flag cases are generated from the rules' own data (each rule's ``examples``), so a new rule is
covered automatically: each example wrapped in profanity, in fillers, bare when it is a 2-4 character
fragment, arriving in each state of each flow. Hand-offs go to the real embedded store (SQLite); a
"failing" backend is that store after it was closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backends.embedded import EmbeddedStore, open_store
from backends.interfaces import Principal, Slot
from dialogue import Reply, create_dialogue
from dialogue.dictation.flow import DictationDialogue
from dialogue.engine import FlowDialogue
from dialogue.facts import Vitals
from dialogue.followup.flow import FollowupDialogue
from dialogue.safety import SafetyRules
from dialogue.safety_floor import SafetyFloor, readable
from dialogue.triage.flow import TriageDialogue

HOSPITAL = "demo-hospital"
ADMIN = Principal("admin", "hospital_admin", HOSPITAL)
TEAM = Principal("nurse-gp", "department", HOSPITAL, department_id="dept-general-practice")
RULES = SafetyRules.load()

WRAPPERS: dict[str, Callable[[str], str]] = {
    "bare": lambda x: x,
    "妈的": lambda x: f"妈的{x}",
    "他妈的": lambda x: f"他妈的，{x}",
    "草": lambda x: f"草，{x}",
    "靠": lambda x: f"靠，{x}，靠",
    "卧槽": lambda x: f"卧槽{x}",
    "filler": lambda x: f"嗯…那个…{x}",
    "filler-after": lambda x: f"嗯，就是，那个，{x}……",
}
HANGUP_ADVICE = re.compile(r"(?<!不会)(?<!没有)挂断")


def examples_of(code: str) -> tuple[str, ...]:
    return next(rule.examples for rule in RULES.rules if rule.code == code)


def said(replies: list[Reply]) -> str:
    return "".join(reply.text for reply in replies)


async def play(dialogue: FlowDialogue, turns: list[str | None]) -> list[list[Reply]]:
    """Open the call and play ``turns`` (``None`` is a silence); the replies of each turn."""
    [reply async for reply in dialogue.open()]
    spoken = []
    for turn in turns:
        replies = dialogue.handle_silence() if turn is None else dialogue.handle(turn)
        spoken.append([reply async for reply in replies])
    return spoken


# -- putting a call in each state --------------------------------------------------------------------
# The states are reached by real caller turns where that is short; choose_slot, confirm and final need
# a slot list or a read-back in progress, which the test sets directly on the flow.
def _other_flag(code: str) -> tuple[str, str]:
    return ("吃了一整瓶安眠药", "poisoning") if code != "poisoning" else ("大口大口地吐血", "major_bleeding")


async def triage_in(state: str, code: str) -> TriageDialogue:
    dialogue = create_dialogue("triage", call_id=f"t-{state}-{code}")
    assert isinstance(dialogue, TriageDialogue)
    [reply async for reply in dialogue.open()]
    if state == "clarify":
        [reply async for reply in dialogue.handle("我有点咳嗽")]
    elif state == "offer":
        for turn in ("我有点咳嗽", "不太清楚", "不太清楚", "不太清楚", "不太清楚"):
            if dialogue.state == "offer":
                break
            [reply async for reply in dialogue.handle(turn)]
    elif state == "choose_slot":
        now = datetime.now(UTC)
        dialogue._offers = [Slot("s1", "呼吸内科", "王医生", now + timedelta(days=1), now + timedelta(days=1, hours=1))]
        dialogue.state = "choose_slot"
    elif state == "emergency":
        text, other = _other_flag(code)
        [reply async for reply in dialogue.handle(text)]
        assert [hit.code for hit in dialogue.hits] == [other]
    elif state == "crisis":
        other_text = "活着没意思，不想活了" if code != "suicidal" else "大口大口地吐血"
        [reply async for reply in dialogue.handle(other_text)]
    assert state == "crisis" or dialogue.state == state
    return dialogue


async def followup_in(state: str, code: str) -> FollowupDialogue:
    dialogue = FollowupDialogue(program="hypertension", call_id=f"f-{state}-{code}")
    [reply async for reply in dialogue.open()]
    if state == "confirm":
        dialogue.state, dialogue.question, dialogue.pending = "confirm", "blood_pressure", {"systolic": 130, "diastolic": 80}
    elif state == "final":
        dialogue.state, dialogue.question = "final", "adherence"
    assert dialogue.state == state
    return dialogue


TRIAGE_STATES = ("complaint", "clarify", "offer", "choose_slot", "emergency", "crisis")
FOLLOWUP_STATES = ("ask", "confirm", "final")


def worded_examples(code: str) -> tuple[str, ...]:
    """The examples that say the flag in words rather than as a value (a follow-up call reads values as the
    programme's danger criteria, confirmed by read-back, not as red flags: DOMAIN.md §2, test_followup.py)."""
    return tuple(e for e in examples_of(code) if code in {hit.code for hit in RULES.check(readable(e), Vitals(), spoken_values=False)})


def variants(code: str, examples: tuple[str, ...] | None = None) -> list[str]:
    examples = examples_of(code) if examples is None else examples
    cases = [wrap(example) for example in examples for wrap in WRAPPERS.values()]
    return cases + [example for example in examples if 2 <= len(example) <= 4]


def test_every_rule_has_examples_to_generate_cases_from() -> None:
    assert RULES.codes and all(len(rule.examples) >= 3 for rule in RULES.rules)
    assert any(2 <= len(e) <= 4 for rule in RULES.rules for e in rule.examples)


@pytest.mark.parametrize("state", TRIAGE_STATES)
@pytest.mark.parametrize("code", RULES.codes)
async def test_triage_raises_every_flag_in_every_state_however_it_is_said(code: str, state: str) -> None:
    missed = []
    for text in variants(code):
        dialogue = await triage_in(state, code)
        replies = [reply async for reply in dialogue.handle(text)]
        if code not in {hit.code for hit in dialogue.hits} or not re.search(r"120|12356", said(replies)):
            missed.append(text)
    assert missed == []


@pytest.mark.parametrize("state", FOLLOWUP_STATES)
@pytest.mark.parametrize("code", RULES.codes)
async def test_followup_raises_every_flag_in_every_state_however_it_is_said(code: str, state: str) -> None:
    if not worded_examples(code):
        pytest.skip(f"{code} is a value; in a follow-up call values are the programme's danger criteria")
    missed = []
    for text in variants(code, worded_examples(code)):
        dialogue = await followup_in(state, code)
        replies = [reply async for reply in dialogue.handle(text)]
        if code not in dialogue.meta()["red_flags"] or not re.search(r"120|12356", said(replies)):
            missed.append(text)
    assert missed == []


@pytest.mark.parametrize("code", RULES.codes)
async def test_dictation_records_every_flag_and_never_runs_a_script_at_the_doctor(code: str) -> None:
    for text in variants(code):
        dialogue = DictationDialogue(call_id="d")
        [reply async for reply in dialogue.open()]
        replies = [reply async for reply in dialogue.handle(f"患者自述{text}")]
        assert code in dialogue.meta()["red_flags"], text
        assert not re.search(r"120|12356|挂断", said(replies)), text
        assert not dialogue.ended and dialogue.note.sentences, text


@pytest.mark.parametrize("flow", ["triage", "followup"])
@pytest.mark.parametrize(("utterance", "code"), [("妈的不想活了", "suicidal"), ("妈的喘不上气", "severe_dyspnea"),
                                                 ("卧槽，我胸口疼得厉害，出了一身冷汗", "chest_pain_acs")])
async def test_the_issue_examples_raise_their_flag_in_both_caller_flows(flow: str, utterance: str, code: str) -> None:
    dialogue = create_dialogue(flow, program="hypertension", call_id="x")
    assert isinstance(dialogue, FlowDialogue)
    [spoken] = await play(dialogue, [utterance])
    assert code in [hit.code for hit in dialogue.hits]
    assert "请问今天是哪里不舒服" not in said(spoken)
    assert re.search(r"120|12356", said(spoken))


async def test_the_whole_call_transcript_keeps_reprompted_utterances() -> None:
    dialogue = create_dialogue("triage", call_id="t")
    assert isinstance(dialogue, TriageDialogue)
    await play(dialogue, ["？？", "傻逼", "我头疼"])
    assert dialogue.transcript == ["？？", "傻逼", "我头疼"]


async def test_a_flag_split_over_a_reprompted_and_a_later_turn_still_counts() -> None:
    dialogue = create_dialogue("triage", call_id="t")
    assert isinstance(dialogue, TriageDialogue)
    await play(dialogue, ["妈的胸口疼", "还一直出冷汗"])
    assert "chest_pain_acs" in [hit.code for hit in dialogue.hits]


def test_readable_removes_oaths_and_fillers_but_not_words_that_contain_them() -> None:
    assert readable("他妈的…那个…喘不上气，靠") == "喘不上气，"
    assert readable("嗯，吃了草药，靠着墙坐着") == "，吃了草药，靠着墙坐着"
    assert readable("没有…胸口疼") == "没有胸口疼"


# -- saying only what happened: the hand-off in each backend state ------------------------------------
@pytest.fixture
def working(tmp_path: Path) -> Iterator[EmbeddedStore]:
    opened = open_store(f"sqlite:///{tmp_path}/consult.db", tmp_path / "keys.json", seed_days=1)
    yield opened
    opened.close()


@pytest.fixture
def failing(tmp_path: Path) -> EmbeddedStore:
    opened = open_store(f"sqlite:///{tmp_path}/down.db", tmp_path / "keys.json", seed_days=1)
    opened.close()
    (tmp_path / "down.db").unlink()  # the real store with its database gone: every request fails
    return opened


def _caller_dialogue(flow: str, backend: EmbeddedStore | None) -> FlowDialogue:
    if flow == "triage":
        return TriageDialogue(consultation=backend, call_id="c1")
    return FollowupDialogue(program="hypertension", consultation=backend, principal=TEAM, call_id="c1")


@pytest.mark.parametrize("flow", ["triage", "followup"])
@pytest.mark.parametrize("backend", ["none", "failing", "working"])
async def test_the_agent_says_a_nurse_was_notified_only_when_the_handoff_is_recorded(
    flow: str, backend: str, request: pytest.FixtureRequest
) -> None:
    store = None if backend == "none" else request.getfixturevalue(backend)
    dialogue = _caller_dialogue(flow, store)
    [spoken] = await play(dialogue, ["我从昨天开始胸口疼得厉害，还出冷汗，喘不上气"])
    text = said(spoken)
    assert "120" in text and "挂断" in text  # no live transfer exists: 120 now, "do not queue"
    if backend == "working":
        assert "已经通知了值班护士" in text
        queue = await request.getfixturevalue("working").handoff_queue(ADMIN)
        assert [ticket.request.call_id for ticket in queue] == ["c1"]
    else:
        assert "通知" not in text.replace("没能", "") and "没能联系上" in text
        assert "转接" not in text


@pytest.mark.parametrize("flow", ["triage", "followup"])
@pytest.mark.parametrize("backend", ["none", "failing", "working"])
async def test_a_caller_in_crisis_is_never_told_to_hang_up_and_never_hung_up_on(
    flow: str, backend: str, request: pytest.FixtureRequest
) -> None:
    store = None if backend == "none" else request.getfixturevalue(backend)
    dialogue = _caller_dialogue(flow, store)
    turns: list[str | None] = ["不想活了", "好的", "知道了，再见", None, None, None, "转人工", "傻逼", "傻逼", "傻逼", None]
    spoken = await play(dialogue, turns)
    everything = "".join(said(replies) for replies in spoken)
    assert "12356" in said(spoken[0]) and "不会挂断" in said(spoken[0])
    assert not HANGUP_ADVICE.search(everything)
    assert not any(reply.end_call for replies in spoken for reply in replies)
    assert not dialogue.ended
    notified = "已经通知了工作人员" in everything
    assert notified == (backend == "working")


async def test_crisis_with_a_physical_emergency_gives_120_without_telling_the_caller_to_hang_up() -> None:
    dialogue = create_dialogue("triage", call_id="c")
    assert isinstance(dialogue, TriageDialogue)
    [spoken] = await play(dialogue, ["我不想活了，刚才吃了一整瓶安眠药"])
    text = said(spoken)
    assert {"suicidal", "poisoning"} <= {hit.code for hit in dialogue.hits}
    assert "120" in text and "12356" in text and not HANGUP_ADVICE.search(text)
    assert not spoken[-1].end_call


def test_no_safety_script_tells_a_crisis_caller_to_hang_up() -> None:
    floor = SafetyFloor.load()
    dialogue = TriageDialogue(call_id="c")
    for key in ("call_12356", "crisis_notified", "crisis_unreachable", "crisis_listen", "crisis_numbers",
                "crisis_silence"):
        for _ in range(4):
            assert not HANGUP_ADVICE.search(dialogue.safety_phrases.say(key)), key
    assert floor.rules.codes == RULES.codes


async def test_a_followup_value_over_the_threshold_is_the_programmes_danger_not_a_120_red_flag() -> None:
    dialogue = FollowupDialogue(program="hypertension", call_id="f-bp")
    [reply async for reply in dialogue.open()]
    dialogue.state, dialogue.question = "ask", "blood_pressure"
    spoken = [reply async for reply in dialogue.handle("高压一百八十六，低压一百零八")]
    assert dialogue.hits == [] and "120" not in said(spoken)
    assert dialogue.state == "confirm"  # read back first, then the danger criteria act


async def test_a_danger_said_just_before_the_patient_hangs_up_still_raises_the_alert() -> None:
    dialogue = FollowupDialogue(program="diabetes", call_id="f-lo")
    await play(dialogue, ["早上起来浑身没劲", "测出来是LO，仪器上就俩字母"])
    await dialogue.hangup()
    assert dialogue.meta()["alert"] and dialogue.dangers


async def test_the_service_floor_reaches_every_flow_and_the_learned_detector_only_adds() -> None:
    from dialogue import LearnedRedFlagDetector, SafetyFloor

    floor = SafetyFloor(RULES, [LearnedRedFlagDetector.load()])
    for flow in ("triage", "followup", "dictation"):
        dialogue = create_dialogue(flow, program="hypertension", call_id="s", safety=floor)
        assert isinstance(dialogue, FlowDialogue) and dialogue.safety is floor
    for text in ("胸口疼，出冷汗", "我有点咳嗽", "孩子从床上摔下来，一直哭，吐了两次", "我爸脸色灰白，叫他眼睛都不睁"):
        rules_only = {hit.code for hit in SafetyFloor(RULES).check([text])}
        assert rules_only <= {hit.code for hit in floor.check([text])}, text


def test_the_learned_detector_is_on_by_default_and_can_be_switched_off() -> None:
    from agent.config import Settings

    assert Settings.from_mapping({}).safety_detector is True
    assert Settings.from_mapping({"MEDVOICE_SAFETY_DETECTOR": "false"}).safety_detector is False
