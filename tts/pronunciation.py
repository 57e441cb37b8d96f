"""Hanzi -> TONE3 pinyin for the voices, with a medical phrase lexicon over pypinyin.

pypinyin picks a polyphone's reading from its own phrase list and falls back to the most common
reading; medical speech needs others (血压 xuè, 冠心病 guān, 量血压 liáng, 处方 chǔ). The
lexicon (``tts/data/polyphones.tsv``) is matched longest-first over the text and overrides
pypinyin's syllables for the characters it covers; everything else keeps pypinyin's reading in
context. ``spoken`` adds tone sandhi (``tts.sandhi``) for voices trained on spoken tones.
The lexicon is plain data held by the instance, not loaded into pypinyin's global
dictionaries, so two pronouncers with different lexicons can coexist.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import cast

from pypinyin import Style, lazy_pinyin

from tts.sandhi import apply_sandhi

_HANZI = re.compile(r"[\u4e00-\u9fff]")
_SYLLABLE = re.compile(r"^[a-zü]+[1-5]$")


def _unreadable(chars: str) -> list[str]:
    """pypinyin's ``errors`` hook: one empty syllable per character it has no reading for."""
    return [""] * len(chars)


# pypinyin takes a hook returning a list of syllables, though its annotation says a string
_NO_READING = cast(Callable[[str], str], _unreadable)


def load_lexicon(path: Path | None = None) -> dict[str, list[str]]:
    """Phrase -> syllables from ``path`` or the packaged ``polyphones.tsv``.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names it).
        ValueError: a row is malformed (the message names the line and the fix).
    """
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"pronunciation lexicon {path} does not exist; pass an existing TSV or None")
    source = path.read_text(encoding="utf-8") if path else (
        resources.files("tts.data").joinpath("polyphones.tsv").read_text(encoding="utf-8")
    )
    lexicon: dict[str, list[str]] = {}
    for line_no, line in enumerate(source.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        phrase, _, reading = line.partition("\t")
        syllables = reading.split()
        hanzi = _HANZI.findall(phrase)
        if len(hanzi) != len(phrase) or len(syllables) != len(phrase) or not all(map(_SYLLABLE.match, syllables)):
            raise ValueError(
                f"lexicon line {line_no}: {line!r}: expected '<hanzi phrase><TAB><one TONE3 syllable per "
                f"character>', e.g. '血压\\txue4 ya1'"
            )
        lexicon[phrase] = syllables
    return lexicon


class Pronouncer:
    """Gives one TONE3 syllable (neutral tone 5) per hanzi of a text; "" for a hanzi with none."""

    def __init__(self, lexicon: dict[str, list[str]] | None = None) -> None:
        self._lexicon = load_lexicon() if lexicon is None else lexicon
        self._longest = max((len(p) for p in self._lexicon), default=0)

    def pinyin(self, text: str) -> list[str]:
        """Syllables for the hanzi of ``text`` in order (other characters are skipped)."""
        hanzi = "".join(_HANZI.findall(text))
        base = lazy_pinyin(hanzi, style=Style.TONE3, neutral_tone_with_five=True, errors=_NO_READING)
        if len(base) != len(hanzi):  # pypinyin merged or split something: look up char by char
            base = [self._single(char) for char in hanzi]
        return self._override(hanzi, [s.replace("ü", "v") for s in base])

    def spoken(self, text: str) -> list[str]:
        """Like ``pinyin`` but with tone sandhi applied (what the neural voice is given)."""
        hanzi = "".join(_HANZI.findall(text))
        syllables = self.pinyin(text)
        if "" in syllables:  # a character without a reading breaks the word alignment
            return syllables
        return apply_sandhi(hanzi, syllables)

    def _override(self, hanzi: str, syllables: list[str]) -> list[str]:
        i = 0
        while i < len(hanzi):
            for size in range(min(self._longest, len(hanzi) - i), 0, -1):
                reading = self._lexicon.get(hanzi[i : i + size])
                if reading:
                    syllables[i : i + size] = reading
                    i += size
                    break
            else:
                i += 1
        return syllables

    @staticmethod
    def _single(char: str) -> str:
        result = lazy_pinyin(char, style=Style.TONE3, neutral_tone_with_five=True, errors=_NO_READING)
        return result[0] if result else ""
