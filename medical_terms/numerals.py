"""Chinese numerals: the one definition of their characters, and reading or saying one number.

Callers say "一百九十", "三十八度五", "二点八" or "190". Every module that matches a spoken number
builds its pattern from :data:`DIGITS` (or uses :data:`NUMERAL`) and turns it into a value with
:func:`parse_number` or :func:`to_number`; a read-back says a value with :func:`spoken_number`.
This is the only module that calls cn2an outside speech synthesis (``tts`` imports nothing of ours).
"""

from __future__ import annotations

import re

import cn2an

DIGITS = "零〇一二两三四五六七八九"
"""The spoken digit characters (两 and 〇 included)."""

RANGE_DIGITS = "一二两三四五六七八九"
"""Digits that say a range when two stand side by side (三四, 七八, 两三); 零 does not (一百零八)."""

NUMERAL = rf"(?:[0-9]+(?:\.[0-9]+)?|[{DIGITS}十百千]+(?:点[{DIGITS}]+)?)"
"""A regex fragment for one number, Arabic or Chinese (no capture group)."""

_ARABIC = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")


def parse_number(text: str) -> float | None:
    """Read one numeral (``"一百零八"`` -> 108, ``"38.5"`` -> 38.5); ``None`` when it is not one.

    Args:
        text: The numeral alone, as matched by :data:`NUMERAL`.

    Returns:
        The value, or ``None`` for text that is not a number (e.g. "百").
    """
    text = text.strip().replace("〇", "零")
    if not text:
        return None
    if _ARABIC.match(text):
        return float(text)
    try:
        return float(cn2an.cn2an(text, "smart"))
    except (ValueError, KeyError):
        return None


def to_number(spoken: str) -> str | None:
    """Digits for one spoken or written number (一百零八 → 108, 六点八 → 6.8), or None if unclear.

    Two bare adjacent digits such as 五六 are a range ("five or six"), not fifty-six: None. The
    spoken precision is kept (三十六点零 → 36.0).
    """
    if re.fullmatch(r"\d+(?:\.\d+)?", spoken):
        return spoken
    if re.fullmatch(rf"[{DIGITS}]{{2}}", spoken):
        return None
    try:
        value = cn2an.cn2an(spoken, "smart")
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(value, float) and value.is_integer() and "点" not in spoken:
        value = int(value)
    text = str(value)
    # cn2an gives 0.50 → 0.5 already; keep the spoken precision for 三十六点零.
    if "点" in spoken:
        decimals = len(spoken.split("点", 1)[1])
        text = f"{float(value):.{decimals}f}"
    return text


def spoken_number(value: float) -> str:
    """A value as Mandarin words for a read-back (146 -> "一百四十六", 6.8 -> "六点八")."""
    return str(cn2an.an2cn(f"{value:g}"))
