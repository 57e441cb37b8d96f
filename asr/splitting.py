"""Split audio longer than a window at its quietest moments, so nothing is dropped.

The Whisper encoder sees at most 30 s, and the pipeline caps an utterance (60 s by default); a
longer stretch is cut into pieces at the lowest-energy 100 ms frame of each window's last third,
so that a cut falls in a pause rather than inside a word where possible.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
_FRAME = SAMPLE_RATE // 10


def split_long_audio(audio: np.ndarray, max_s: float, sample_rate: int = SAMPLE_RATE) -> list[np.ndarray]:
    """Pieces of ``audio`` each at most ``max_s`` seconds long, in order, covering every sample.

    Raises:
        ValueError: ``max_s`` is under one second.
    """
    if max_s < 1.0:
        raise ValueError(f"max_s must be at least 1 s, got {max_s}")
    limit = int(max_s * sample_rate)
    pieces, start = [], 0
    while len(audio) - start > limit:
        window = audio[start:start + limit]
        search_from = (2 * limit // 3) // _FRAME * _FRAME
        frames = window[search_from:search_from + (limit - search_from) // _FRAME * _FRAME].reshape(-1, _FRAME)
        quietest = int(np.argmin(np.mean(np.square(frames, dtype=np.float64), axis=1)))
        cut = search_from + quietest * _FRAME + _FRAME // 2
        pieces.append(audio[start:start + cut])
        start += cut
    pieces.append(audio[start:])
    return pieces
