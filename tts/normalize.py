"""Text normalisation for speech: agent text in, the hanzi a Mandarin voice reads out.

The readings are data (``tts/data/*.tsv``); this module owns the order in which they apply,
because context decides a number's reading:

1. abbreviations (HbA1c, CT, B超, BP) before anything reads their digits or letters;
2. dates (2024-03-15, 2024年) and clock times (8:30);
3. phone and service numbers, digit by digit with 幺 for 1 (138…, 0571-…, 12356, 120 after 拨打);
4. rates "3次/日" -> 每日三次, units after a number (mmol/L, mg, mmHg, ℃) -> their names;
5. blood pressure and ratios 186/108 -> 一百八十六比一百零八, fractions 1/2 -> 二分之一,
   ranges 3-5 / 3~5 -> 三到五, percentages 7.5% -> 百分之七点五, powers ×10^9;
6. decimals 6.8 -> 六点八, integers 186 -> 一百八十六 (2 before a measure word -> 两),
   long digit strings (record numbers) digit by digit;
7. remaining Latin letters: short runs spelled with letter names, long words dropped;
   symbols the voice cannot say read (≥ 大于等于) or dropped, emoji dropped;
8. punctuation to pauses: Western marks become their Chinese forms, runs of pauses collapse.

The output holds only hanzi and Chinese punctuation, so normalising it again changes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import cn2an

_DIGIT_NAMES = dict(zip("0123456789", "零幺二三四五六七八九", strict=True))
_PLAIN_DIGIT_NAMES = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
_NUMBER = r"\d+(?:\.\d+)?"
_DIAL_BEFORE = r"(?:拨打|拨|打|呼叫|叫|致电|联系|电话|热线|号码|求救|急救)[^\d，。！？,.!?]{0,3}"
_DIAL_AFTER = r"\s*(?:急救|求救|报警|火警|救护车|电话|热线)"
_PHONE_CONTEXT = re.compile(r"(?:电话|热线|号码|手机|致电|拨打|分机)[^\d，。！？]{0,4}$")
_WESTERN_PAUSES = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？", ".": "。", "、": "、"}
_PAUSE_MARKS = "，、；：。！？"
_HANZI = r"\u4e00-\u9fff"


def _load_table(name: str) -> list[tuple[str, str]]:
    """Rows of a two-column TSV from ``tts/data`` (``#`` comments, empty second column allowed)."""
    text = resources.files("tts.data").joinpath(name).read_text(encoding="utf-8")
    rows = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("\t")
        if not sep:
            raise ValueError(f"tts/data/{name} line {line_no}: {line!r} has no tab; expected 'key<TAB>reading'")
        rows.append((key, value.strip()))
    return rows


def _load_words(name: str) -> list[str]:
    text = resources.files("tts.data").joinpath(name).read_text(encoding="utf-8")
    return [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")]


def _alternation(keys: list[str]) -> str:
    return "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))


def read_digits(digits: str, *, yao: bool = True) -> str:
    """Digit by digit: 12356 -> 幺二三五六 (1 as 幺, as on the phone) or 一二三五六."""
    names = _DIGIT_NAMES if yao else _PLAIN_DIGIT_NAMES
    return "".join(names.get(d, "") for d in digits)


def read_integer(digits: str) -> str:
    """Cardinal reading: 186 -> 一百八十六, 108 -> 一百零八, 10 -> 十; leading zeros digit by digit."""
    if len(digits) > 1 and digits.startswith("0"):
        return read_digits(digits, yao=False)
    reading: str = cn2an.an2cn(digits, "low")
    return reading


def read_number(number: str) -> str:
    """A decimal or integer: 6.8 -> 六点八, 0.5 -> 零点五, 38.50 -> 三十八点五零."""
    whole, _, fraction = number.partition(".")
    reading = read_integer(whole)
    return f"{reading}点{read_digits(fraction, yao=False)}" if fraction else reading


@dataclass(frozen=True)
class _Rule:
    name: str
    pattern: re.Pattern[str]
    replace: Callable[[re.Match[str]], str]


class SpeechNormalizer:
    """Rewrites agent text into what the voice should say. Stateless after construction; thread-safe."""

    def __init__(self) -> None:
        self._abbreviations = dict(_load_table("abbreviations.tsv"))
        self._units = dict(_load_table("units.tsv"))
        self._periods = dict(_load_table("per_periods.tsv"))
        self._symbols = dict(_load_table("symbols.tsv"))
        self._letters = dict(_load_table("letters.tsv"))
        self._measure_words = _load_words("measure_words.txt")
        service = _load_table("service_numbers.tsv")
        self._always_digits = [n for n, needs_context in service if needs_context == "no"]
        self._dialled = [n for n, needs_context in service if needs_context == "yes"]
        self._rules = self._build_rules()

    def normalize(self, text: str) -> str:
        """The speakable form of ``text`` (hanzi and Chinese punctuation only; may be empty)."""
        text = unicodedata.normalize("NFKC", text).replace("...", "…")
        for rule in self._rules:
            text = rule.pattern.sub(rule.replace, text)
        return self._finish(text)

    # -- rules, in the order they apply ------------------------------------------------------

    def _build_rules(self) -> list[_Rule]:
        unit = _alternation(list(self._units))
        period = _alternation(list(self._periods))
        measure = _alternation(self._measure_words)
        rule = _Rule
        return [
            rule("abbreviation", re.compile(rf"(?<![A-Za-z])(?:{_alternation(list(self._abbreviations))})(?![a-z])"),
                 self._read_abbreviation),
            rule("date", re.compile(r"(?<!\d)(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*[日号]?(?!\d)"),
                 lambda m: f"{read_digits(m[1], yao=False)}年{read_integer(m[2].lstrip('0'))}月{read_integer(m[3].lstrip('0'))}日"),
            rule("year", re.compile(r"(?<!\d)(\d{4})(?=\s*年)"), lambda m: read_digits(m[1], yao=False)),
            rule("time", re.compile(r"(?<![\d.:])([01]?\d|2[0-4])\s*:\s*([0-5]\d)(?::([0-5]\d))?(?![\d.])"),
                 self._read_time),
            rule("mobile", re.compile(r"(?<!\d)(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)"),
                 lambda m: f"{read_digits(m[1])}，{read_digits(m[2])}，{read_digits(m[3])}"),
            rule("landline", re.compile(r"(?<!\d)(0\d{2,3})-(\d{7,8})(?!\d)"),
                 lambda m: f"{read_digits(m[1])}，{read_digits(m[2])}"),
            rule("hotline", re.compile(rf"(?<![\d.])(?:{_alternation(self._always_digits)})(?![\d.])"),
                 lambda m: read_digits(m.group(0))),
            rule("emergency", re.compile(rf"(?<![\d.])(?:{_alternation(self._dialled)})(?![\d.])"),
                 self._read_dialled),
            rule("phone-context", re.compile(r"(?<![\d.])\d{3,}(?![\d.])"), self._read_phone_in_context),
            rule("rate", re.compile(rf"({_NUMBER})\s*([{_HANZI}]{{1,2}}?|{unit})\s*/\s*({period})(?![A-Za-z])"),
                 lambda m: f"每{self._periods[m[3]]}{m[1]}{self._units.get(m[2], m[2])}"),
            rule("power", re.compile(r"[×xX*]\s*10\s*\^?\s*(\d+)(\s*/\s*[Ll](?![A-Za-z]))?"),
                 lambda m: f"乘十的{read_integer(m[1])}次方" + ("每升" if m[2] else "")),
            rule("unit", re.compile(rf"(?<=\d)\s*({unit})(?![A-Za-z])"), lambda m: self._units[m[1]]),
            rule("ratio", re.compile(r"(?<![\d.])(\d{2,3})\s*[/:]\s*(\d{2,3})(?![\d.])"),
                 lambda m: f"{read_integer(m[1])}比{read_integer(m[2])}"),
            rule("fraction", re.compile(r"(?<![\d.])(\d)\s*/\s*(\d{1,2})(?![\d.])"),
                 lambda m: f"{read_integer(m[2])}分之{read_integer(m[1])}"),
            rule("short-ratio", re.compile(r"(?<![\d.])(\d+)\s*:\s*(\d+)(?![\d.])"),
                 lambda m: f"{read_integer(m[1])}比{read_integer(m[2])}"),
            rule("percent-range", re.compile(rf"({_NUMBER})\s*%?\s*[-~–—至到]\s*({_NUMBER})\s*%"),
                 lambda m: f"百分之{read_number(m[1])}到百分之{read_number(m[2])}"),
            rule("range", re.compile(rf"(?<![\d.])({_NUMBER})\s*[-~–—]\s*({_NUMBER})(?![\d.])"),
                 lambda m: f"{m[1]}到{m[2]}"),
            rule("percent", re.compile(rf"({_NUMBER})\s*%"), lambda m: f"百分之{read_number(m[1])}"),
            rule("permille", re.compile(rf"({_NUMBER})\s*‰"), lambda m: f"千分之{read_number(m[1])}"),
            rule("negative", re.compile(rf"(?<![\d\w])-\s*({_NUMBER})"), lambda m: f"负{read_number(m[1])}"),
            rule("decimal", re.compile(r"\d+\.\d+"), lambda m: read_number(m.group(0))),
            rule("two", re.compile(rf"(?<![\d第])2(?=\s*(?:{measure}))(?!\s*[点][\d零一二三四五六七八九])"), lambda m: "两"),
            rule("integer", re.compile(r"\d+"), self._read_integer_run),
            rule("latin", re.compile(r"[A-Za-z]+"), self._read_latin),
            rule("symbol", re.compile(_alternation(list(self._symbols))), self._read_symbol),
        ]

    def _read_abbreviation(self, match: re.Match[str]) -> str:
        reading = self._abbreviations[match.group(0)]
        # "血氧饱和度SpO2" names the measure twice in writing; said aloud once is enough.
        if match.string[: match.start()].rstrip().endswith(reading):
            return ""
        return reading

    def _read_time(self, match: re.Match[str]) -> str:
        hour, minute, second = int(match[1]), int(match[2]), match[3]
        reading = ("两" if hour == 2 else read_integer(str(hour))) + "点"
        if minute:
            reading += ("零" if minute < 10 else "") + read_integer(str(minute)) + "分"
        if second and int(second):
            reading += read_integer(str(int(second))) + "秒"
        return reading

    def _read_dialled(self, match: re.Match[str]) -> str:
        number = match.group(0)
        before = match.string[max(0, match.start() - 8) : match.start()]
        after = match.string[match.end() : match.end() + 6]
        if re.search(rf"{_DIAL_BEFORE}$", before) or re.match(_DIAL_AFTER, after):
            return read_digits(number)
        return number

    def _read_phone_in_context(self, match: re.Match[str]) -> str:
        before = match.string[max(0, match.start() - 8) : match.start()]
        if _PHONE_CONTEXT.search(before):
            return read_digits(match.group(0))
        return match.group(0)

    def _read_integer_run(self, match: re.Match[str]) -> str:
        digits = match.group(0)
        # Record numbers, IDs and other long codes are read digit by digit, like phone numbers.
        return read_digits(digits) if len(digits) >= 7 else read_integer(digits)

    def _read_latin(self, match: re.Match[str]) -> str:
        word = match.group(0)
        # Capitals and one- or two-letter runs are abbreviations a clinician would spell; English
        # words cannot be said by a Mandarin voice and spelling them would be noise.
        if not (len(word) <= 2 or (word.isupper() and len(word) <= 6)):
            return ""
        return "".join(self._letters.get(letter.upper(), "") for letter in word)

    def _read_symbol(self, match: re.Match[str]) -> str:
        reading = self._symbols[match.group(0)]
        if reading in ("", "，"):
            return reading
        # A symbol is read as a word (≥ 大于等于, & 和) only between words; alone it is noise.
        before = match.string[: match.start()].rstrip()[-1:]
        after = match.string[match.end() :].lstrip()[:1]
        is_word = re.compile(rf"[{_HANZI}]")
        return reading if is_word.match(before) and is_word.match(after) else ""

    def _finish(self, text: str) -> str:
        text = "".join(_WESTERN_PAUSES.get(c, c) for c in text)
        text = text.replace("…", "，")
        kept = []
        for char in text:
            if re.match(rf"[{_HANZI}]", char) or char in _PAUSE_MARKS:
                kept.append(char)
            elif char.isspace() and kept and kept[-1] not in _PAUSE_MARKS:
                kept.append(" ")
        text = "".join(kept)
        # A space only separates two readings; between hanzi it is not a pause.
        text = re.sub(r"\s+", "", text)
        text = re.sub(rf"[{_PAUSE_MARKS}]*([。！？])[{_PAUSE_MARKS}]*", r"\1", text)
        text = re.sub(r"([，、；：])[，、；：]+", r"\1", text)
        return text.lstrip("".join(_PAUSE_MARKS)).rstrip("，、；：")


def normalize_for_speech(text: str, normalizer: SpeechNormalizer | None = None) -> str:
    """Convenience wrapper: ``SpeechNormalizer().normalize(text)``."""
    return (normalizer or SpeechNormalizer()).normalize(text)
