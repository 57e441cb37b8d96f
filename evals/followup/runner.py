"""Drive one scripted follow-up call and score what the dialogue recorded.

The case's ``answers`` are the patient's turns in order; ``""`` is silence. When the agent reads a value
back, the simulated patient answers unless the next scripted answer is itself a yes/no or correction
(self-corrections are scripted explicitly): a cooperative patient who knows the reading confirms a
right read-back ("对的，没错") and, after a wrong one (an ASR slip), says "不对，是…" repeating the
reading; ``readback_corrections`` counts those. Asked for a value digit by digit (after a failed read-back),
the patient says the true reading's digits ("一，八，五。"; slower, "一。八。五。", in a second round), and
the digit-only decoder hears them as the call's would. Each recognised answer reaches the dialogue with
its per-word confidence. ``asked`` counts the agent's confirmation questions (read-backs and digit
requests); ``unconfirmed_wrong`` counts values recorded without a yes that are wrong (must stay 0).
Recognised silence goes to ``handle_silence``. When the answers run out before the agent ends the call,
the patient hangs up (``FollowupDialogue.hangup``: partial answers saved).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialogue.followup import answers as replies
from dialogue.followup.flow import FollowupDialogue
from evals.speech import SpeechPath

CONFIRM = "对的，没错"  # Whisper drops a lone "对"; patients say this too
VALUE_FIELDS = {"systolic": "systolic", "diastolic": "diastolic", "fasting_glucose": "glucose",
                "heart_rate": "heart_rate", "weight": "weight"}


@dataclass
class CallOutcome:
    """Expected vs recorded for one call (ids and labels only; no patient text)."""

    id: str
    program: str
    values: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    adherence: tuple[str, str | None] | None = None
    alert: tuple[bool, bool] | None = None
    outcome: tuple[str, str | None] | None = None
    visit_class: tuple[str, str | None] | None = None
    turns: int = 0
    corrections: int = 0
    asked: int = 0
    digit_requests: int = 0
    unconfirmed_wrong: int = 0


def load_calls(path: Path) -> list[dict[str, Any]]:
    """The JSONL calls (dev-set format: id, program, answers, expect)."""
    calls = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        call = json.loads(line)
        missing = {"id", "program", "answers", "expect"} - set(call)
        if missing:
            raise ValueError(f"{path}:{number}: call lacks {sorted(missing)}; each line needs id, program, answers, expect")
        calls.append(call)
    return calls


async def run_call(call: dict[str, Any], speech: SpeechPath) -> CallOutcome:
    """Play ``call`` against a fresh dialogue; compare the snapshot with ``expect``."""
    flow = f"followup_{call['program']}"
    dialogue = FollowupDialogue(program=call["program"], call_id=call["id"])
    [reply async for reply in dialogue.open()]
    queue = list(call["answers"])
    turns = corrections = asked = digit_requests = 0
    last_answer = ""
    unheard = False
    max_turns = 3 * len(queue) + 10  # a patient repeating "对" to an agent that never hears it hangs up
    while queue and not dialogue.ended and turns < max_turns:
        digits = dialogue.expects_digits()
        if digits:
            said = _digits_reply(dialogue, call["expect"], unheard)
        elif _reading_back(dialogue) and dialogue.digit_retry is not None and _right(dialogue, call["expect"]):
            # A right read-back of digits is confirmed; a scripted correction of the misreading that
            # the digits got past has nothing left to correct.
            if _answers_readback(queue[0]):
                queue.pop(0)
            said = CONFIRM
        elif _reading_back(dialogue) and not _answers_readback(queue[0]):
            said = _readback_reply(dialogue, call["expect"], last_answer)
            corrections += said != CONFIRM
        else:
            said = last_answer = queue.pop(0)
        turns += 1
        context = "血压" if dialogue.question == "blood_pressure" else "血糖" if dialogue.question == "glucose" else None
        hearing = speech.listen(said, flow, context, dialogue.asr_hints(), digits=digits) if said else None
        unheard = hearing is None or not hearing.corrected.strip()
        if hearing is None or unheard:  # nothing said or recognised: silence
            [reply async for reply in dialogue.handle_silence()]
            continue
        [reply async for reply in dialogue.handle(hearing.corrected, hearing.confidence)]
        asked += _reading_back(dialogue)
        digit_requests += dialogue.expects_digits()
    if not dialogue.ended:
        await dialogue.hangup()
    snapshot = dialogue.snapshot()
    outcome = _compare(call, snapshot, turns)
    outcome.corrections = corrections
    outcome.asked, outcome.digit_requests = asked + digit_requests, digit_requests
    wanted = _wanted(call["expect"])
    outcome.unconfirmed_wrong = sum(1 for name in snapshot.get("unconfirmed", [])
                                    if name in wanted and abs(snapshot["values"][name] - wanted[name]) > 1e-6)
    return outcome


def _reading_back(dialogue: FollowupDialogue) -> bool:
    """The agent's last words read a value back (the survey's read-back, or danger mode's unsure value)."""
    return dialogue.state == "confirm" or dialogue.final_check is not None


