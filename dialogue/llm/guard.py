"""Checks on LLM output before a caller hears it: no diagnosis, no drug advice, no reassurance that
lowers urgency, Mandarin only, short, and still asking what the rules asked (anchor words).

The patterns are data (``dialogue/data/llm_guard.json``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

_CJK = re.compile(r"[\u4e00-\u9fff]")
_PUNCT = re.compile(r"[\s，。！？、；：,.!?;:“”\"'（）()]")


@dataclass(frozen=True)
class OutputGuard:
    """Decides whether one LLM sentence may be spoken instead of the rules' wording."""

    diagnosis: re.Pattern[str]
    drug_advice: re.Pattern[str]
    reassurance: re.Pattern[str]
    max_chars: int
    min_cjk_ratio: float
    anchors: tuple[tuple[str, ...], ...]

    @classmethod
    def load(cls) -> OutputGuard:
        return _load()

    def unsafe_reason(self, sentence: str) -> str | None:
        """Why ``sentence`` must not be spoken, or ``None`` when it is acceptable on its own."""
        body = _PUNCT.sub("", sentence)
        if not body:
            return "empty"
        if len(sentence) > self.max_chars:
            return "too_long"
        if len(_CJK.findall(body)) / len(body) < self.min_cjk_ratio:
            return "not_mandarin"
        for name in ("diagnosis", "drug_advice", "reassurance"):
            if getattr(self, name).search(sentence):
                return name
        return None

    def keeps_meaning(self, original: str, candidate: str) -> bool:
        """Whether ``candidate`` still asks what ``original`` asks (shares its anchor words)."""
        if original.rstrip().endswith(("？", "?")) and not candidate.rstrip().endswith(("？", "?")):
            return False
        topics = [words for words in self.anchors if any(w in original for w in words)]
        if not topics:
            return False
        return all(any(w in candidate for w in words) for words in topics[:1])


@cache
def _load() -> OutputGuard:
    data: dict[str, Any] = json.loads(
        resources.files("dialogue.data").joinpath("llm_guard.json").read_text("utf-8")
    )
    return OutputGuard(
        diagnosis=re.compile(data["diagnosis"]),
        drug_advice=re.compile(data["drug_advice"]),
        reassurance=re.compile(data["reassurance"]),
        max_chars=int(data["max_chars"]),
        min_cjk_ratio=float(data["min_cjk_ratio"]),
        anchors=tuple(tuple(words) for words in data["anchors"]),
    )
