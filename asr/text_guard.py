"""Decoder output that must not be trusted: repetition loops and text too long for the audio.

A short-window decode sometimes loops (高压150 低压95 低压95 低压95…); the fast path checks its
text with ``degenerate`` and falls back to the stock decoder when it answers a reason.
"""

from __future__ import annotations

import re
import zlib

# Mandarin speech runs at about 4-6 characters a second; 12 leaves room for fast talkers.
MAX_CHARS_PER_S = 12.0
MAX_COMPRESSION_RATIO = 2.4


def repeated_span(text: str, min_repeats: int = 3) -> str | None:
    """The first span of 1-12 characters that occurs ``min_repeats`` times in a row (4 for one char)."""
    for length in range(1, 13):
        repeats = min_repeats + 1 if length == 1 else min_repeats
        match = re.search(rf"(.{{{length}}})\1{{{repeats - 1},}}", text)
        if match:
            return match.group(1)
    return None


def degenerate(text: str, audio_s: float) -> str | None:
    """Why ``text`` cannot be the transcript of ``audio_s`` seconds of speech, or None."""
    core = re.sub(r"[\s，。,.!！?？、]", "", text)
    if len(core) > MAX_CHARS_PER_S * max(audio_s, 1.0):
        return "too_long"
    span = repeated_span(core)
    if span is not None and not span.isdigit():
        return "repetition"
    if len(core) > 12 and len(text.encode()) / len(zlib.compress(text.encode())) > MAX_COMPRESSION_RATIO:
        return "compression"
    return None
