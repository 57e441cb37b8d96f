"""Blood pressure as callers say it: the words, the patterns and the plausible values, in one place.

A caller labels the halves (高压一百四十六低压九十二, 上面的一百五), says a pair (146比92, 146/92, Whisper's
145B90 or 146.92) or only a value after 血压. The number normaliser (:mod:`medical_terms.numbers`),
the dialogue's vital signs and the follow-up answers all read blood pressure with these words and
patterns; :func:`read_blood_pressure` is the lenient reading of free speech the safety rules and
triage use.
"""

from __future__ import annotations

import re

from medical_terms.numerals import DIGITS, NUMERAL, NUMERAL_END, Amount, parse_number, two_way_splits

NAMED_SYSTOLIC = ("高压", "收缩压")
NAMED_DIASTOLIC = ("低压", "舒张压")
"""Words that name one half of a reading wherever they stand."""

SYSTOLIC_WORDS = (*NAMED_SYSTOLIC, "上压", "上面的", "上面", "上边的", "上边")
DIASTOLIC_WORDS = (*NAMED_DIASTOLIC, "下压", "下面的", "下面", "下边的", "下边")
"""Words that label a half when a value follows them closely (上面的 is the upper value a monitor shows)."""

PRESSURE_WORDS = ("血压", *NAMED_SYSTOLIC, *NAMED_DIASTOLIC, "毫米汞柱", "mmHg")
"""Words that make a text speak of blood pressure."""

MEASURED_WORDS = ("量的", "量了")
"""A caller's home measurement: a pair after them is read as a pressure, but they give no unit to a
bare value (量的体温 is a temperature), so the normaliser does not count them."""

PAIR_SEPARATOR = r"(?:比|/|／|B|b)"
"""Between systolic and diastolic as said or written; Whisper writes a spoken 比 as the letter B."""

DECIMAL_PAIR = r"(?<![\d.])(?P<high>\d{2,3})\.(?P<low>\d{2,3})(?![\d.])"
"""146.92: a spoken pair Whisper wrote as one decimal (no pressure has a decimal part)."""

# Between a label and its value: a few words, but no other number and no end of a clause.
_LABEL_GAP = rf"[^0-9{DIGITS}十百，。,；;？?！!]{{0,3}}"
SYSTOLIC = re.compile(rf"(?:{'|'.join(SYSTOLIC_WORDS)}){_LABEL_GAP}({NUMERAL})")
DIASTOLIC = re.compile(rf"(?:{'|'.join(DIASTOLIC_WORDS)}){_LABEL_GAP}({NUMERAL})")
"""A labelled half; group 1 is its numeral."""

SYSTOLIC_RANGE = (70, 260)
DIASTOLIC_RANGE = (40, 160)
MIN_PULSE_PRESSURE = 10
"""Where a pair no word calls a blood pressure is still read as one (whole numbers only)."""

# What a value read from free speech may be at all; outside, it was misheard (an ASR slip must
# not invent a crisis or hide one).
_READ_SYSTOLIC = (60, 300)
_READ_DIASTOLIC = (30, 200)
_NOT_NUM = rf"[^0-9{DIGITS}十百，。,；;？?！!]"
_SPOKEN_PAIR = re.compile(rf"({NUMERAL})\s*(?:{PAIR_SEPARATOR}|over|到|、|，|,|\s)\s*({NUMERAL})")
_AFTER_BLOOD_PRESSURE = re.compile(
    rf"血压(?:{_NOT_NUM}){{0,4}}({NUMERAL}){NUMERAL_END}(?!\s*(?:{PAIR_SEPARATOR}|over|、|，|,))"
)


def speaks_of_pressure(*texts: str | None) -> bool:
    """Whether any of ``texts`` has one of :data:`PRESSURE_WORDS`."""
    return any(text and any(word in text for word in PRESSURE_WORDS) for text in texts)


def plausible_pressure(high: str, low: str) -> bool:
    """Whether ``high``/``low`` (digits) can be a systolic/diastolic pair: whole numbers in range,
    the first higher by a pulse pressure. 160比100 is one; 3比2, 100比98 and 6.5/3 are not."""
    if not (high.isdigit() and low.isdigit()):
        return False
    systolic, diastolic = int(high), int(low)
    return (
        SYSTOLIC_RANGE[0] <= systolic <= SYSTOLIC_RANGE[1]
        and DIASTOLIC_RANGE[0] <= diastolic <= DIASTOLIC_RANGE[1]
        and systolic - diastolic >= MIN_PULSE_PRESSURE
    )


def run_together_pairs(run: str) -> list[tuple[Amount, Amount]]:
    """The readings of ``run``, two pressures said without a pause, that can be a systolic/diastolic
    pair (一八五一百一 → 185/110, 一六八九五 → 168/95, 一百四九十 → 140/90). More than one means the words
    alone do not decide (一百四十八九十: 148/90, or 140 and 80 to 90)."""
    pairs = []
    for high, low in two_way_splits(run):
        fits = (SYSTOLIC_RANGE[0] <= high.low and high.high <= SYSTOLIC_RANGE[1]
                and DIASTOLIC_RANGE[0] <= low.low and low.high <= DIASTOLIC_RANGE[1]
                and high.low - low.high >= MIN_PULSE_PRESSURE)
        if fits:
            pairs.append((high, low))
    return pairs


def read_blood_pressure(text: str) -> tuple[float | None, float | None]:
    """(systolic, diastolic) in mmHg from free speech: "高压一百九十，低压一百一十五", "155/95",
    "血压一百八"; the first plausible value of each, ``None`` for a half not said."""
    systolic = _first_in_range(SYSTOLIC, text, _READ_SYSTOLIC)
    diastolic = _first_in_range(DIASTOLIC, text, _READ_DIASTOLIC)
    measured = speaks_of_pressure(text) or any(word in text for word in MEASURED_WORDS)
    if systolic is None and diastolic is None and measured:
        for match in _SPOKEN_PAIR.finditer(text):
            high = _in_range(parse_number(match.group(1)), _READ_SYSTOLIC)
            low = _in_range(parse_number(match.group(2)), _READ_DIASTOLIC)
            if high is not None and low is not None and high > low:
                return high, low
        systolic = _first_in_range(_AFTER_BLOOD_PRESSURE, text, _READ_SYSTOLIC)
    return systolic, diastolic


def _in_range(value: float | None, bounds: tuple[float, float]) -> float | None:
    return value if value is not None and bounds[0] <= value <= bounds[1] else None


def _first_in_range(pattern: re.Pattern[str], text: str, bounds: tuple[float, float]) -> float | None:
    for match in pattern.finditer(text):
        value = _in_range(parse_number(match.group(1)), bounds)
        if value is not None:
            return value
    return None
