"""Measured values from colloquial answers: blood pressure, fasting glucose, heart rate, weight.

Callers say "高压一百四十六低压九十二", "一百七十五、一百一十二", "空腹六点八", "146/92" (after number
normalisation) or "七点多". A reading is either exact (:class:`Reading` with ``status="ok"``) or it is
not, and then the flow asks again: approximate ("七点多", "一百四左右"), incomplete (one BP number),
out of range, or missing. Nothing here guesses. A self-correction inside one answer ("一百五，不对，
一百四十五") keeps only what follows the last correction cue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from medical_terms import DIGITS, NUMERAL, RANGE_DIGITS, parse_number, spoken_number
from medical_terms.blood_pressure import DECIMAL_PAIR, DIASTOLIC, SYSTOLIC

_APPROX_AFTER = r"(?:多|几|来|左右|上下|出头)"
_APPROX_NUMBER = re.compile(rf"[{DIGITS}十百0-9]+点?多|[{DIGITS}十0-9]点几|[{DIGITS}]十几|[{DIGITS}十百]+[{RANGE_DIGITS}]{{2}}(?![{DIGITS}十百点])"
                            rf"|{NUMERAL}\s*{_APPROX_AFTER}")
_CORRECTION = re.compile(r"不对|不是|说错了|错了|应该是|哦不|我看错了|重说")
# Numbers that are not the reading: times of day, durations, counts, doses.
_NOT_A_READING = re.compile(
    rf"{NUMERAL}\s*(?:点钟|点半|点多钟|点多?(?=测|量|起|吃|的时候)|天|年|岁|个月|月|周|星期|片|粒|顿|支|小时|分钟|号|床|楼)"
)
_COUNT = re.compile(rf"{NUMERAL}\s*次(?!/分)")  # "量了两次"; but a heart rate is "八十次"
_UNIT = re.compile(r"(?<=[0-9])\s*(?:mmHg|mmol/L|kg|次/分|bpm)|毫米汞柱|毫摩尔(?:每升)?")
_ANY_NUMBER = re.compile(NUMERAL)
_DECIMAL_PAIR = re.compile(DECIMAL_PAIR)
_JIN = re.compile(rf"({NUMERAL})\s*斤")
_KG = re.compile(rf"({NUMERAL})\s*(?:公斤|千克|kg)")


@dataclass(frozen=True)
class Reading:
    """The outcome of reading one value from an answer.

    Parameters:
        status: ``ok``, ``approximate``, ``incomplete`` (one of two BP numbers), ``out_of_range``,
            ``unit`` (a weight without a unit) or ``missing``.
        values: The numbers read (``systolic``/``diastolic``, ``glucose``, ``heart_rate``, ``weight``);
            only meaningful when ``status == "ok"``.
    """

    status: str
    values: dict[str, float]

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _after_last_correction(text: str) -> str:
    cues = list(_CORRECTION.finditer(text))
    if cues:
        tail = text[cues[-1].end():]
        if _ANY_NUMBER.search(tail):
            return tail
    return text


def _clean(text: str, counts_are_readings: bool = False) -> str:
    text = _NOT_A_READING.sub("，", _after_last_correction(text))
    return text if counts_are_readings else _COUNT.sub("，", text)


def _numbers(text: str) -> list[float]:
    found = []
    for match in _ANY_NUMBER.finditer(text):
        value = parse_number(match.group())
        if value is not None:
            found.append(value)
    return found


def _in(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def read_blood_pressure(text: str, ranges: dict[str, tuple[float, float]]) -> Reading:
    """Systolic and diastolic mmHg from one answer (labelled, paired, or "146/92 mmHg")."""
    # ASR writes a spoken pair as one decimal ("146.92"): no BP reading has a decimal part.
    text = _DECIMAL_PAIR.sub(r"\g<high>/\g<low>", _clean(text))
    if _APPROX_NUMBER.search(text):
        return Reading("approximate", {})
    labelled_high = SYSTOLIC.search(text)
    labelled_low = DIASTOLIC.search(text)
    if labelled_high or labelled_low:
        high = parse_number(labelled_high.group(1)) if labelled_high else None
        low = parse_number(labelled_low.group(1)) if labelled_low else None
        if high is None or low is None:
            others = [n for n in _numbers(text) if n not in (high, low)]
            if high is None and others:
                high = others[0]
            elif low is None and others:
                low = others[-1]
    else:
        numbers = _numbers(text)
        if len(numbers) >= 2:
            high, low = numbers[0], numbers[1]
        else:
            high, low = (numbers[0] if numbers else None), None
    if high is None and low is None:
        return Reading("missing", {})
    if high is None or low is None:
        return Reading("incomplete", {})
    if not (_in(high, ranges["systolic"]) and _in(low, ranges["diastolic"])) or high <= low:
        return Reading("out_of_range", {})
    return Reading("ok", {"systolic": high, "diastolic": low})


def read_blood_pressure_part(text: str, ranges: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Only the labelled half of a correction ("不对，低压是八十二" -> diastolic 82), when in range."""
    text = _clean(text)
    found = {}
    for name, pattern in (("systolic", SYSTOLIC), ("diastolic", DIASTOLIC)):
        match = pattern.search(text)
        value = parse_number(match.group(1)) if match else None
        if value is not None and _in(value, ranges[name]) and not _APPROX_NUMBER.search(text):
            found[name] = value
    return found


def _single(text: str, name: str, bounds: tuple[float, float], decimals: bool) -> Reading:
    text = _clean(text, counts_are_readings=name == "heart_rate")
    if _APPROX_NUMBER.search(text):
        return Reading("approximate", {})
    numbers = _numbers(text)
    if not numbers:
        return Reading("missing", {})
    value = numbers[-1] if len(numbers) > 1 and _CORRECTION.search(text) else numbers[0]
    if not decimals and value != int(value):
        return Reading("out_of_range", {})
    if not _in(value, bounds):
        return Reading("out_of_range", {})
    return Reading("ok", {name: value})


def read_glucose(text: str, bounds: tuple[float, float]) -> Reading:
    """Fasting glucose in mmol/L ("空腹六点八", "早上测的十七点五", "6.8 mmol/L")."""
    return _single(text, "glucose", bounds, decimals=True)


def read_heart_rate(text: str, bounds: tuple[float, float]) -> Reading:
    """Beats per minute ("七十八", "一分钟八十次")."""
    return _single(text, "heart_rate", bounds, decimals=False)


def read_weight(text: str, bounds: tuple[float, float]) -> Reading:
    """Body weight in kg; 斤 are halved; a bare number is asked again for its unit."""
    cleaned = _after_last_correction(text)
    if _APPROX_NUMBER.search(cleaned):
        return Reading("approximate", {})
    for pattern, factor in ((_KG, 1.0), (_JIN, 0.5)):
        match = pattern.search(cleaned)
        if match:
            value = parse_number(match.group(1))
            if value is None:
                return Reading("missing", {})
            kg = round(value * factor, 1)
            return Reading("ok", {"weight": kg}) if _in(kg, bounds) else Reading("out_of_range", {})
    return Reading("unit", {}) if _numbers(cleaned) else Reading("missing", {})


spoken = spoken_number
"""A value as Mandarin words for the read-back ("146" -> "一百四十六", 6.8 -> "六点八")."""


def strip_units(text: str) -> str:
    """``text`` without measurement units (normalised ASR output carries "146/92 mmHg")."""
    return _UNIT.sub("", text)
