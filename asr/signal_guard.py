"""Audio that must give an empty transcript: silence, pure noise, heavy clipping.

Whisper invents fluent sentences (often the prompt, or 谢谢观看) when it hears no speech, so the
audio is checked before decoding: too quiet, mostly saturated samples, or no stretch that the
silero VAD (the one bundled with faster-whisper) calls speech means "nothing was said".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class SignalGuardSettings:
    """When audio counts as holding no usable speech.

    Parameters:
        silence_dbfs: RMS level (dB full scale) under which the audio is silence.
        clipped_fraction: Share of samples at full scale above which the audio is too distorted.
        vad_threshold: silero speech probability for a speech frame.
        min_speech_s: Shortest VAD speech stretch that counts as someone talking.
    """

    silence_dbfs: float = -50.0
    clipped_fraction: float = 0.05
    vad_threshold: float = 0.5
    min_speech_s: float = 0.25

    def __post_init__(self) -> None:
        if not 0 < self.clipped_fraction < 1:
            raise ValueError(f"clipped_fraction must be in (0, 1), got {self.clipped_fraction}")
        if not 0 < self.vad_threshold < 1:
            raise ValueError(f"vad_threshold must be in (0, 1), got {self.vad_threshold}")


@dataclass(frozen=True)
class SignalCheck:
    """What the guard found.

    Parameters:
        rejection: ``silence``, ``clipped`` or ``no_speech``; None when the audio holds speech.
        speech_start: First sample of speech (VAD), 0 when rejected.
        speech_end: One past the last sample of speech (VAD), 0 when rejected.
    """

    rejection: str | None
    speech_start: int = 0
    speech_end: int = 0


class SignalGuard:
    """``check(audio)`` says whether float32 16 kHz audio holds speech, and where."""

    def __init__(self, settings: SignalGuardSettings | None = None) -> None:
        self.settings = settings or SignalGuardSettings()
        self._vad_options = VadOptions(
            threshold=self.settings.vad_threshold,
            min_speech_duration_ms=int(self.settings.min_speech_s * 1000),
            min_silence_duration_ms=300,
            speech_pad_ms=0,
        )
        # Load the VAD model now rather than on the first caller's utterance.
        get_speech_timestamps(np.zeros(SAMPLE_RATE // 2, np.float32), self._vad_options)

    def check(self, audio: np.ndarray) -> SignalCheck:
        """Reject silence (RMS under ``silence_dbfs``), clipping and speech-free noise."""
        if audio.size == 0:
            return SignalCheck("silence")
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
        if 20 * np.log10(max(rms, 1e-10)) < self.settings.silence_dbfs:
            return SignalCheck("silence")
        if float(np.mean(np.abs(audio) >= 0.99)) > self.settings.clipped_fraction:
            return SignalCheck("clipped")
        speech = get_speech_timestamps(audio, self._vad_options, sampling_rate=SAMPLE_RATE)
        if not speech:
            return SignalCheck("no_speech")
        return SignalCheck(None, speech[0]["start"], speech[-1]["end"])
