"""Spoken numbers to digits with clinical units, in context.

Whisper writes a dictated value either as Chinese numerals (一百八十六) or as digits (186), and the
unit is implied by what is being measured (血压 → mmHg, 血糖 → mmol/L, 体温 → ℃). The record and
the follow-up forms need ``186/108 mmHg``, ``6.8 mmol/L``, ``38.5 ℃``, ``5 mg``. One number is
read by :mod:`medical_terms.numerals`, blood pressure's words are :mod:`medical_terms.blood_pressure`'s;
the context rules are ours and deliberately narrow: a number is rewritten only when it carries a
unit, sits right after a measured item, or is a pair that can only be a blood pressure (160比100:
systolic and diastolic ranges, no score or proportion word around). Everything else
stays as spoken, so durations (一周, 三天), frequencies (每日两次) and counts (五六趟) are kept as text.

Whisper writes some spoken values in predictable odd forms, read here for what was said: 比 as
the letter B (145B90) or as a decimal point (152.96 with mmHg, impossible for a pressure), 度 as
° (37°6), 百分之 as 白分之, and the 零 of 零点五 as a homophone (领.5).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from medical_terms.blood_pressure import (
    DECIMAL_PAIR,
    NAMED_DIASTOLIC,
    NAMED_SYSTOLIC,
    PAIR_SEPARATOR,
    PRESSURE_WORDS,
    SYSTOLIC_RANGE,
    plausible_pressure,
    run_together_pairs,
)
from medical_terms.numerals import DIGITS, to_number
from medical_terms.phonetics import syllables

_CN_NUM = rf"[{DIGITS}十百千万]+(?:点[{DIGITS}]+)?"
_AR_NUM = r"\d+(?:\.\d+)?"
NUM = rf"(?:{_AR_NUM}|{_CN_NUM})"
# After a number: no further numeral, so a regex cannot stop inside 九点六 or 186.
_NUM_END = rf"(?![\d.点{DIGITS}十百千万])"

# Spoken unit → written unit; longest spoken forms first so 毫摩尔每升 wins over 毫摩尔.
UNITS: tuple[tuple[str, str], ...] = (
    ("毫米汞柱", "mmHg"),
    ("mmHg", "mmHg"),
    ("毫摩尔每升", "mmol/L"),
    ("毫摩尔/升", "mmol/L"),
    ("毫摩每升", "mmol/L"),
    ("毫摩尔", "mmol/L"),
    ("mmol/L", "mmol/L"),
    ("微摩尔每升", "μmol/L"),
    ("微摩尔/升", "μmol/L"),
    ("微摩尔", "μmol/L"),
    ("摄氏度", "℃"),
    ("毫克", "mg"),
    ("mg", "mg"),
    ("微克", "μg"),
    ("毫升", "mL"),
    ("ml", "mL"),
    ("千克", "kg"),
    ("公斤", "kg"),
    ("kg", "kg"),
    ("个国际单位", "IU"),
    ("国际单位", "IU"),
    ("个单位", "U"),
    ("单位", "U"),
    ("次每分钟", "次/分"),
    ("次每分", "次/分"),
    ("次/分", "次/分"),
    ("厘米", "cm"),
    ("毫米", "mm"),
    ("克", "g"),
)
_UNIT_PATTERN = "|".join(re.escape(spoken) for spoken, _ in UNITS)
_UNIT_MAP = dict(UNITS)

_VALUE_HEADS = "|".join(("血压", *NAMED_SYSTOLIC, *NAMED_DIASTOLIC))  # words a pressure value follows
_SYSTOLIC_HEADS = "|".join(("血压", *NAMED_SYSTOLIC))  # words a pair written as a decimal follows
# Words that make a pair a score or a proportion, never a blood pressure.
NOT_PRESSURE_WORDS = ("比分", "比赛", "比例", "得分", "赢", "输", "队", "球", "票", "配比")
# Counters that make an Arabic number after 高压 a count, not a pressure (高压3次).
_COUNTERS = "次天个年月周岁号片粒分小"
GLUCOSE_KEYWORDS = ("血糖",)
HBA1C_KEYWORDS = ("糖化血红蛋白", "糖化")
TEMPERATURE_KEYWORDS = ("体温", "发烧", "发热", "烧到", "高烧", "低烧", "烧了")
HEART_RATE_KEYWORDS = ("心率", "脉搏", "心跳", "脉率")

# What may follow a bare value: not a character that makes the numeral part of a word
# (血压一直…, 血糖一般…), only a pause, an approximation or the next measured item.
_VALUE_END = r"(?=$|[^\u4e00-\u9fff]|[多来左的了吧啊呀低高收舒空餐体心血脉])"
# Words a caller puts between the measured item and its value: 血压是…, 空腹血糖大概…
_LINK = r"(?:是|为|有|在|大概|大约|差不多|测的|量的|测出来|量出来|：|:|，|,|\s)*"
# An approximate value keeps its marker and gets no unit: 一百五十多 → 150多.
_APPROX = r"(?:多|来)"


def _joiner(unit: str) -> str:
    """SI units take a space (5 mg); % and the Chinese 次/分 do not."""
    return "" if unit in ("%", "次/分") else " "


def _has(keywords: tuple[str, ...], *texts: str | None) -> bool:
    return any(text and any(k in text for k in keywords) for text in texts)


def _sub(pattern: str, text: str, build: Callable[[re.Match[str]], str | None]) -> str:
    def replace(match: re.Match[str]) -> str:
        built = build(match)
        return match.group(0) if built is None else built

    return re.sub(pattern, replace, text)


def _pressure_pairs(text: str, in_context: bool) -> str:
    """A比B → A/B mmHg: always in a blood-pressure context; elsewhere only a plausible pressure
    (160比100 after a misheard 血压) in a text that speaks of no score or proportion."""
    bare_allowed = not _has(NOT_PRESSURE_WORDS, text)

    def pair(m: re.Match[str]) -> str | None:
        high, low = to_number(m["high"]), to_number(m["low"])
        if high is None or low is None:
            return None
        if not in_context and not (bare_allowed and plausible_pressure(high, low)):
            return None
        return f"{high}/{low} mmHg"

    return _sub(
        rf"(?<![\d.])(?P<high>{NUM})\s*{PAIR_SEPARATOR}\s*(?P<low>{NUM}){_NUM_END}\s*(?:毫米汞柱|mmHg)?", text, pair
    )


def _decimal_pressures(text: str) -> str:
    """152.96 in mmHg, or right after 血压, is 152/96: pressures have no decimals, so Whisper wrote
    the spoken 比 as a decimal point. Only when both halves are a plausible pair."""

    def build(m: re.Match[str]) -> str | None:
        if not (m["head"] or m["unit"]) or not plausible_pressure(m["high"], m["low"]):
            return None
        return f"{m['head'] or ''}{m['high']}/{m['low']} mmHg"

    return _sub(
        rf"(?P<head>(?:{_SYSTOLIC_HEADS}){_LINK})?{DECIMAL_PAIR}\s*(?P<unit>毫米汞柱|mmHg)?",
        text,
        build,
    )


def _pressure_value(spoken: str) -> str | None:
    """One spoken pressure as written digits with its unit, or the pair two pressures said without a pause
    make (一六八九五 → 168/95 mmHg, not 16895); ``None`` for anything else (no value past 300 is written)."""
    value = to_number(spoken)
    if value is not None and "." not in value and float(value) <= SYSTOLIC_RANGE[1] + 40:
        return f"{value} mmHg"
    pairs = run_together_pairs(spoken)
    exact = [(high, low) for high, low in pairs if high.exact and low.exact]
    if len(pairs) == 1 and exact:
        high, low = exact[0]
        return f"{high.low:g}/{low.low:g} mmHg"
    return None


def _blood_pressure(text: str, context: str | None) -> str:
    in_context = _has(PRESSURE_WORDS, text, context)
    text = _pressure_pairs(text, in_context)
    if not in_context:
        return text
    text = _decimal_pressures(text)

    def single(m: re.Match[str]) -> str | None:
        suffix = m["approx"] or ""
        if suffix:
            value = to_number(m["value"])
            return None if value is None or "." in value else f"{m['head']}{value}{suffix}"
        written = _pressure_value(m["value"])  # a pressure has no decimals: 142.8 is a misheard pair
        return None if written is None else f"{m['head']}{written}"

    # Digits are a value whatever follows but a counter (高压130滴… with 低 misheard); a spoken
    # numeral only before a pause or the next item (血压一直… is no value).
    value_end = rf"(?:(?<=\d)(?![{_COUNTERS}])(?!\s*(?!毫米汞柱)(?:{_UNIT_PATTERN}))|{_VALUE_END})"
    return _sub(
        rf"(?P<head>(?:{_VALUE_HEADS}){_LINK})(?P<value>{NUM}){_NUM_END}(?!\s*{PAIR_SEPARATOR}\s*{NUM}){value_end}"
        rf"(?P<approx>{_APPROX})?(?:\s*(?:毫米汞柱|mmHg))?",
        text,
        single,
    )


def _measured_value(text: str, keywords: tuple[str, ...], unit: str) -> str:
    """A bare value right after a measured item gets that item's unit (血糖六点八 → 血糖6.8 mmol/L)."""
    heads = "|".join(re.escape(k) for k in keywords)

    def build(m: re.Match[str]) -> str | None:
        value = to_number(m["value"])
        if value is None:
            return None
        if m["approx"]:
            return f"{m['head']}{value}{m['approx']}"
        return f"{m['head']}{value}{_joiner(unit)}{unit}"

    return _sub(
        rf"(?P<head>(?:{heads}){_LINK})(?P<value>{NUM}){_NUM_END}"
        rf"(?!\s*(?:{_UNIT_PATTERN}|%|℃|度|比|/)){_VALUE_END}(?P<approx>{_APPROX})?",
        text,
        build,
    )


