"""Render Mandarin caller speech with the project's own voice (16 kHz int16), for evals and tests."""

from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly

from tts.base import SpeechEngine


def render_caller(voice: SpeechEngine, text: str, *, pad_s: float = 0.3, gain: float = 0.9) -> np.ndarray:
    """``text`` spoken by ``voice``, resampled to 16 kHz, with ``pad_s`` of silence on both sides."""
    audio = voice.synthesize(text)
    if voice.sample_rate != 16000:
        from math import gcd

        g = gcd(16000, voice.sample_rate)
        audio = resample_poly(audio, 16000 // g, voice.sample_rate // g)
    pad = np.zeros(int(pad_s * 16000), np.float32)
    return (np.concatenate([pad, audio, pad]) * 32767 * gain).astype(np.int16)
