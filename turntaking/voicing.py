"""When the caller was last audible, frame by frame, to time the end of a turn more exactly than the VAD.

The VAD reports speech stopped ``stop_s`` after the fact and speech started again only after its
start delay (about 120 ms), so a turn decided from VAD events alone is timed from an estimated
end and can be committed just as the caller resumes after a long clause pause. ``VoicingClock``
reads the level of every 20 ms input frame: the last frame loud enough to be speech gives the
real end of speech, and a loud frame after that end says the caller is speaking again before the
VAD has confirmed it. "Loud enough" is relative to the caller's own speech level in this call
(a fraction of a slow running average of frames the VAD called speech), with an absolute floor,
so line noise between words does not count on a noisy line.

It also counts the audio it was fed (``heard_s``): a silence is only as long as the audio that
arrived after the end of speech, which is less than the time that passed when packets come late.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

BLOCK_MS = 5  # the resolution of voicing within a frame


@dataclass(frozen=True)
class VoicingSettings:
    """Parameters:
    floor_rms: Frames quieter than this (int16 RMS, about -44 dBFS) are never voiced.
    relative: A frame is voiced above this fraction of the caller's running speech level.
    level_smoothing: Weight of each new speech frame in the running level.
    """

    floor_rms: float = 200.0
    relative: float = 0.15
    level_smoothing: float = 0.05

    def __post_init__(self) -> None:
        if self.floor_rms < 0:
            raise ValueError(f"floor_rms must be >= 0, got {self.floor_rms}")
        if not 0 < self.relative < 1 or not 0 < self.level_smoothing <= 1:
            raise ValueError(f"relative and level_smoothing must be in (0, 1), got {self.relative}, "
                             f"{self.level_smoothing}")


class VoicingClock:
    """Feed every input frame with its arrival time; ask when the caller was last voiced."""

    def __init__(self, settings: VoicingSettings | None = None) -> None:
        self.settings = settings or VoicingSettings()
        self._speech_level = 0.0
        self.heard_s = 0.0  # seconds of audio fed so far
        # The last ~5 s of voiced frames: (end time, seconds long, ``heard_s`` at their end).
        self._voiced: deque[tuple[float, float, float]] = deque(maxlen=250)

    @property
    def last_voiced(self) -> float | None:
        """When the last voiced frame ended (monotonic seconds), or None before any."""
        return self._voiced[-1][0] if self._voiced else None

    @property
    def threshold(self) -> float:
        return max(self.settings.floor_rms, self.settings.relative * self._speech_level)

    def add(self, pcm: bytes, end_time: float, *, in_speech: bool, sample_rate: int = 16000) -> None:
        """One int16 mono frame that ended at ``end_time`` (monotonic seconds)."""
        samples = np.frombuffer(pcm, dtype=np.int16)
        if not samples.size:
            return
        self.heard_s += samples.size / sample_rate
        power = np.square(samples, dtype=np.float64)
        rms = float(np.sqrt(np.mean(power)))
        if in_speech and rms > self.settings.floor_rms:
            weight = 1.0 if self._speech_level == 0.0 else self.settings.level_smoothing
            self._speech_level += weight * (rms - self._speech_level)
        # A frame is voiced when any 5 ms of it is: one that holds only a syllable's quiet tail or
        # the next clause's onset is quieter as a whole than its voiced part. By whole-frame RMS,
        # a clause resuming late in a frame 0.60 s after the end of speech went unseen at the
        # 0.62 s wait and the turn was split. Times stay those of frame ends.
        block = max(1, sample_rate * BLOCK_MS // 1000)
        whole = samples.size // block * block
        blocks = power[:whole].reshape(-1, block).mean(axis=1) if whole else power.mean(keepdims=True)
        voiced = int(np.count_nonzero(np.sqrt(blocks) > self.threshold))
        if voiced:
            self._voiced.append((end_time, voiced * samples.size / sample_rate / len(blocks), self.heard_s))

    def speech_end(self, vad_stop_time: float, vad_stop_s: float) -> tuple[float, float]:
        """The end of speech for a VAD stop at ``vad_stop_time`` (all frames fed up to then), as
        (monotonic time, ``heard_s`` at that point): the last voiced frame when it lies in the
        VAD's stop window (give or take a frame), else the VAD's own estimate."""
        estimate = vad_stop_time - vad_stop_s
        if self._voiced and estimate - 0.1 <= self._voiced[-1][0] <= vad_stop_time:
            last_voiced, _seconds, heard_s = self._voiced[-1]
            return last_voiced, heard_s
        return estimate, max(0.0, self.heard_s - vad_stop_s)

    def voiced_since(self, time: float) -> bool:
        """True when a voiced frame ended after ``time``."""
        return self.last_voiced is not None and self.last_voiced > time

    def voiced_s_since(self, time: float) -> float:
        """Seconds of voiced frames that ended after ``time`` (within the last ~5 s)."""
        return sum(seconds for end, seconds, _heard_s in self._voiced if end > time)
