"""Speech recognition: faster-whisper services, hotword biasing, hallucination guards.

The names load lazily so that importing one light module (the text guard, the splitter) does not
import faster-whisper.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "SAMPLE_RATE": "asr.transcriber",
    "IncrementalSettings": "asr.incremental",
    "RelisteningTranscriber": "asr.relisten",
    "ShortWindowSettings": "asr.short_window",
    "ShortWindowTranscriber": "asr.short_window",
    "SignalGuard": "asr.signal_guard",
    "SignalGuardSettings": "asr.signal_guard",
    "Transcript": "asr.transcriber",
    "TurnDecoder": "asr.service",
    "TurnDecoding": "asr.service",
    "WhisperSettings": "asr.transcriber",
    "WhisperTranscriber": "asr.transcriber",
    "widen": "asr.narrowband",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'asr' has no attribute {name!r}")
