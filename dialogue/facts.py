"""Measured values a caller reads out: blood pressure, glucose, heart rate, temperature.

Shared by the safety rules (thresholds), the triage slots and the follow-up flows. Values outside
physiological ranges are dropped rather than trusted (an ASR slip must not invent a crisis or hide one).
Blood pressure is read by :func:`medical_terms.read_blood_pressure`, numerals by ``medical_terms``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from medical_terms import DIGITS, NUMERAL, RANGE_DIGITS, parse_number, read_blood_pressure
from medical_terms.numerals import NUMERAL_END, NUMERAL_START

_N = f"({NUMERAL}){NUMERAL_END}"
_NOT_NUM = rf"[^0-9{DIGITS}十百，。,；;？?！!]"
_GLUCOSE = re.compile(
    rf"(?:血[糖堂唐塘](?:仪)?|测的糖|糖是)(?:是|有|才|只有|到|都|值|为|了|测|的|出来|一下|显示|：|:|大概|差不多){{0,4}}{_N}"
    r"(?!\s*(?:年|个月|天|次|岁|周|星期|小时))"
)
_HEART_RATE = re.compile(rf"(?:(?:心跳|心率|脉搏)(?:{_NOT_NUM}){{0,6}}|一分钟|每分钟){_N}多?(?:下|次)?")
_TEMPERATURE = re.compile(
    rf"{NUMERAL_START}([0-9]+(?:\.[0-9])?|[一二三四]十[{RANGE_DIGITS}]?(?:点[{DIGITS}])?)\s*(?:度|℃)\s*([0-9{DIGITS}])?"
)
_FEVER_NUMBER = re.compile(rf"(?:烧到|体温|发烧|发热|高烧|热度|肛温|耳温|腋温|额温|口温|温度)(?:{_NOT_NUM}){{0,3}}{_N}")


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
