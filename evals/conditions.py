"""Harder audio for the speech benchmarks: the caller's words rendered by the project's voice, then
changed the way a deployment changes them (rate, pitch, a phone line, people talking nearby, clipping).

numpy/scipy only. ``clean`` is the plain render every audio figure used before; the others are::

    fast / slow          speaking rate +20% / -20% (the voice's own duration control, pitch kept)
    pitch_up / _down     +3 / -3 semitones (rendered slower/faster, then resampled: duration kept,
                         formants move with the pitch, like a different speaker)
    alaw8k               8 kHz G.711 A-law round trip (16 kHz -> 8 kHz, 8-bit A-law, -> 16 kHz)
    babble               three other rendered utterances mixed in at 10 dB SNR
    clipped              the loudest 2% of samples clipped at full scale (below the signal guard's
                         5% rejection threshold, so the recogniser must cope)
    reverb               a room: the render convolved with a seeded synthetic impulse response
                         (direct path, then exponentially decaying noise, RT60 0.6 s, direct-to-
                         reverberant ratio ~3 dB; Polack's statistical model, numpy/scipy only)
    hesitant             the caller hesitates: fillers (嗯, 那个, 就是) and a restart (我我，我…)
                         put into the words before they are rendered; the words asked about are
                         still all there (text-level, so a reference transcript is the plain text)

Nothing here is used to train anything: it is for measuring.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np
from scipy.signal import fftconvolve, resample_poly

SAMPLE_RATE = 16000
BABBLE_TEXTS = (
    "今天菜市场的白菜好便宜，我买了两棵回来包饺子",
    "明天下午三点在小区门口集合，大家别迟到了",
    "他们家孩子考上大学了，请我们周末去吃饭",
    "这趟公交车到火车站吗，要坐几站才到",
)
"""Everyday sentences (no medical words) rendered by the same voice as the babble."""


@dataclass(frozen=True)
class Condition:
    """How one audio condition changes the render.

    Parameters:
        name: Its name on the command line and in results (``clean``, ``fast``...).
        speed: Voice speaking-rate factor (1.2 = 20% faster).
        pitch_semitones: Pitch shift (duration kept).
        alaw: 8 kHz G.711 A-law round trip.
        babble_snr_db: Mix in babble at this SNR (None: none).
        clip_fraction: Share of samples driven to full scale (0: none).
        reverb_rt60_s: Room reverberation time of a synthetic impulse response (0: none).
        hesitant: Fillers and a restart are put into the words before rendering (:func:`hesitate`).
    """

    name: str
    speed: float = 1.0
    pitch_semitones: float = 0.0
    alaw: bool = False
    babble_snr_db: float | None = None
    clip_fraction: float = 0.0
    reverb_rt60_s: float = 0.0
    hesitant: bool = False

    def signature(self) -> dict[str, object]:
        """What the audio depends on (for cache keys)."""
        return asdict(self)

    def words(self, text: str) -> str:
        """What the caller says under this condition (``hesitant`` changes the words; others don't)."""
        return hesitate(text) if self.hesitant else text

    @property
    def render_speed(self) -> float:
        """The voice speed to render at: a pitch shift first stretches by the pitch ratio."""
        return self.speed / self.pitch_ratio

    @property
    def pitch_ratio(self) -> float:
        return float(2 ** (self.pitch_semitones / 12))


CONDITIONS: dict[str, Condition] = {
    c.name: c
    for c in (
        Condition("clean"),
        Condition("fast", speed=1.2),
        Condition("slow", speed=0.8),
        Condition("pitch_up", pitch_semitones=3.0),
        Condition("pitch_down", pitch_semitones=-3.0),
        Condition("alaw8k", alaw=True),
        Condition("babble", babble_snr_db=10.0),
        Condition("clipped", clip_fraction=0.02),
        Condition("reverb", reverb_rt60_s=0.6),
        Condition("hesitant", hesitant=True),
    )
}


def apply(
    condition: Condition, audio: np.ndarray, babble: Callable[[int], np.ndarray] | None = None
) -> np.ndarray:
    """``audio`` (float32, 16 kHz, rendered at ``condition.render_speed``) under ``condition``.

    ``babble(n)`` returns ``n`` samples of babble (needed only when the condition mixes it in).
    """
    out = np.asarray(audio, np.float32)
    if condition.pitch_semitones:
        out = _resample(out, Fraction(1 / condition.pitch_ratio).limit_denominator(200))
    if condition.babble_snr_db is not None:
        if babble is None:
            raise ValueError(f"condition {condition.name} needs babble audio")
        out = mix_at_snr(out, babble(len(out)), condition.babble_snr_db)
    if condition.reverb_rt60_s:
        out = reverberate(out, condition.reverb_rt60_s)
    if condition.clip_fraction:
        out = clip(out, condition.clip_fraction)
    if condition.alaw:
        out = _resample(alaw_decode(alaw_encode(_resample(out, Fraction(1, 2)))), Fraction(2, 1))
    return out.astype(np.float32)


def _resample(audio: np.ndarray, factor: Fraction) -> np.ndarray:
    """``audio`` resampled to ``factor`` times as many samples (played at the same rate, a factor
    under 1 raises the pitch)."""
    return np.asarray(resample_poly(audio, factor.numerator, factor.denominator), np.float32)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech + noise`` with the noise scaled to ``snr_db`` below the speech (by RMS), peak-limited
    to full scale by scaling both down together (no clipping added)."""
    speech_rms = float(np.sqrt(np.mean(speech**2))) or 1e-9
    noise_rms = float(np.sqrt(np.mean(noise**2))) or 1e-9
    mixed = speech + noise * (speech_rms / noise_rms) * 10 ** (-snr_db / 20)
    peak = float(np.max(np.abs(mixed))) if len(mixed) else 0.0
    return mixed / peak * 0.95 if peak > 0.95 else mixed


def clip(audio: np.ndarray, fraction: float) -> np.ndarray:
    """Amplify so that the loudest ``fraction`` of samples exceed full scale, then clip them."""
    if not len(audio):
        return audio
    level = float(np.quantile(np.abs(audio), 1 - fraction)) or 1.0
    return np.clip(audio / level, -1.0, 1.0)


def room_impulse_response(rt60_s: float, seed: int = 0, direct_to_reverberant_db: float = 3.0) -> np.ndarray:
    """A synthetic room impulse response at 16 kHz: a unit direct path, silence for the first
    reflection's delay (5 ms), then Gaussian noise whose envelope falls 60 dB in ``rt60_s`` (Polack's
    statistical room model), scaled so the direct path is ``direct_to_reverberant_db`` louder than
    the tail. Seeded: the same room every run."""
    rng = np.random.default_rng(seed)
    length = int(rt60_s * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60_s)
    tail[: int(0.005 * SAMPLE_RATE)] = 0.0
    tail *= 10 ** (-direct_to_reverberant_db / 20) / (float(np.sqrt(np.sum(tail**2))) or 1.0)
    tail[0] = 1.0
    return tail.astype(np.float32)


def reverberate(audio: np.ndarray, rt60_s: float) -> np.ndarray:
    """``audio`` played in a room (:func:`room_impulse_response`), same length, the loudness of the
    dry signal kept (RMS) and peaks limited to full scale."""
    if not len(audio):
        return audio
    wet = fftconvolve(audio, room_impulse_response(rt60_s))[: len(audio)]
    dry_rms = float(np.sqrt(np.mean(audio**2))) or 1e-9
    wet_rms = float(np.sqrt(np.mean(wet**2))) or 1e-9
    wet *= dry_rms / wet_rms
    peak = float(np.max(np.abs(wet)))
    return (wet / peak * 0.95 if peak > 0.95 else wet).astype(np.float32)


_FILLERS = ("嗯，", "那个，", "就是，")
_CLAUSE = re.compile(r"(?<=[，,。！？!?；;])")


def hesitate(text: str) -> str:
    """``text`` as a hesitant caller says it: a filler before every other clause (嗯，/那个，/就是，
    in turn) and the first clause restarted (its first character said twice: 我我，我胸口疼).
    Deterministic; every original character is kept, in order."""
    clauses = [c for c in _CLAUSE.split(text) if c]
    if not clauses:
        return text
    out = []
    for index, clause in enumerate(clauses):
        if index == 0 and len(clause) > 2:
            clause = clause[0] + clause[0] + "，" + clause
        elif index % 2 == 1:
            clause = _FILLERS[(index // 2) % len(_FILLERS)] + clause
        out.append(clause)
    return "".join(out)


_A = 87.6


def alaw_encode(audio: np.ndarray) -> np.ndarray:
    """G.711 A-law companding (the continuous law) quantised to 8 bits: int8 codes in -128..127."""
    x = np.clip(np.asarray(audio, np.float64), -1.0, 1.0)
    magnitude = np.abs(x)
    small = magnitude < 1 / _A
    companded = np.where(small, _A * magnitude, 1 + np.log(np.maximum(_A * magnitude, 1e-12))) / (
        1 + np.log(_A)
    )
    return np.clip(np.round(np.sign(x) * companded * 127), -128, 127).astype(np.int8)


def alaw_decode(codes: np.ndarray) -> np.ndarray:
    """The inverse of :func:`alaw_encode` (float32 in -1..1)."""
    y = np.asarray(codes, np.float64) / 127
    magnitude = np.abs(y) * (1 + np.log(_A))
    linear = np.where(magnitude < 1, magnitude / _A, np.exp(magnitude - 1) / _A)
    return (np.sign(y) * linear).astype(np.float32)


def parse_conditions(value: str) -> list[Condition]:
    """``clean,fast,alaw8k`` (or ``all``) -> the conditions, in order.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    names = list(CONDITIONS) if value.strip() == "all" else [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown or not names:
        raise ValueError(
            f"unknown audio condition(s) {unknown or value!r}; choose from {', '.join(CONDITIONS)} or all"
        )
    return [CONDITIONS[n] for n in dict.fromkeys(names)]
