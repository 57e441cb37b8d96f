"""Chinese numerals: the one definition of their characters, and reading or saying one number.

Callers say "一百九十", "三十八度五", "二点八" or "190". Every module that matches a spoken number
builds its pattern from :data:`DIGITS` (or uses :data:`NUMERAL`) and turns it into a value with
:func:`parse_number` or :func:`to_number`; a read-back says a value with :func:`spoken_number`.

Where a value must never be guessed (the follow-up readings), :func:`read_amount` reads a number as the
values it allows (:class:`Amount`: exact, or an interval for 一百八十几, 七点多, 一百三四, 快两百),
:func:`spoken_amounts` finds them in a sentence, :func:`two_way_splits` reads two numbers said without a
pause (一八五一百一) and :func:`read_count` reads a count (五六回 is five or six, never 56).
This is the only module that calls cn2an outside speech synthesis (``tts`` imports nothing of ours).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

import cn2an

DIGITS = "零〇一二两三四五六七八九"
"""The spoken digit characters (两 and 〇 included)."""

RANGE_DIGITS = "一二两三四五六七八九"
"""Digits that say a range when two stand side by side (三四, 七八, 两三); 零 does not (一百零八)."""

NUMERAL = rf"(?:[0-9]+(?:\.[0-9]+)?|[{DIGITS}十百千]+(?:点[{DIGITS}]+)?)"
"""A regex fragment for one number, Arabic or Chinese (no capture group)."""

NUMERAL_START = rf"(?<![0-9.{DIGITS}十百千])"
NUMERAL_END = rf"(?![0-9{DIGITS}十百千])(?!(?:点|\.)[0-9{DIGITS}])"
"""Lookarounds around :data:`NUMERAL` so a pattern takes a whole number said, never a piece of one:
without them a regex that fails on what follows (血糖一点一天: a duration) backtracks to a shorter
numeral (一, read as glucose 1.0), and one scanning for a match starts inside a number (一百三十四度:
34 ℃). A trailing 点 with no digit (七点多) still ends the number."""

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
    """A value as Mandarin words for a read-back (146 -> "一百四十六", 6.8 -> "六点八").

    Every digit of the value is said: it is written out positionally from its shortest exact form
    (``format(..., "g")`` kept six digits, so 123456.7 was said as 123457, and wrote 1234567 as
    1.23457e+06, which cn2an cannot read).
    """
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return str(cn2an.an2cn(text))


# -- the grammar of a spoken amount: exact, approximate, or two run together ----------------------------

_DIGIT_VALUES = {"零": 0, "〇": 0, "幺": 1, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
                 "七": 7, "八": 8, "九": 9}
_D = "零〇幺一二两三四五六七八九"
_NZ = "幺一二两三四五六七八九"  # a digit that may lead a number
_SEQ = "一二三四五六七八九"  # a range is two neighbours in this order (三四, 七八), or 两三
_RANGE_PAIR = rf"(?:[{_SEQ}][{_SEQ}]|两三)"
# Words before or after a number that make it approximate or one-sided; longest first.
_BEFORE = ("差不多", "将近", "接近", "大概", "大约", "估计", "不到", "不足", "超过", "高于", "低于", "快", "少说")
_AFTER = ("多点", "多一点", "左右", "上下", "出头", "以上", "以下", "往上", "开外", "多", "来", "几")
_RUN = re.compile(
    rf"(?P<before>{'|'.join(_BEFORE)})?"
    rf"(?P<core>[0-9]+(?:\.[0-9]+)?|[{_D}十百千几]+(?:点(?:[{_D}]+|几|多))?)"
    rf"(?P<after>{'|'.join(a for a in _AFTER if a != '几')})?"
)


@dataclass(frozen=True)
class Amount:
    """One number as said, read as the values it allows.

    Parameters:
        text: The words (``"一百八十几"``), with ``start``/``end`` in the text it was found in.
        low, high: The least and the most it can be (equal for an exact number; ``-inf``/``inf`` for
            a one-sided "超过两百" / "不到四").
        exact: Said as one number, with no 几/多/左右, no range (三四), no 快/超过.
    """

    text: str
    low: float
    high: float
    exact: bool
    start: int = 0
    end: int = 0

    @property
    def value(self) -> float | None:
        """The number when it was said exactly, else ``None``."""
        return self.low if self.exact else None


def read_amount(spoken: str) -> Amount | None:
    """One spoken or written number, exact or approximate; ``None`` when the words are no single number
    (two numbers run together, "一八五一百一", read with :func:`two_way_splits`).

    The grammar: positional numerals (一百零八, 一百四 = 140, 十五, 两百), digit by digit (一四五, 九五,
    一二零), a decimal (六点七, 十六点九), 几 for an unknown digit (一百八十几 181–189, 二点几, 十几),
    neighbouring digits for a range (一百三四 130–140, 七八十, 九十七八), and the words around a number
    (多, 来, 左右, 上下, 出头, 以上, 快, 将近, 超过, 不到…).
    """
    match = _RUN.fullmatch(spoken.strip())
    if match is None:
        return None
    core = match["core"]
    interval = _core_interval(core)
    if interval is None:
        return None
    low, high, place = interval
    exact = low == high
    before, after = match["before"], match["after"]
    if after in ("多", "多点", "多一点"):
        if not exact:
            return None
        step = 1.0 if place > 1 else place / 10  # 一百八十多: 181-189; 六点五多: 6.51-6.59
        low, high, exact = low + step, low + place - step, False
    elif after == "来":
        spread = max(0.1 * high, 1.0)
        low, high, exact = low - spread, high + spread, False
    elif after in ("左右", "上下"):
        spread = max(place, 0.03 * high)
        low, high, exact = low - spread, high + spread, False
    elif after == "出头":
        # A bit over: past the number by less than half its last place. A units digit steps by a
        # tenth, as 多 does (五出头: 5.1-5.5; a whole step made it 6-5.5, an upside-down interval).
        step = 1.0 if place > 1 else place / 10
        low, high, exact = low + step, high + max(place / 2, 0.05 * high), False
    elif after in ("以上", "往上", "开外"):
        high, exact = math.inf, False
    elif after == "以下":
        low, exact = -math.inf, False
    if before in ("快", "将近", "接近", "不到", "不足", "低于"):
        low, high, exact = low - max(0.05 * low, place / 10 if place >= 10 else place), low - 1e-9, False
    elif before in ("超过", "高于"):
        low, high, exact = low + 1e-9, math.inf, False
    return Amount(spoken, low, high, exact)


def _core_interval(core: str) -> tuple[float, float, float] | None:
    """(low, high, place of the last digit said) for a bare numeral, or ``None``."""
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", core):
        place = 10.0 ** -len(core.split(".")[1]) if "." in core else 1.0
        return float(core), float(core), place
    if "点" in core:
        whole, _, fraction = core.partition("点")
        head = _core_interval(whole) if whole else None
        if head is None or head[0] != head[1]:
            return None
        if fraction == "几":
            return head[0] + 0.1, head[0] + 0.9, 0.1
        if fraction == "多":  # 七点多
            return head[0] + 0.1, head[0] + 0.9, 0.1
        if not fraction or any(c not in _DIGIT_VALUES for c in fraction):
            return None
        decimals = "".join(str(_DIGIT_VALUES[c]) for c in fraction)
        value = float(f"{int(head[0])}.{decimals}")
        return value, value, 10.0 ** -len(decimals)
    return _integer_interval(core)


def _integer_interval(core: str) -> tuple[float, float, float] | None:
    # digit by digit: 一四五, 九五, 一二零 (not 两, not a leading 零); two neighbours are a range (七八)
    if re.fullmatch(rf"[{_NZ.replace('两', '')}][零〇幺一二三四五六七八九]+", core):
        if len(core) == 2 and (core == "两三" or _DIGIT_VALUES[core[1]] == _DIGIT_VALUES[core[0]] + 1):
            return None  # 五六 is "five or six" or 56: not one number
        value = float("".join(str(_DIGIT_VALUES[c]) for c in core))
        return value, value, 1.0
    # positional: [d]百 then 零d | [d]十[d] | d (一百四 = 140) | nothing; or [d]十[d]; or d
    d, nz = f"[{_D}几]", f"[{_NZ}几]"
    rng = rf"(?:{_RANGE_PAIR}|{d})"
    pattern = (
        rf"(?:(?P<h>{nz})百(?:零(?P<u0>{d})|(?P<t>{rng})?十(?P<u>{rng})?|(?P<abbr>{rng}))?)"
        rf"|(?P<t2>{rng})?十(?P<u2>{rng})?|(?P<u3>{d})"
    )
    match = re.fullmatch(pattern, core)
    if match is None or core in ("几",):
        return None
    parts: list[tuple[str | None, float]] = []
    if match["h"]:
        parts.append((match["h"], 100.0))
        parts.append((match["u0"], 1.0))
        if match["abbr"]:
            parts.append((match["abbr"], 10.0))
        else:
            tens = match["t"] or ("一" if "十" in core else None)
            parts.append((tens, 10.0))
            parts.append((match["u"], 1.0))
    elif "十" in core:
        parts.append((match["t2"] or "一", 10.0))
        parts.append((match["u2"], 1.0))
    else:
        parts.append((match["u3"], 1.0))
    low = high = 0.0
    place = 100.0
    for spoken, weight in parts:
        if spoken is None:
            continue
        place = min(place, weight)
        if spoken == "几":
            low, high = low + weight, high + 9 * weight
        elif len(spoken) == 2:  # a range of two neighbours
            first = 2 if spoken == "两三" else _DIGIT_VALUES[spoken[0]]
            last = 3 if spoken == "两三" else _DIGIT_VALUES[spoken[1]]
            if last != first + 1 and spoken != "两三":
                return None
            low, high = low + first * weight, high + last * weight
        else:
            low, high = low + _DIGIT_VALUES[spoken] * weight, high + _DIGIT_VALUES[spoken] * weight
    return low, high, place


def read_count(spoken: str) -> Amount | None:
    """A count as said (五六回, 两三趟, 七八次, 十来次): like :func:`read_amount`, but two neighbouring digits
    are "five or six", never 56 (a count is not read digit by digit)."""
    core = spoken.strip()
    if len(core) == 2 and core[0] in _DIGIT_VALUES and core[1] in _DIGIT_VALUES:
        first, last = (2, 3) if core == "两三" else (_DIGIT_VALUES[core[0]], _DIGIT_VALUES[core[1]])
        if last == first + 1 or core == "两三":
            return Amount(spoken, float(first), float(last), False)
    if core in ("好几", "几"):
        return Amount(spoken, 3.0, 9.0, False)
    return read_amount(spoken)


def spoken_amounts(text: str) -> list[Amount]:
    """Every number in ``text`` with its span, as :func:`read_amount` reads it; a run that is no single
    number ("一八五一百一") comes back with ``low = high = nan`` for the caller to split."""
    found = []
    for match in _RUN.finditer(text):
        core = match["core"]
        if core in ("几", "点") or not re.search(rf"[0-9{_D}十百]", core):
            continue
        amount = read_amount(match.group())
        if amount is None and match["before"]:  # 快 etc. were a word of their own (快吃完了)
            amount = read_amount(match.group()[len(match["before"]):])
        if amount is None:
            amount = Amount(match.group(), math.nan, math.nan, False)
        found.append(Amount(amount.text, amount.low, amount.high, amount.exact, match.start(), match.end()))
    return found


def two_way_splits(run: str) -> list[tuple[Amount, Amount]]:
    """The ways to read ``run`` as two numbers said without a pause (一八五一百一 → 185 | 110, 一六八九五 →
    168 | 95, 一百四九十 → 140 | 90); the caller keeps those that fit what was asked."""
    splits = []
    for cut in range(1, len(run)):
        first, second = read_amount(run[:cut]), read_amount(run[cut:])
        if first is not None and second is not None:
            splits.append((first, second))
    return splits
