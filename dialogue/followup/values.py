"""Measured values from colloquial answers: blood pressure, fasting glucose, heart rate, weight.

Callers say "高压一百四十六低压九十二", "一百七十五、一百一十二", "空腹六点八", "146/92" (after number
normalisation) or "七点多". A reading is either exact (:class:`Reading` with ``status="ok"``) or it is
not, and then the flow asks again: approximate ("七点多", "一百四左右"), incomplete (one BP number),
out of range, or missing. Nothing here guesses. A self-correction inside one answer ("一百五，不对，
一百四十五") keeps only what follows the last correction cue.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from medical_terms import DIGITS, NUMERAL, RANGE_DIGITS, parse_number, spoken_number
from medical_terms.blood_pressure import (
    DECIMAL_PAIR,
    DIASTOLIC_RANGE,
    DIASTOLIC_WORDS,
    MIN_PULSE_PRESSURE,
    PAIR_SEPARATOR,
    SYSTOLIC_RANGE,
    SYSTOLIC_WORDS,
    run_together_pairs,
)
from medical_terms.numerals import Amount, spoken_amounts

_APPROX_NUMBER = re.compile(rf"[{DIGITS}十百0-9]+点?多|[{DIGITS}十0-9]点几|[{DIGITS}]十几|[{DIGITS}十百]+[{RANGE_DIGITS}]{{2}}(?![{DIGITS}十百点])"
                            rf"|{NUMERAL}\s*(?:多|几|来|左右|上下|出头)")
# A self-correction: what follows the last cue is the answer ("一百五，不对，一百四十五"; "六点八，哦是六点四").
_CORRECTION = re.compile(
    r"不对|不是|说错了|错了|应该是|哦不|我看错了|看错了|记错了|搞错了|重说|我是说|是说|其实是|准确(?:地|的)?说"
    r"|(?:哦|噢|喔|啊|呃|嗯)[，,、\s]?(?:是|不)(?!是不)"
)
# Numbers that are not the reading: times of day, durations, counts, doses.
_NOT_A_READING = re.compile(
    rf"{NUMERAL}\s*(?:点钟|点半|点多钟|点多?(?=测|量|起|吃|的时候)|天|年|岁|个月|月|周|星期|礼拜|片|粒|顿|支|小时|分钟|号|床|楼|回|趟|遍|口)"
)
_COUNT = re.compile(rf"{NUMERAL}\s*次(?!/分)")  # "量了两次"; but a heart rate is "八十次"
_UNIT = re.compile(r"(?<=[0-9])\s*(?:mmHg|mmol/L|kg|次/分|bpm)|毫米汞柱|毫摩尔(?:每升)?")
_ANY_NUMBER = re.compile(NUMERAL)
_DECIMAL_PAIR = re.compile(DECIMAL_PAIR)
_JIN = re.compile(rf"({NUMERAL})\s*斤")
_KG = re.compile(rf"({NUMERAL})\s*(?:公斤|千克|kg)")
# Words that tell when a reading was taken: a number after another time than now (a reading after a
# meal, last week's) does not count when the answer also has one told as now or with no time.
_WHEN = re.compile(r"(?P<other>餐后|饭后|吃完饭|吃了饭|睡前|随机|上次|上回|昨天|昨儿|前天|上礼拜|上周|上个月|以前|之前|平时)"
                   r"|(?P<now>今天|今早|今儿|刚才|刚刚|刚测|现在|这次|这回|最近一次|最新)")
# Words that make the next number another item's value, not the one asked.
_OTHER_ITEMS = {
    "blood_pressure": r"心率|心跳|脉搏|血糖|体重|体温|斤|公斤",
    "glucose": r"血压|高压|低压|心率|心跳|脉搏|体重|体温|餐后|饭后|糖化",
    "heart_rate": r"血压|高压|低压|血糖|体重|体温",
}
# Words that introduce a reading: in a rambling answer the reading is what follows the last of them
# (我今年七十三了，早上量的一百四十，九十).
_MEASURING = re.compile(r"量|测|显示|写的|写着|打出来|读数|屏幕上|机器上|仪器上|表上")
# What a meter shows off its scale instead of a number.
_OFF_SCALE_HIGH = re.compile(r"(?<![A-Za-z])(?:H\s?I|Hi|hi|High|HIGH)(?![A-Za-z])|爆表|高得测不出|测不出来?(?:的)?高")
_OFF_SCALE_LOW = re.compile(r"(?<![A-Za-z])(?:L\s?O|Lo|lo|Low|LOW)(?![A-Za-z])|低得测不出")
# 七块二: a decimal said the way prices are (块 for 点), between two digits only.
_PRICE_DECIMAL = re.compile(rf"(?<=[{DIGITS}十])块(?=[{DIGITS}](?![{DIGITS}十百]))")
# A lone 一 or 两 running into a word (一直, 一下, 两口子) is no value.
_WORD_AFTER_SINGLE = re.compile(r"[\u4e00-\u9fff]")
_VALUE_WORDS_AFTER = "斤公次下毫点多几来左右上出以吧啊呀呢嘛哦"


@dataclass(frozen=True)
class Reading:
    """The outcome of reading one value from an answer.

    Parameters:
        status: ``ok``; ``approximate`` (一百八十几, 七点多, 快两百), ``off_scale`` (the meter shows HI or
            LO), ``ambiguous`` (two readings, or words that allow two), ``incomplete`` (one of two BP
            numbers), ``out_of_range``, ``unit`` (a weight without a unit) or ``missing``.
        values: The numbers read (``systolic``/``diastolic``, ``glucose``, ``heart_rate``, ``weight``)
            when ``status == "ok"``; for ``incomplete``, the half that was said exactly.
        bounds: For ``approximate`` and ``off_scale``: what each value can be at least and at most, for
            the danger criteria (一百八十几 is past 180 whatever its last digit); never recorded.
        alternatives: ``ok``, but the words also allow another reading (一百四十八九十: 148/90, or 140 and
            80 to 90): read back and confirmed before it is recorded, never stored unconfirmed.
    """

    status: str
    values: dict[str, float]
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    alternatives: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _after_last_correction(text: str) -> str:
    cues = list(_CORRECTION.finditer(text))
    for cue in reversed(cues):
        tail = text[cue.end():]
        if _ANY_NUMBER.search(tail):
            return tail
    return text


def _clean(text: str, counts_are_readings: bool = False) -> str:
    text = _NOT_A_READING.sub("，", _after_last_correction(text))
    return text if counts_are_readings else _COUNT.sub("，", text)


def _amounts(text: str, item: str) -> list[Amount]:
    """The numbers of an answer that may be the reading of ``item``, in order: not a lone 一 running into
    a word, not another item's value, not a number told as another time's when the answer also has one
    told as now, and not a false start the caller restarted and completed (六，六点七: 6.7)."""
    found = []
    previous_end = 0
    for amount in spoken_amounts(text):
        following = text[amount.end:amount.end + 1]
        lone = len(amount.text) == 1 and not amount.text.isdigit()
        if lone and _WORD_AFTER_SINGLE.match(following) and following not in _VALUE_WORDS_AFTER:
            continue
        if re.search(_OTHER_ITEMS[item], text[previous_end:amount.start]):
            previous_end = amount.end
            continue
        previous_end = amount.end
        found.append(amount)
    now = [a for a in found if not _told_of_another_time(text, a)]
    if now and len(now) < len(found):
        found = now
    kept: list[Amount] = []
    for amount in found:
        if kept and _restarts(kept[-1], amount, text):
            kept.pop()
        kept.append(amount)
    return kept


def _told_of_another_time(text: str, amount: Amount) -> bool:
    """The last time word before ``amount`` names another time than now (昨天一百六，一百，今天…)."""
    times = list(_WHEN.finditer(text, 0, amount.start))
    return bool(times) and times[-1]["other"] is not None


def _restarts(first: Amount, second: Amount, text: str) -> bool:
    """``second`` repeats ``first`` and goes on (六，六点七; 一百四，一百四十五): a false start."""
    between = text[first.end:second.start]
    # A pair separator (一百比一百零一, 100/101) says two numbers, however alike: no false start.
    return (second.text.startswith(first.text) and len(second.text) > len(first.text)
            and not re.search(r"[\u4e00-\u9fff]{2,}", between) and not re.search(PAIR_SEPARATOR, between))


def _measured(text: str, amounts: list[Amount], wanted: int) -> list[Amount]:
    """More numbers than a reading has: those after the last measuring word that ``wanted`` or more
    numbers follow (an age or a story before 量的 is no reading); else all of them, for the caller to
    find ambiguous."""
    if len(amounts) <= wanted:
        return amounts
    for word in reversed(list(_MEASURING.finditer(text))):
        after = [a for a in amounts if a.start >= word.end()]
        if len(after) >= wanted:
            return after if len(after) < len(amounts) else amounts
    return amounts


def _in(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


_Half = tuple[float, float, bool]  # low, high, exact


def _label(text: str, start: int, end: int) -> str | None:
    """``systolic`` or ``diastolic`` when the last half-naming word between ``start`` and ``end`` says so."""
    span = text[start:end]
    best: tuple[int, str] | None = None
    for name, words in (("systolic", SYSTOLIC_WORDS), ("diastolic", DIASTOLIC_WORDS)):
        for word in words:
            at = span.rfind(word)
            if at >= 0 and (best is None or at > best[0]):
                best = (at, name)
    return best[1] if best else None


def read_blood_pressure(text: str, ranges: dict[str, tuple[float, float]]) -> Reading:
    """Systolic and diastolic mmHg from one answer: labelled (高压一百四十六低压九十二), paired (146/92,
    一百四十六，九十二), run together (一八五一百一, 一六八九五) or approximate (一百八十几, 快两百)."""
    # ASR writes a spoken pair as one decimal ("146.92"): no BP reading has a decimal part.
    text = _DECIMAL_PAIR.sub(r"\g<high>/\g<low>", _clean(text))
    halves: list[tuple[str | None, _Half]] = []
    alternatives = False
    previous_end = 0
    for amount in _measured(text, _amounts(text, "blood_pressure"), 2):
        label = _label(text, previous_end, amount.start)
        previous_end = amount.end
        run_on = math.isnan(amount.low) or amount.low > SYSTOLIC_RANGE[1]
        pairs = run_together_pairs(amount.text) if run_on else []
        if pairs:
            exact = [p for p in pairs if p[0].exact and p[1].exact]
            if len(exact) > 1 or (not exact and len(pairs) > 1):
                return Reading("ambiguous", {})
            upper, lower = exact[0] if exact else pairs[0]
            alternatives = alternatives or len(pairs) > 1
            halves += [("systolic", (upper.low, upper.high, upper.exact)),
                       ("diastolic", (lower.low, lower.high, lower.exact))]
        elif math.isnan(amount.low):
            return Reading("ambiguous", {})  # words that are no number said one way (一百一十，七八)
        else:
            halves.append((label, (amount.low, amount.high, amount.exact)))
    named: dict[str, _Half] = {}
    for label, half in halves:
        if label and label not in named:
            named[label] = half
    unnamed = [half for label, half in halves if not label]
    if not named and len(unnamed) == 3 and _monitor_order(unnamed):  # 一百四十五，九十，七十二: SYS, DIA, PULSE
        unnamed = unnamed[:2]
    for name in ("systolic", "diastolic"):
        if name not in named and unnamed:
            named[name] = unnamed.pop(0)
    if unnamed:  # more numbers than halves, no correction between them: which pair is meant?
        return Reading("ambiguous", {})
    if not named:
        return Reading("missing", {})
    if len(named) == 1:
        name, (least, most, said_exactly) = next(iter(named.items()))
        if not said_exactly:
            return Reading("approximate", {}, bounds={name: (least, most)})
        return Reading("incomplete", {name: least} if _in(least, ranges[name]) else {})
    (s_low, s_high, s_exact), (d_low, d_high, d_exact) = named["systolic"], named["diastolic"]
    if not (s_exact and d_exact):
        return Reading("approximate", {}, bounds={"systolic": (s_low, s_high), "diastolic": (d_low, d_high)})
    if not (_in(s_low, ranges["systolic"]) and _in(d_low, ranges["diastolic"])) or s_low <= d_low:
        return Reading("out_of_range", {})
    return Reading("ok", {"systolic": s_low, "diastolic": d_low}, alternatives=alternatives)


def complete_blood_pressure(known: dict[str, float], text: str, ranges: dict[str, tuple[float, float]]) -> Reading:
    """An answer that gives the half of a reading an earlier answer lacked (高压一百八十一 / 低压九十七;
    上面那个一百六十三 / 下面那个九十九; or the other number alone): the pair, checked as one reading."""
    reading = read_blood_pressure(text, ranges)
    if reading.status != "incomplete" or not reading.values:
        return reading
    ((name, value),) = reading.values.items()
    if name in known and _label(_clean(text), 0, len(text)) is None:  # unlabelled: the half still missing
        name = "diastolic" if name == "systolic" else "systolic"
    pair = {**known, name: value}
    if len(pair) < 2:
        return Reading("incomplete", pair)
    if pair["systolic"] <= pair["diastolic"]:
        return Reading("out_of_range", {})
    return Reading("ok", {"systolic": pair["systolic"], "diastolic": pair["diastolic"]})


def _monitor_order(said: list[_Half]) -> bool:
    """Three exact numbers read off a monitor in its order: a systolic/diastolic pair, then a pulse; a
    second number of 130 or more is no usual diastolic (一百六十，一百四十，九十 stays ambiguous)."""
    if not all(exact for _, _, exact in said):
        return False
    (first, _, _), (second, _, _), (third, _, _) = said

    def pair(high: float, low: float) -> bool:
        return (SYSTOLIC_RANGE[0] <= high <= SYSTOLIC_RANGE[1] and DIASTOLIC_RANGE[0] <= low <= DIASTOLIC_RANGE[1]
                and high - low >= MIN_PULSE_PRESSURE)

    return pair(first, second) and second < 130 and 30 <= third <= 180


def read_blood_pressure_part(text: str, ranges: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Only the labelled half of a correction ("不对，低压是八十二" -> diastolic 82), when exact and in range."""
    text = _clean(text)
    found: dict[str, float] = {}
    previous_end = 0
    for amount in _amounts(text, "blood_pressure"):
        label = _label(text, previous_end, amount.start)
        previous_end = amount.end
        if label and label not in found and amount.exact and _in(amount.low, ranges[label]):
            found[label] = amount.low
    return found


