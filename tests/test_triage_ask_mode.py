"""Ask mode: a detector's hit that no rule raised is a question, not a flag. The triage flow asks the
discriminator of the presentation the hit points at; "有" raises the flag, "没有" lets the level go down,
"不知道" keeps it (Manchester-style); a rule's flag is never cleared. Generated over every code the
discriminator table can ask about, with a stand-in detector that always sees that code.
"""

from __future__ import annotations

import pytest

from dialogue import create_dialogue
from dialogue.safety import RedFlagHit, SafetyRules
from dialogue.safety_floor import SafetyFloor
from dialogue.triage.discriminators import by_id, table
from dialogue.triage.flow import TriageDialogue

RULES = SafetyRules.load()
QUIET = "我有点咳嗽"  # no rule fires
ASKABLE = sorted(
    {p.flag for p in table() if p.requires is None and any(d.question for d in p.discriminators)}
)


class Sees:
    """A stand-in detector that sees ``code`` in every utterance."""

    def __init__(self, code: str) -> None:
        self.code = code

    def detect_hits(self, utterance: str) -> list[RedFlagHit]:
        rule = next(rule for rule in RULES.rules if rule.code == self.code)
        return [RedFlagHit(rule.code, rule.name, rule.level, rule.action, "learned:1.00", "test")]


def rules_out(dialogue: TriageDialogue) -> str:
    """The answer that rules the pending discriminator out (some questions ask for the reassuring sign:
    血止住了吗 — "有" rules out)."""
    pending = dialogue._pending or ""
    if not pending.startswith("discriminator:"):
        return "没有"
    return "有" if by_id(pending.removeprefix("discriminator:")).yes_means == "absent" else "没有"


async def _call(code: str, answer: str | None) -> TriageDialogue:
    dialogue = create_dialogue(
        "triage", call_id=f"ask-{code}", safety=SafetyFloor(RULES, [Sees(code)], ask=True)
    )
    assert isinstance(dialogue, TriageDialogue)
    [reply async for reply in dialogue.open()]
    turn = QUIET
    for _ in range(6):
        [reply async for reply in dialogue.handle(turn)]
        if dialogue.state in ("offer", "emergency", "done"):
            break
        turn = answer if answer is not None else rules_out(dialogue)
    return dialogue


def test_ask_mode_adds_no_flag_by_itself() -> None:
    floor = SafetyFloor(RULES, [Sees("chest_pain_acs")], ask=True)
    assert floor.check([QUIET]) == []
    assert floor.suspected([QUIET]) == ["chest_pain_acs"]
    assert SafetyFloor(RULES, [Sees("chest_pain_acs")]).check([QUIET])[0].code == "chest_pain_acs"


@pytest.mark.parametrize("code", ASKABLE)
async def test_a_suspicion_is_asked_and_dont_know_keeps_the_level(code: str) -> None:
    dialogue = await _call(code, "不知道")
    asked = [slot for slot in dialogue._asked if slot.startswith("discriminator:")]
    assert asked, code
    assert dialogue.snapshot()["level"] <= 2, code


@pytest.mark.parametrize("code", ASKABLE)
async def test_a_suspicion_ruled_out_lets_the_level_go_down(code: str) -> None:
    dialogue = await _call(code, None)
    snapshot = dialogue.snapshot()
    assert snapshot["red_flags"] == [], code
    assert snapshot["level"] >= 3, code


async def test_a_rule_flag_is_never_cleared_by_ask_mode() -> None:
    dialogue = create_dialogue(
        "triage", call_id="ask-rule", safety=SafetyFloor(RULES, [Sees("stroke")], ask=True)
    )
    [reply async for reply in dialogue.open()]
    [reply async for reply in dialogue.handle("我妈嘴歪了，说话不清楚")]
    assert dialogue.snapshot()["red_flags"] == ["stroke"]
