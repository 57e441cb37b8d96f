"""Real-time pacing for transports that have no sound card: sleep as long as the audio lasts."""

from __future__ import annotations

import asyncio
import time


class PlaybackClock:
    """Keeps a writer from running ahead of real time by more than ``lead_s``.

    Each ``await advance(seconds)`` accounts for that much audio and sleeps until the wall clock
    is within ``lead_s`` of the audio time. After an idle gap the clock restarts from now.
    """

    def __init__(self, lead_s: float = 0.02) -> None:
        self._lead_s = lead_s
        self._audio_end: float | None = None

    async def advance(self, seconds: float) -> None:
        now = time.monotonic()
        if self._audio_end is None or self._audio_end < now:
            self._audio_end = now
        self._audio_end += seconds
        delay = self._audio_end - now - self._lead_s
        if delay > 0:
            await asyncio.sleep(delay)

    def reset(self) -> None:
        """Forget queued audio (after an interruption the next audio starts now)."""
        self._audio_end = None
