"""Split an agent reply into sentences to synthesise one by one, long clauses at natural pauses.

Sentences end at Chinese or Western end punctuation (。！？；… and ``.!?`` not inside a number),
or at a line break; closing quotes and brackets stay with their sentence. A sentence longer
than ``max_chars`` is cut at the last clause pause (，、：) before the limit, or, without one,
at the limit itself, never inside a run of digits or Latin letters, so "6.8 mmol/L" stays whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_END = "。！？；!?;…\n"
_CLOSERS = "”’」』）)】》\"'"
_PAUSES = "，、：,:—"
_UNBREAKABLE = re.compile(r"[0-9A-Za-z.:/%~\-+]")


@dataclass(frozen=True)
class SplitterSettings:
    """How long a piece of speech may get before it is cut.

    Parameters:
        max_chars: A sentence longer than this is cut at a clause pause (characters of raw text).
        min_chars: A clause pause closer than this to the start is not used as a cut.
    """

    max_chars: int = 40
    min_chars: int = 4

    def __post_init__(self) -> None:
        if not 0 < self.min_chars < self.max_chars:
            raise ValueError(
                f"need 0 < min_chars < max_chars, got min_chars={self.min_chars}, max_chars={self.max_chars}"
            )


class SentenceSplitter:
    """Turns a reply into the pieces the engine speaks one after another."""

    def __init__(self, settings: SplitterSettings | None = None) -> None:
        self.settings = settings or SplitterSettings()

    def split(self, text: str) -> list[str]:
        """Non-empty pieces of ``text``, in order; joined they give back ``text`` minus blank space."""
        pieces: list[str] = []
        for sentence in self._sentences(text):
            pieces.extend(self._cut_long(sentence))
        return [p for p in (piece.strip() for piece in pieces) if p]

    def _sentences(self, text: str) -> list[str]:
        sentences: list[str] = []
        start = 0
        i = 0
        while i < len(text):
            char = text[i]
            if char in _END or (char == "." and not _between_digits(text, i)):
                end = i + 1
                while end < len(text) and (text[end] in _END or text[end] in _CLOSERS or text[end] == "."):
                    end += 1
                sentences.append(text[start:end])
                start = i = end
                continue
            i += 1
        sentences.append(text[start:])
        return sentences

    def _cut_long(self, sentence: str) -> list[str]:
        limit, minimum = self.settings.max_chars, self.settings.min_chars
        pieces = []
        while len(sentence.strip()) > limit:
            cut = max((i + 1 for i, c in enumerate(sentence[:limit]) if c in _PAUSES and i + 1 >= minimum), default=0)
            if not cut:
                cut = limit
                while cut > minimum and _UNBREAKABLE.match(sentence[cut - 1]) and _UNBREAKABLE.match(sentence[cut]):
                    cut -= 1
            pieces.append(sentence[:cut])
            sentence = sentence[cut:]
        pieces.append(sentence)
        return pieces


def _between_digits(text: str, index: int) -> bool:
    return 0 < index < len(text) - 1 and text[index - 1].isdigit() and text[index + 1].isdigit()
