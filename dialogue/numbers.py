"""Number reading for caller speech: Chinese numerals and Arabic digits to ``float``.

Callers say "一百九十", "三十八度五", "二点八" or "190"; the safety rules and slot extractors match a
numeral with :data:`NUMERAL` and turn it into a value with :func:`parse_number`.
"""

from __future__ import annotations

import re

import cn2an

NUMERAL = r"(?:[0-9]+(?:\.[0-9]+)?|[零〇一二两三四五六七八九十百千]+(?:点[零〇一二两三四五六七八九]+)?)"
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
