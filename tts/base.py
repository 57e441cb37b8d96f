"""The speech-engine contract: blocking text -> mono float32 audio at the engine's own rate."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EngineInfo:
    """What an engine is, for /readyz and the README's licence table."""

    name: str
    sample_rate: int
    licence: str


class SpeechEngine(ABC):
    """A voice. ``synthesize`` is blocking (callers run it off the event loop) and thread-safe.

    Engines take raw agent text: they normalise it for speech (numbers, units, symbols) and
    pick polyphone readings themselves, so every caller hears the same reading.
    """

    info: EngineInfo

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @abstractmethod
    def synthesize(self, text: str) -> np.ndarray:
        """Speak one sentence. Returns float32 samples in [-1, 1]; empty array for unspeakable text."""

    def is_speakable(self, text: str) -> bool:
        """Whether ``text`` has anything this voice would say (False for emoji-only text, say)."""
        return bool(text.strip())

    def stream(self, text: str) -> Iterator[np.ndarray]:
        """Speak one sentence as consecutive pieces whose concatenation is ``synthesize(text)``.

        Blocking per piece; an engine that can produce audio incrementally overrides this so the
        first piece comes sooner. The default yields the whole sentence at once.
        """
        audio = self.synthesize(text)
        if audio.size:
            yield audio
