"""Values the recogniser was unsure of, and values the patient said were read back wrong.

Two rules, both about never recording a value the patient did not confirm:

* **Unsure values are confirmed.** Every measured value is read back in the survey already. In
  danger mode (the clinician calls back today, so only the key value and adherence are asked) a
  value is recorded without a read-back, unless the recogniser was unsure of one of its digits
  (:func:`unsure`): then it is read back in one short question (您说的血压是一百八十五、一百一十，对吗？)
  and recorded only on a yes.
* **A failed read-back, or a number that cannot be read as the value, is asked digit by digit.** When the patient denies a read-back and the
  recogniser heard the same value again (or the patient denies twice), asking for the whole
  number again only repeats the mishearing. The flow asks for it one digit at a time
  (请一个数字一个数字地说，比如一、四、五), a blood pressure one half at a time, and
  :meth:`FollowupDialogue.expects_digits` tells the decoder to write digits only (``asr.digits``);
  the digits are read back as a value. A telephony transport may offer the keypad at the same
  moment (DTMF, the telephony issue): key presses arrive as the digit string ("185").
  After :data:`MAX_DIGIT_ROUNDS` denied digit read-backs the value is left unknown. An answer
  that holds a number the value readers cannot use (none found, out of range, several that do not
  make one reading: a mumbled or misheard number) goes to the digits at once
  (:func:`on_unreadable_value`).

The flow calls :func:`on_denied_readback`, :func:`on_digits` and :func:`on_final_value`; the state
they keep is :class:`DigitRetry` and :class:`FinalCheck` on the dialogue.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from dialogue.engine import Turn
from dialogue.followup import answers
from medical_terms.confidence import VALUE_CONFIDENCE, Confidence
from medical_terms.numerals import read_amount, spoken_amounts

if TYPE_CHECKING:
    from dialogue.followup.flow import FollowupDialogue

MAX_FINAL_READBACKS = 2
"""Danger-mode read-backs of one unsure value (the first and one correction); then it is unknown."""
MAX_DIGIT_ROUNDS = 2
"""Digit-by-digit rounds per value; after that many denied read-backs the value is unknown."""
_MAX_UNCLEAR = 2
_UNREADABLE = ("missing", "out_of_range", "ambiguous")
PARTS = {
    "blood_pressure": ("systolic", "diastolic"),
    "glucose": ("glucose",),
    "heart_rate": ("heart_rate",),
    "weight": ("weight",),
}
_SEPARATORS = re.compile(r"[\s，、,。！？!?]+")
_MISHEARD_DECIMAL = re.compile(r"[^\s，。有差早晚快慢好一]\s?点\s?[^\s，。]")  # 发 点 发: 八点八 misheard
_UNITS = re.compile(r"\s*(?:mmHg|mmol/L|kg|次/分|bpm|公斤)")
_CORRECTION = re.compile(r"不对|不是|错了|说错|应该是")


def unsure(confidence: Confidence | None, threshold: float = VALUE_CONFIDENCE) -> bool:
    """Whether the recogniser was unsure of a digit of the utterance's numbers (not measured: no)."""
    lowest = confidence.numbers() if confidence is not None else None
    return lowest is not None and lowest < threshold


def read_digits(text: str) -> float | None:
    """A number said digit by digit ("一、八、五" -> 185, "七，点，五" -> 7.5, keypad "185"), or in
    words (一百八十五), read by ``medical_terms.numerals.read_amount`` once the pauses between the
    digits are gone; None unless the answer is one exact number and nothing else."""
    core = _SEPARATORS.sub("", _UNITS.sub("", text))
    amount = read_amount(core) if core else None
    return amount.low if amount is not None and amount.exact else None


@dataclass
class DigitRetry:
    """A value being asked again digit by digit: its parts, what was heard so far, the rounds."""

    question: str
    rounds: int = 1
    index: int = 0
    got: dict[str, float] = field(default_factory=dict)
    unclear: int = 0

    @property
    def part(self) -> str:
        return PARTS[self.question][self.index]

    def skip_known(self) -> None:
        """Move past the parts already heard."""
        parts = PARTS[self.question]
        while self.index < len(parts) and parts[self.index] in self.got:
            self.index += 1


@dataclass
class FinalCheck:
    """A danger-mode value the recogniser was unsure of, read back and waiting for a yes."""

    values: dict[str, float]
    readbacks: int = 1


def prompts() -> dict[str, list[str]]:
    """The wording of this module (``dialogue/followup/data/confirm_prompts.json``)."""
    return dict(_prompts())


@cache
def _prompts() -> dict[str, list[str]]:
    data = json.loads(
        resources.files("dialogue.followup.data").joinpath("confirm_prompts.json").read_text("utf-8")
    )
    return {key: value for key, value in data.items() if not key.startswith("_")}


def denied(text: str) -> bool:
    """The patient says the read-back is wrong."""
    return answers.is_no(text) or bool(_CORRECTION.search(text))


