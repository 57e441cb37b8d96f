"""What the call pipeline asks of speech recognition: the text of one caller turn, as it grows.

``TurnDecoder`` holds the shared Whisper decoder, the flow's hotwords and whether a turn is
decoded at the caller's pauses (``asr.incremental``). Turn-taking (``turntaking.end_of_turn_processor``)
decides when a turn starts, pauses and ends; at each of those moments it asks the turn's
``TurnDecoding`` for text. Every method blocks (run it off the event loop) and takes the whole
turn so far (float32 16 kHz). An empty text means no words (silence, noise, or a hallucination
caught by the transcriber's guards).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from asr.incremental import IncrementalSettings, IncrementalTranscript
from asr.transcriber import SAMPLE_RATE, Transcript, WhisperTranscriber

__all__ = ["SAMPLE_RATE", "IncrementalSettings", "Transcript", "TurnDecoder", "TurnDecoding"]


class TurnDecoding:
    """The decodes of one caller turn (made by ``TurnDecoder.start``)."""

    def __init__(self, decoder: TurnDecoder) -> None:
        self._decoder = decoder
        settings = decoder.incremental
        self._incremental = (IncrementalTranscript(decoder.transcriber, settings, decoder.hotwords())
                             if settings is not None else None)

    @property
    def reused(self) -> bool:
        """Whether the last ``finish`` returned the pause decode."""
        return self._incremental is not None and self._incremental.reused

    def pause(self, audio: np.ndarray) -> str:
        """The caller went quiet at the end of ``audio``: decode now, kept for ``finish``; the text."""
        assert self._incremental is not None, "pause decodes need IncrementalSettings"
        return self._incremental.pause(audio)

    def update(self, audio: np.ndarray) -> str:
        """The caller is still speaking: the text of the turn so far (an interim)."""
        assert self._incremental is not None, "interim decodes need IncrementalSettings"
        return self._incremental.update(audio)

    def finish(self, audio: np.ndarray) -> Transcript:
        """The transcript of the whole turn ``audio``."""
        if self._incremental is not None:
            return self._incremental.finish(audio)
        return self._decoder.transcriber.transcribe(audio, self._decoder.hotwords())


class TurnDecoder:
    """Decodes caller turns with the shared decoder, biased towards the flow's words.

    Args:
        transcriber: The shared Whisper decoder (a ``ShortWindowTranscriber`` for speed).
        hotwords: Returns the current hotword string, or None.
        incremental: Decode the turn at the caller's pauses (and, when set, every
            ``interim_every_s`` of speech), so the final is ready before the VAD's stop. None:
            decode at the end of the turn only.
    """

    def __init__(
        self,
        transcriber: WhisperTranscriber,
        *,
        hotwords: Callable[[], str | None] | None = None,
        incremental: IncrementalSettings | None = None,
    ) -> None:
        self.transcriber = transcriber
        self.incremental = incremental
        self._hotwords = hotwords or (lambda: None)

    def hotwords(self) -> str | None:
        return self._hotwords()

    def start(self) -> TurnDecoding:
        """A new turn (the incremental decodes take the hotwords of this moment)."""
        return TurnDecoding(self)