def _temperature(text: str, context: str | None) -> str:
    in_context = _has(TEMPERATURE_KEYWORDS, text, context)

    def build(m: re.Match[str]) -> str | None:
        whole = to_number(m["whole"])
        if whole is None:
            return None
        tenth = m["tenth"]
        if tenth and "." in whole:
            return None  # 三十七点五度六 (37.5°6) has two fractions: no temperature to write; it raised ValueError
        value = f"{whole}.{to_number(tenth)}" if tenth else whole
        # 度 is also a grade (二度房室传导阻滞, 三度烧伤): only body temperatures become ℃.
        plausible = 30 <= float(value) <= 45 if in_context else 35 <= float(value) <= 42
        if not plausible:
            return None
        return f"{value} ℃"

    return _sub(
        rf"(?P<whole>{NUM})\s*(?:摄氏度|度|℃|°C|°)(?P<tenth>[{DIGITS}]|\d)?(?![{DIGITS}十百\d])",
        text,
        build,
    )


def _percent(text: str) -> str:
    """百分之八点二 → 8.2%; also 白分之, as Whisper often writes the bai of 百分之."""

    def build(m: re.Match[str]) -> str | None:
        value = to_number(m["value"])
        return None if value is None else f"{value}%"

    return _sub(rf"[百白]分之(?P<value>{NUM})", text, build)


