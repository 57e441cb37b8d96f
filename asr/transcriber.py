"""faster-whisper transcription of one utterance (blocking; callers run it off the event loop).

Mandarin only, simplified output (steered by a simplified-Chinese initial prompt, then converted
with OpenCC in case Whisper drifts to traditional characters), greedy decoding without previous
text conditioning. Whisper invents text on silence, so callers gate it with VAD, and a result
whose no-speech probability is high, or that only echoes the prompt, is returned empty.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel
from opencc import OpenCC

from medical_terms.confidence import Confidence

logger = logging.getLogger("medvoice.asr")

SAMPLE_RATE = 16000
DEFAULT_PROMPT = "以下是普通话的句子，关于看病、症状和用药。"


@dataclass(frozen=True)
class WhisperSettings:
    """How to load and run Whisper.

    Parameters:
        model_dir: Local CTranslate2 Whisper directory (the locator's, or any size).
        device: ``cpu``, ``cuda`` or ``auto``.
        compute_type: CTranslate2 compute type, e.g. ``int8``.
        beam_size: 1 = greedy (fastest; equal accuracy on short utterances here).
        initial_prompt: Simplified-Chinese prompt; it also keeps the output simplified.
        no_speech_threshold: Above this no-speech probability the result is empty.
        cpu_threads: CTranslate2 intra-op threads (0 = library default).
    """

    model_dir: Path
    device: str = "cpu"
    compute_type: str = "int8"
    beam_size: int = 1
    initial_prompt: str = DEFAULT_PROMPT
    no_speech_threshold: float = 0.6
    cpu_threads: int = 0

    def __post_init__(self) -> None:
        if not (Path(self.model_dir) / "model.bin").is_file():
            raise ValueError(f"Whisper model_dir {self.model_dir} has no model.bin; run 'medvoice models prepare'")
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size}")


@dataclass(frozen=True)
class Transcript:
    """The text of one utterance, with what the guards saw.

    Parameters:
        text: Simplified-Chinese text ("" when nothing was said).
        no_speech_prob: Whisper's probability that the audio held no speech.
        audio_s: Duration of the audio transcribed.
        path: How it was decoded: ``stock`` (faster-whisper ``transcribe``), ``short_window``,
            ``fallback`` (short window rejected, stock used) or ``rejected:<reason>`` (the signal
            guard found no speech: silence, clipped, no_speech).
        confidence: The decoder's probability of each word of ``text`` (None: not measured, as on
            the stock path).
    """

    text: str
    no_speech_prob: float
    audio_s: float
    path: str = "stock"
    confidence: Confidence | None = None


class WhisperTranscriber:
    """Loads one Whisper model and transcribes float32 16 kHz mono utterances."""

    def __init__(self, settings: WhisperSettings) -> None:
        self.settings = settings
        self.model = WhisperModel(
            str(settings.model_dir),
            device=settings.device,
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
        )
        self._to_simplified = OpenCC("t2s")

    def transcribe(self, audio: np.ndarray, hotwords: str | None = None) -> Transcript:
        """Transcribe one utterance. ``hotwords`` biases decoding towards domain terms."""
        audio = np.asarray(audio, dtype=np.float32)
        duration = len(audio) / SAMPLE_RATE
        if duration < 0.1:
            return Transcript("", 1.0, duration)
        segments, _ = self.model.transcribe(
            audio,
            language="zh",
            task="transcribe",
            beam_size=self.settings.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            initial_prompt=self.settings.initial_prompt,
            hotwords=hotwords,
            without_timestamps=True,
            vad_filter=False,
        )
        segments = list(segments)
        if not segments:
            return Transcript("", 1.0, duration)
        no_speech = min(s.no_speech_prob for s in segments)
        text = self._to_simplified.convert("".join(s.text for s in segments).strip())
        if no_speech > self.settings.no_speech_threshold or self._echoes_prompt(text):
            return Transcript("", no_speech, duration)
        return Transcript(text, no_speech, duration)

    def _echoes_prompt(self, text: str) -> bool:
        core = text.strip("，。！？ ")
        return bool(core) and core in self.settings.initial_prompt
