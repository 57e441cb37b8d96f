"""Measured values a caller reads out: blood pressure, glucose, heart rate, temperature.

Shared by the safety rules (thresholds), the triage slots and the follow-up flows. Values outside
physiological ranges are dropped rather than trusted (an ASR slip must not invent a crisis or hide one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dialogue.numbers import NUMERAL, parse_number

_N = f"({NUMERAL})"
_NOT_NUM = r"[^0-9零〇一二两三四五六七八九十百，。,；;？?！!]"
_SYSTOLIC = re.compile(rf"(?:高压|收缩压|上压|上面的?)(?:{_NOT_NUM}){{0,3}}{_N}")
_DIASTOLIC = re.compile(rf"(?:低压|舒张压|下压|下面的?)(?:{_NOT_NUM}){{0,3}}{_N}")
_PAIR = re.compile(rf"{_N}\s*(?:/|／|over|比|到|、|，|,|\s)\s*{_N}")
_BP_CONTEXT = re.compile(r"血压|高压|低压|量的|量了")
_SINGLE_BP = re.compile(rf"血压(?:{_NOT_NUM}){{0,4}}{_N}(?!\s*(?:/|／|over|比|、|，|,))")
_GLUCOSE = re.compile(
    rf"(?:血糖(?:仪)?|测的糖|糖是)(?:是|有|才|只有|到|都|值|为|了|测|的|出来|一下|显示|：|:|大概|差不多){{0,4}}{_N}"
    r"(?!\s*(?:年|个月|天|次|岁|周|星期|小时))"
)
_HEART_RATE = re.compile(rf"(?:(?:心跳|心率|脉搏)(?:{_NOT_NUM}){{0,6}}|一分钟|每分钟){_N}多?(?:下|次)?")
_TEMPERATURE = re.compile(r"([0-9]+(?:\.[0-9])?|[一二三四]十[一二三四五六七八九]?(?:点[零一二三四五六七八九])?)\s*(?:度|℃)\s*([0-9零一二三四五六七八九])?")
_FEVER_NUMBER = re.compile(rf"(?:烧到|体温|发烧|发热|高烧)(?:{_NOT_NUM}){{0,3}}{_N}")


@dataclass
class Vitals:
    """What the caller has told us so far; ``None`` = not said."""

    systolic: float | None = None
    diastolic: float | None = None
    glucose: float | None = None
    heart_rate: float | None = None
    temperature_c: float | None = None

    def update(self, text: str) -> None:
        """Read any values in ``text``; later readings replace earlier ones."""
        systolic, diastolic = read_blood_pressure(text)
        self.systolic = systolic if systolic is not None else self.systolic
        self.diastolic = diastolic if diastolic is not None else self.diastolic
        for name, reader in (("glucose", read_glucose), ("heart_rate", read_heart_rate),
                             ("temperature_c", read_temperature)):
            value = reader(text)
            if value is not None:
                setattr(self, name, value)


def _in_range(value: float | None, low: float, high: float) -> float | None:
    return value if value is not None and low <= value <= high else None


def read_blood_pressure(text: str) -> tuple[float | None, float | None]:
    """(systolic, diastolic) in mmHg from "高压一百九十，低压一百一十五", "155/95", "血压一百八"."""
    systolic = _first(_SYSTOLIC, text, 60, 300)
    diastolic = _first(_DIASTOLIC, text, 30, 200)
    if systolic is None and diastolic is None and _BP_CONTEXT.search(text):
        for match in _PAIR.finditer(text):
            high = _in_range(parse_number(match.group(1)), 60, 300)
            low = _in_range(parse_number(match.group(2)), 30, 200)
            if high is not None and low is not None and high > low:
                return high, low
        systolic = _first(_SINGLE_BP, text, 60, 300)
    return systolic, diastolic


def read_glucose(text: str) -> float | None:
    """Blood glucose in mmol/L ("血糖二点八", "空腹血糖十八点六")."""
    return _first(_GLUCOSE, text, 0.5, 40)


def read_heart_rate(text: str) -> float | None:
    """Beats per minute ("心跳一分钟一百五十多下")."""
    return _first(_HEART_RATE, text, 20, 250)


def read_temperature(text: str) -> float | None:
    """Body temperature in °C ("三十八度五", "39.2度", "烧到三十九")."""
    for match in _TEMPERATURE.finditer(text):
        whole = parse_number(match.group(1))
        if whole is None:
            continue
        tenth = parse_number(match.group(2)) if match.group(2) else None
        value = whole + tenth / 10 if tenth is not None and whole == int(whole) and tenth < 10 else whole
        if _in_range(value, 34, 43) is not None:
            return value
    return _first(_FEVER_NUMBER, text, 34, 43)


def _first(pattern: re.Pattern[str], text: str, low: float, high: float) -> float | None:
    for match in pattern.finditer(text):
        value = _in_range(parse_number(match.group(1)), low, high)
        if value is not None:
            return value
    return None