async def on_denied_readback(flow: FollowupDialogue, text: str, corrected: dict[str, float]) -> Turn | None:
    """The patient denied a read-back (``corrected``: the value, or half a blood pressure, said with
    the denial; empty if none).

    Returns the digit-by-digit question, the end of the value (unknown after the last round), or
    None when the flow should read the corrected value back as before (a first denial that brings
    a different value)."""
    question = flow.question or ""
    if question not in PARTS:
        return None
    retry = flow.digit_retry
    if retry is None:
        flow.readback_denials += 1
        new_value = any(flow.pending.get(name) != value for name, value in corrected.items())
        if new_value and flow.readback_denials == 1:
            return None
        flow.readback_denials = 0
        flow.digit_retry = DigitRetry(question)
        flow.pending = {}
        return Turn([flow.phrases.say("digits_intro"), _ask_part(flow, flow.digit_retry)], "ask")
    denied_values, flow.pending = flow.pending, {}
    if retry.rounds >= MAX_DIGIT_ROUNDS:
        flow.digit_retry = None
        return await flow._advance(prefix=[flow.phrases.say("value_unknown")])
    # A half the patient repeats with the denial as the digits had it was heard alike twice (two
    # utterances): only the other half is asked again; the whole value is still read back.
    agreed = {name: value for name, value in corrected.items() if denied_values.get(name) == value}
    if len(agreed) == len(PARTS[question]):
        agreed = {}  # "不对" with the very value read back: nothing is settled
    flow.digit_retry = DigitRetry(question, rounds=retry.rounds + 1, got=agreed)
    flow.digit_retry.skip_known()
    return Turn([flow.phrases.say("digits_again"), _ask_part(flow, flow.digit_retry)], "ask")


def on_unreadable_value(flow: FollowupDialogue, question: str, status: str, text: str) -> Turn | None:
    """A number was said but could not be read as the value (none found, out of range, or several
    that make no one reading: a mumbled or misheard number): ask for it digit by digit at once rather than the same way again. Half a
    blood pressure, an approximate value or a weight without its unit are the patient's to complete:
    None (the flow asks as before)."""
    # A lone 一 is mostly a word (一直, 一般, 一点); 发 点 发 is a decimal heard as words.
    said_a_number = (
        any(a.text != "一" for a in spoken_amounts(text)) or _MISHEARD_DECIMAL.search(text) is not None
    )
    if question not in PARTS or status not in _UNREADABLE or not said_a_number:
        return None
    flow.digit_retry = DigitRetry(question)
    return Turn([flow.phrases.say("digits_intro"), _ask_part(flow, flow.digit_retry)], "ask")


async def on_digits(flow: FollowupDialogue, text: str) -> Turn:
    """An answer to a digit-by-digit question: the next half, the read-back, or the question again."""
    retry = flow.digit_retry
    assert retry is not None
    value = read_digits(text)
    bounds = _bounds(flow, retry.part)
    if value is None or not bounds[0] <= value <= bounds[1]:
        retry.unclear += 1
        if retry.unclear >= _MAX_UNCLEAR:
            flow.digit_retry = None
            return await flow._advance(prefix=[flow.phrases.say("value_unknown")])
        return Turn([flow.phrases.say("digits_unclear"), _ask_part(flow, retry)], "ask")
    retry.got[retry.part] = value
    retry.index += 1
    retry.skip_known()
    retry.unclear = 0
    if retry.index < len(PARTS[retry.question]):
        return Turn([_ask_part(flow, retry)], "ask")
    got = retry.got
    if retry.question == "blood_pressure" and got["systolic"] <= got["diastolic"]:
        retry.index, retry.got = 0, {}
        return Turn([flow.phrases.say("digits_unclear"), _ask_part(flow, retry)], "ask")
    flow.pending = dict(got)
    return Turn([flow._readback()], "confirm")


def on_final_value(flow: FollowupDialogue, text: str, reading_values: dict[str, float] | None) -> str | None:
    """Danger mode, a value question answered: record a value the recogniser was sure of, or read an
    unsure one back (the sentence to say). A yes to that read-back records it; a value said with the
    answer (不对，是三点二) is read back in turn, up to :data:`MAX_FINAL_READBACKS` times; anything
    else leaves it unknown. Returns the read-back sentence, or None when the flow goes on."""
    check, flow.final_check = flow.final_check, None
    if check is not None:
        if answers.is_yes(text) and not reading_values:
            flow.values.update(check.values)
            return None
        if not reading_values or check.readbacks >= MAX_FINAL_READBACKS:
            return None
        return _final_readback(flow, reading_values, check.readbacks + 1)
    if not reading_values:
        return None
    if unsure(flow.confidence):
        return _final_readback(flow, reading_values, 1)
    flow.values.update(reading_values)
    flow.unconfirmed.update(reading_values)
    return None


def _final_readback(flow: FollowupDialogue, reading_values: dict[str, float], readbacks: int) -> str:
    flow.final_check = FinalCheck(dict(reading_values), readbacks)
    flow.pending = dict(reading_values)
    return flow._readback()


def reask(flow: FollowupDialogue) -> str | None:
    """What to ask again after silence: the digits asked for, or the pending danger-mode read-back
    (None: the flow's own question)."""
    if flow.digit_retry is not None and flow.state == "ask":
        return _ask_part(flow, flow.digit_retry)
    if flow.final_check is not None:
        return flow._readback()
    return None


def _ask_part(flow: FollowupDialogue, retry: DigitRetry) -> str:
    return str(flow.phrases.say(f"ask_digits_{retry.part}"))


def _bounds(flow: FollowupDialogue, part: str) -> tuple[float, float]:
    ranges: dict[str, Any] = flow.program.ranges
    low, high = ranges[part]
    return float(low), float(high)
