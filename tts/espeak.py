"""The fallback voice: espeak-ng's Mandarin, fed pinyin through its ``cmn-latn-pinyin`` voice.

espeak-ng's ``cmn`` voice reads hanzi through its own small dictionary and Latin text as English;
``cmn-latn-pinyin`` reads TONE3 pinyin (with tone sandhi), so we give it the same normalised text
and polyphone readings as the neural voice. Robotic but intelligible, tiny and GPL-3.0 (run as a
separate program, not linked). Needs the ``espeak-ng`` binary (``apt-get install espeak-ng``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from tts.base import EngineInfo, SpeechEngine
from tts.normalize import SpeechNormalizer
from tts.pronunciation import Pronouncer

ESPEAK_INFO = EngineInfo(
    name="espeak-ng-cmn-latn-pinyin",
    sample_rate=22050,
    licence="espeak-ng: GPL-3.0-or-later (separate executable)",
)
_HANZI = _HANZI_RE = re.compile(r"[\u4e00-\u9fff]")
_PAUSES = set("，、；：。！？")


class EspeakError(RuntimeError):
    """espeak-ng is missing or failed; the message says how to fix it."""


@dataclass(frozen=True)
class EspeakSettings:
    """How espeak-ng speaks.

    Parameters:
        binary: The espeak-ng executable (name on PATH or a path).
        voice: espeak-ng voice; ``cmn-latn-pinyin`` reads the pinyin we pass.
        words_per_minute: Speaking rate (espeak ``-s``); 150 suits older listeners.
        timeout_s: Longest one sentence may take to render.
    """

    binary: str = "espeak-ng"
    voice: str = "cmn-latn-pinyin"
    words_per_minute: int = 150
    timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if not 80 <= self.words_per_minute <= 400:
            raise ValueError(f"words_per_minute must be within 80-400, got {self.words_per_minute}; try 150")


class EspeakEngine(SpeechEngine):
    """Text -> normalised hanzi -> pinyin -> espeak-ng -> 22.05 kHz float32."""

    info = ESPEAK_INFO

    def __init__(
        self,
        settings: EspeakSettings | None = None,
        *,
        normalizer: SpeechNormalizer | None = None,
        pronouncer: Pronouncer | None = None,
    ) -> None:
        self.settings = settings or EspeakSettings()
        if shutil.which(self.settings.binary) is None:
            raise EspeakError(
                f"espeak-ng binary {self.settings.binary!r} not found on PATH; install it: apt-get install -y espeak-ng"
            )
        self._normalizer = normalizer or SpeechNormalizer()
        self._pronouncer = pronouncer or Pronouncer()

    def pinyin_text(self, text: str) -> str:
        """The pinyin line espeak-ng is given: syllables separated by spaces, pauses as commas."""
        hanzi_text = self._normalizer.normalize(text)
        syllables = iter(self._pronouncer.pinyin(hanzi_text))
        words: list[str] = []
        for char in hanzi_text:
            if _HANZI.match(char):
                syllable = next(syllables, "")
                if syllable:
                    words.append(syllable.replace("v", "ü"))
            elif char in _PAUSES and words and words[-1] != ",":
                words.append(",")
        while words and words[-1] == ",":
            words.pop()
        return " ".join(words).replace(" ,", ",")

    def is_speakable(self, text: str) -> bool:
        return bool(_HANZI_RE.search(self._normalizer.normalize(text)))

    def synthesize(self, text: str) -> np.ndarray:
        line = self.pinyin_text(text)
        if not line:
            return np.zeros(0, np.float32)
        command = [self.settings.binary, "-v", self.settings.voice, "-s", str(self.settings.words_per_minute), "--stdout"]
        try:
            result = subprocess.run(
                command, input=line.encode(), capture_output=True, timeout=self.settings.timeout_s, check=True
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            raise EspeakError(f"espeak-ng failed on a {len(line)}-character line: {error}; check 'espeak-ng --voices'") from error
        return _wav_samples(result.stdout)


def _wav_samples(wav: bytes) -> np.ndarray:
    # espeak-ng writes a streaming WAV whose size fields are placeholders: find the data chunk.
    marker = wav.find(b"data", 12)
    if not wav.startswith(b"RIFF") or marker < 0:
        raise EspeakError(f"espeak-ng output is not a WAV ({len(wav)} bytes); check the espeak-ng install")
    pcm = wav[marker + 8 :]
    pcm = pcm[: len(pcm) // 2 * 2]
    return (np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0).copy()