def _zero_homophones(text: str) -> str:
    """领.5 → 0.5: Whisper writes the 零 of 零点五 as a homophone (领, 令) before the digits it
    heard; a character read ling right before a decimal point can only be that zero."""

    def build(m: re.Match[str]) -> str | None:
        return "0" if syllables(m[0]) == ("ling",) else None

    return _sub(r"(?<![\d.])[\u4e00-\u9fff](?=\.\d)", text, build)


def _units(text: str) -> str:
    def build(m: re.Match[str]) -> str | None:
        value = to_number(m["value"])
        if value is None:
            return None
        unit = _UNIT_MAP[m["unit"]]
        return f"{value}{_joiner(unit)}{unit}"

    return _sub(rf"(?P<value>{NUM})\s*(?P<unit>{_UNIT_PATTERN})", text, build)


def _bare_answer(text: str, context: str | None) -> str:
    """A caller answering 'what was your blood sugar?' with just 六点八 gets the asked unit."""
    if not context:
        return text
    topics = (
        (GLUCOSE_KEYWORDS, "mmol/L"),
        (HBA1C_KEYWORDS, "%"),
        (HEART_RATE_KEYWORDS, "次/分"),
        (PRESSURE_WORDS, "mmHg"),
    )
    unit = next((u for keywords, u in topics if _has(keywords, context)), None)
    match = re.fullmatch(rf"(?P<lead>{_LINK}|大概|大约|差不多)(?P<value>{NUM})(?P<tail>[。！!，,吧啊呀左右\s]*)", text)
    if unit is None or match is None:
        return text
    if unit == "mmHg":
        written = _pressure_value(match["value"])
        return text if written is None else f"{match['lead']}{written}{match['tail']}"
    value = to_number(match["value"])
    if value is None:
        return text
    return f"{match['lead']}{value}{_joiner(unit)}{unit}{match['tail']}"


def normalize_numbers(text: str, context: str | None = None) -> str:
    """Rewrite measured values as digits with units; leave durations, frequencies and counts spoken.

    Args:
        text: One final transcript (simplified Chinese, numerals spoken or written).
        context: What the caller is answering (the agent's last question or the flow's topic,
            e.g. ``"您最近量的血压是多少？"``); its keywords let a bare value take a unit.

    Returns:
        The text with 一百八十六比一百零八 → ``186/108 mmHg`` (blood-pressure context),
        空腹血糖六点八 → ``空腹血糖6.8 mmol/L``, 三十八度五 → ``38.5 ℃``, 五毫克 → ``5 mg``,
        百分之八点二 → ``8.2%``; 每日两次 and 一周 unchanged.
    """
    text = _zero_homophones(text)
    text = _bare_answer(text, context)
    text = _blood_pressure(text, context)
    text = _percent(text)
    text = _temperature(text, context)
    text = _units(text)
    text = _measured_value(text, HBA1C_KEYWORDS, "%")
    text = _measured_value(text, GLUCOSE_KEYWORDS, "mmol/L")
    return _measured_value(text, HEART_RATE_KEYWORDS, "次/分")