def _single(text: str, name: str, bounds: tuple[float, float], decimals: bool) -> Reading:
    high_off, low_off = _OFF_SCALE_HIGH.search(text), _OFF_SCALE_LOW.search(text)
    text = _clean(text, counts_are_readings=name == "heart_rate")
    if decimals:
        text = _PRICE_DECIMAL.sub("点", text)
    amounts = _amounts(text, name)
    plausible = [a for a in amounts if math.isnan(a.low) or a.high >= bounds[0] and a.low <= bounds[1]]
    amounts = _measured(text, plausible or amounts, 1)
    if not amounts and (high_off or low_off):  # HI / LO on the meter: past its scale, no number
        off = (bounds[1], math.inf) if high_off and not low_off else (-math.inf, bounds[0])
        return Reading("off_scale", {}, bounds={name: off} if not (high_off and low_off) else {})
    if not amounts:
        return Reading("missing", {})
    said = list(dict.fromkeys((a.low, a.high, a.exact) for a in amounts))
    if len(said) > 1 and _CORRECTION.search(text):
        said = said[-1:]
    if len(said) > 1:
        return Reading("ambiguous", {})
    low, high, exact = said[0]
    if not exact:
        return Reading("approximate", {}, bounds={name: (low, high)})
    if not decimals and low != int(low):
        return Reading("out_of_range", {})
    if not _in(low, bounds):
        return Reading("out_of_range", {})
    return Reading("ok", {name: low})


def read_glucose(text: str, bounds: tuple[float, float]) -> Reading:
    """Fasting glucose in mmol/L ("空腹六点八", "早上测的十七点五", "6.8 mmol/L", "HI")."""
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
    return Reading("unit", {}) if _ANY_NUMBER.search(cleaned) else Reading("missing", {})


spoken = spoken_number
"""A value as Mandarin words for the read-back ("146" -> "一百四十六", 6.8 -> "六点八")."""


def strip_units(text: str) -> str:
    """``text`` without measurement units (normalised ASR output carries "146/92 mmHg")."""
    return _UNIT.sub("", text)
