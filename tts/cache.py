"""Audio of sentences already spoken, shared by every call, so a repeated sentence starts at once.

The agent says the same sentences again and again (greetings, the flows' fixed questions, "能再具体说
说吗？"), and the voice is deterministic, so the second time a sentence is needed its audio can
come from memory instead of the acoustic model and the vocoder: the first piece of a reply then
reaches the caller without the 40-80 ms of synthesis that otherwise sits between the end of the
caller's turn and the agent's first sound. The cache is bounded by seconds of audio and forgets
the least recently used sentence first. Only sentences synthesised to the end are kept: a
synthesis cut short by a barge-in never leaves a truncated entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np


class SentenceAudioCache:
    """Thread-safe LRU map from sentence text to its whole float32 audio at the voice's rate.

    Args:
        max_seconds: Total audio kept (300 s at 24 kHz float32 is about 29 MB).
        sample_rate: The voice's rate, to count seconds.
    """

    def __init__(self, *, max_seconds: float = 300.0, sample_rate: int = 24000) -> None:
        if not 0 < max_seconds <= 3600:
            raise ValueError(f"max_seconds must be within 0-3600, got {max_seconds}; 300 holds ~100 sentences")
        self._max_samples = int(max_seconds * sample_rate)
        self._entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._samples = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, sentence: str) -> np.ndarray | None:
        with self._lock:
            audio = self._entries.get(sentence)
            if audio is None:
                self.misses += 1
                return None
            self._entries.move_to_end(sentence)
            self.hits += 1
            return audio

    def put(self, sentence: str, audio: np.ndarray) -> None:
        if not audio.size or audio.size > self._max_samples:
            return
        audio = np.array(audio, dtype=np.float32)  # a private copy: callers may reuse their buffers
        audio.setflags(write=False)
        with self._lock:
            previous = self._entries.pop(sentence, None)
            if previous is not None:
                self._samples -= previous.size
            self._entries[sentence] = audio
            self._samples += audio.size
            while self._samples > self._max_samples:
                _, dropped = self._entries.popitem(last=False)
                self._samples -= dropped.size

    def pieces(self, sentence: str, stream: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """``stream``'s pieces (the synthesis of ``sentence``), kept whole once it has run to the end."""
        kept: list[np.ndarray] = []
        for piece in stream:
            kept.append(piece)
            yield piece
        if kept:
            self.put(sentence, np.concatenate(kept))