def _right(dialogue: FollowupDialogue, expect: dict[str, Any]) -> bool:
    """The value read back is the vignette's (every part of it)."""
    wanted = _wanted(expect)
    pending = dialogue.pending
    return bool(pending) and all(key in wanted and abs(value - wanted[key]) < 1e-6 for key, value in pending.items())


def _wanted(expect: dict[str, Any]) -> dict[str, float]:
    return {key: float(expect[name]) for name, key in VALUE_FIELDS.items() if name in expect}


def _digits_reply(dialogue: FollowupDialogue, expect: dict[str, Any], unheard: bool = False) -> str:
    """The true reading of the part asked, digit by digit (一，八，五。; 七，点，五。), slower in a
    second round; "不知道" when the vignette has no such reading."""
    retry = dialogue.digit_retry
    assert retry is not None
    value = _wanted(expect).get(retry.part)
    if value is None:
        return "不知道"
    written = f"{value:.1f}" if retry.part == "glucose" else f"{value:g}"  # a meter shows 7.0, not 7
    names = dict(zip("0123456789.", "零一二三四五六七八九点", strict=True))
    slower = retry.rounds > 1 or retry.unclear > 0 or unheard  # not heard: again, slower
    return ("。" if slower else "，").join(names[ch] for ch in written) + "。"


def _readback_reply(dialogue: FollowupDialogue, expect: dict[str, Any], last_answer: str) -> str:
    """A cooperative patient: confirms a right read-back, repeats the reading after "不对" when it is wrong."""
    wanted = _wanted(expect)
    wrong = any(key in wanted and abs(value - wanted[key]) > 1e-6 for key, value in dialogue.pending.items())
    return f"不对，是{last_answer}" if wrong and last_answer else CONFIRM


def _answers_readback(answer: str) -> bool:
    return bool(answer) and (replies.is_yes(answer) or replies.is_no(answer) or answer.startswith(("哦", "不对")))


def _compare(call: dict[str, Any], snapshot: dict[str, Any], turns: int) -> CallOutcome:
    expect = call["expect"]
    outcome = CallOutcome(call["id"], call["program"], turns=turns)
    for name, key in VALUE_FIELDS.items():
        if name in expect:
            outcome.values[name] = (float(expect[name]), snapshot["values"].get(key))
    if "adherence" in expect:
        outcome.adherence = (expect["adherence"], snapshot.get("adherence"))
    if "alert" in expect:
        outcome.alert = (bool(expect["alert"]), bool(snapshot.get("alert")))
    if "outcome" in expect:
        outcome.outcome = (expect["outcome"], snapshot.get("outcome"))
    if "visit_class" in expect:
        outcome.visit_class = (expect["visit_class"], snapshot.get("visit_class"))
    return outcome


def score(outcomes: list[CallOutcome]) -> dict[str, float]:
    """Flat metrics: exact value, adherence class, alert, call outcome and visit class accuracy."""
    values = [abs(want - got) < 1e-6 if got is not None else False
              for o in outcomes for want, got in o.values.values()]
    metrics = {
        "calls": float(len(outcomes)),
        "value_accuracy": _mean(values),
        "values_scored": float(len(values)),
        "adherence_accuracy": _mean([want == got for o in outcomes if o.adherence for want, got in [o.adherence]]),
        "alert_accuracy": _mean([want == got for o in outcomes if o.alert for want, got in [o.alert]]),
        "alert_sensitivity": _mean([got for o in outcomes if o.alert and o.alert[0] for _, got in [o.alert]]),
        "outcome_accuracy": _mean([want == got for o in outcomes if o.outcome for want, got in [o.outcome]]),
        "visit_class_accuracy": _mean([want == got for o in outcomes if o.visit_class
                                       for want, got in [o.visit_class]]),
        "readback_corrections": float(sum(o.corrections for o in outcomes)),
        "turns": float(sum(o.turns for o in outcomes)),
        "asked_share": sum(o.asked for o in outcomes) / max(sum(o.turns for o in outcomes), 1),
        "digit_requests": float(sum(o.digit_requests for o in outcomes)),
        "unconfirmed_wrong_values": float(sum(o.unconfirmed_wrong for o in outcomes)),
    }
    return metrics


def _mean(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else float("nan")
