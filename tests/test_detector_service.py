"""The learned detector as the service runs it (on by default, light scorers): ask mode unless
``MEDVOICE_SAFETY_DETECTOR_MODE=flag``. Through the service path (settings -> the engines' safety loader
``agent.engines._load_safety``, which ``Engines`` calls -> ``CallSessions.new_dialogue`` -> the flow), with
the real packaged detector, loaded once for the module; the audio models are left out.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from agent.config import Settings
from agent.engines import _load_safety, _safety_detail
from agent.session import CallOptions, CallSessions
from dialogue import LearnedRedFlagDetector, Reply, SafetyFloor, create_dialogue

ON = {"MEDVOICE_SAFETY_DETECTOR": "true"}
# Written for this test: no rule fires, the detector sees an allergic reaction (anaphylaxis).
SUSPECT = "孩子三岁，吃花生以后嘴有点肿"


@pytest.fixture(scope="module")
def floor() -> SafetyFloor:
    return _load_safety(Settings.from_mapping(ON))


@pytest.fixture(scope="module")
def sessions(floor: SafetyFloor) -> CallSessions:
    engines = SimpleNamespace(settings=Settings.from_mapping(ON), safety=floor)  # Engines, less the audio
    return CallSessions(engines)  # type: ignore[arg-type]


def said(replies: list[Reply]) -> str:
    return "".join(reply.text for reply in replies)


def test_the_mode_defaults_to_ask_and_a_bad_value_is_refused_by_name() -> None:
    defaults = Settings.from_mapping({})
    assert defaults.safety_detector is True and defaults.safety_detector_scorers == "light"
    assert Settings.from_mapping({"MEDVOICE_SAFETY_DETECTOR": "false"}).safety_detector is False
    with pytest.raises(ValidationError):
        Settings.from_mapping({"MEDVOICE_SAFETY_DETECTOR_SCORERS": "tiny"})
    assert Settings.from_mapping(ON).safety_detector_mode == "ask"
    assert (
        Settings.from_mapping({**ON, "MEDVOICE_SAFETY_DETECTOR_MODE": " Flag "}).safety_detector_mode
        == "flag"
    )
    with pytest.raises(ValidationError, match=r"MEDVOICE_SAFETY_DETECTOR_MODE='flags' must be 'ask'"):
        Settings.from_mapping({**ON, "MEDVOICE_SAFETY_DETECTOR_MODE": "flags"})


def test_the_service_floor_asks_by_default(floor: SafetyFloor) -> None:
    assert floor.ask and floor.detectors and _safety_detail(floor) == "rules + learned detector (ask)"
    assert floor.check([SUSPECT]) == []  # a hit is not a flag
    assert "anaphylaxis" in floor.suspected([SUSPECT])
    assert floor.suspected(["我有点咳嗽"]) == []


async def test_triage_asks_the_suspected_presentation_and_a_yes_raises_the_flag(
    sessions: CallSessions,
) -> None:
    rules_only = create_dialogue("triage", call_id="rules")
    [reply async for reply in rules_only.open()]
    [reply async for reply in rules_only.handle(SUSPECT)]
    assert rules_only._pending is None  # the rules alone ask what the trouble is

    dialogue = sessions.new_dialogue("triage", "ask")
    [reply async for reply in dialogue.open()]
    [reply async for reply in dialogue.handle(SUSPECT)]
    assert dialogue.hits == [] and (dialogue._pending or "").startswith("discriminator:")
    spoken = [reply async for reply in dialogue.handle("有，嘴唇都紫了")]
    assert dialogue.state == "emergency" and dialogue.hits and "120" in said(spoken)


async def test_followup_and_dictation_act_on_no_suspicion(sessions: CallSessions, floor: SafetyFloor) -> None:
    followup = sessions.new_dialogue("followup", "f", CallOptions(program="hypertension"))
    [reply async for reply in followup.open()]
    spoken = [reply async for reply in followup.handle(SUSPECT)]
    assert followup.hits == [] and not followup.ended and "120" not in said(spoken)
    dictation = create_dialogue("dictation", call_id="d", safety=floor)
    [reply async for reply in dictation.open()]
    [reply async for reply in dictation.handle(SUSPECT)]
    assert dictation.hits == [] and not dictation.ended


def test_flag_mode_raises_a_hit_as_a_red_flag(floor: SafetyFloor, monkeypatch: pytest.MonkeyPatch) -> None:
    detector = floor.detectors[0]
    monkeypatch.setattr(LearnedRedFlagDetector, "load", classmethod(lambda cls, *args, **kwargs: detector))
    flagging = _load_safety(Settings.from_mapping({**ON, "MEDVOICE_SAFETY_DETECTOR_MODE": "flag"}))
    assert not flagging.ask and _safety_detail(flagging) == "rules + learned detector (flag)"
    assert "anaphylaxis" in {hit.code for hit in flagging.check([SUSPECT])}
    assert flagging.suspected([SUSPECT]) == []
