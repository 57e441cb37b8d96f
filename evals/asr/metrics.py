"""Scoring one hypothesis against its reference: CER, term hits, numbers with units, corrections.

Both sides are put in one canonical form before CER (simplified script, no punctuation or spaces,
numbers as digits with units via ``normalize_numbers``), so "一百一十二" vs "112" or a full-width
comma is not counted as an error; what remains are recognition errors.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections import Counter

import cn2an

from medical_terms import CorrectionResult, normalize_numbers

_PUNCT = re.compile(r"[\s，。、；：？！,.;:?!﹑﹐“”\"'（）()《》…—-]")
NUMBER_TOKEN = re.compile(
    r"(\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?)\s*(mmHg|mmol/L|μmol/L|℃|mg|μg|mL|kg|IU|U|次/分|cm|mm|g|%)"
)


def canonical(text: str) -> str:
    """The form CER is computed on."""
    text = normalize_numbers(text)
    with contextlib.suppress(ValueError, KeyError), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cn2an warns on every non-numeral 万/亿 it skips
        text = cn2an.transform(text, "cn2an")
    return _PUNCT.sub("", text).lower()


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings (characters)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def char_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance, reference length) in canonical form."""
    ref, hyp = canonical(reference), canonical(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def term_hits(terms: list[str], hypothesis: str) -> int:
    """How many of the reference terms appear in the hypothesis."""
    return sum(term in hypothesis for term in terms)


def number_tokens(text: str) -> Counter[str]:
    """Measured values with their units in normalised text (``186/108 mmHg``, ``0.5 g``)."""
    return Counter(f"{float_text(v)} {u}" for v, u in NUMBER_TOKEN.findall(text))


def float_text(value: str) -> str:
    """``6.80`` and ``6.8`` compare equal; ``186/108`` is kept as it is."""
    if "/" in value:
        return value
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)


def expected_numbers(record: dict) -> Counter[str]:
    """A record's ``numbers`` field when present, else the values normalised from its text."""
    if "numbers" in record:
        return number_tokens(" ".join(record["numbers"]))
    return number_tokens(normalize_numbers(record["text"]))


def correct_changes(result: CorrectionResult, reference: str) -> int:
    """Changes whose replacement term is in the reference (the others damaged or guessed)."""
    return sum(change.replacement in reference for change in result.changes)
