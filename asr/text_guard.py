"""Decoder output that must not be trusted: repetition loops and text too long for the audio.

A short-window decode sometimes loops (高压150 低压95 低压95 低压95…), stops after a word or two
(不算 for a 2 s sentence), ends inside a multi-byte character (动态新电�) or guesses with low
confidence; the fast path checks its text with ``degenerate`` and falls back to the stock
decoder when it answers a reason.
"""

from __future__ import annotations

import re
import zlib

# Mandarin speech runs at about 4-6 characters a second; 12 leaves room for fast talkers.
MAX_CHARS_PER_S = 12.0
MIN_CHARS_PER_S = 2.0
MIN_AVG_LOGPROB = -1.0
MAX_COMPRESSION_RATIO = 2.4


def repeated_span(text: str, min_repeats: int = 3) -> str | None:
    """The first span of 1-12 characters that occurs ``min_repeats`` times in a row."""
    for length in range(1, 13):
        match = re.search(rf"(.{{{length}}})\1{{{min_repeats - 1},}}", text)
        if match:
            return match.group(1)
    return None


def degenerate(text: str, audio_s: float, avg_logprob: float = 0.0) -> str | None:
    """Why ``text`` cannot be the transcript of ``audio_s`` seconds of speech, or None.

    ``audio_s`` is the speech span (VAD), ``avg_logprob`` the decoder's mean token log-probability.
    """
    core = re.sub(r"[\s，。,.!！?？、﹑﹐]", "", text)
    if "\ufffd" in text:
        return "broken_character"
    if len(core) > MAX_CHARS_PER_S * max(audio_s, 1.0):
        return "too_long"
    if audio_s >= 1.5 and len(core) < MIN_CHARS_PER_S * audio_s:
        return "too_short"
    if avg_logprob < MIN_AVG_LOGPROB:
        return "low_confidence"
    span = repeated_span(core)
    if span is not None and not span.isdigit():
        return "repetition"
    if len(core) > 12 and len(text.encode()) / len(zlib.compress(text.encode())) > MAX_COMPRESSION_RATIO:
        return "compression"
    return None
