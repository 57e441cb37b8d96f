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

from asr.digits import DigitDecoder
from asr.incremental import IncrementalSettings, IncrementalTranscript
from asr.short_window import ShortWindowTranscriber
from asr.transcriber import SAMPLE_RATE, Transcript, WhisperTranscriber
from medical_terms.confidence import Confidence

__all__ = ["SAMPLE_RATE", "Confidence", "IncrementalSettings", "Transcript", "TurnDecoder", "TurnDecoding"]


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
        """The transcript of the whole turn ``audio`` (digits only while the flow asks for a value
        digit by digit)."""
        digits = self._decoder.digit_decoder()
        if digits is not None:
            return digits.transcribe(audio)
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
        digits: Whether the flow now asks for a number digit by digit (``asr.digits`` decodes
            the final then; needs the short-window decoder).
    """

    def __init__(
        self,
        transcriber: WhisperTranscriber,
        *,
        hotwords: Callable[[], str | None] | None = None,
        incremental: IncrementalSettings | None = None,
        digits: Callable[[], bool] | None = None,
    ) -> None:
        self.transcriber = transcriber
        self.incremental = incremental
        self._hotwords = hotwords or (lambda: None)
        self._digits = digits or (lambda: False)
        self._digit_decoder: DigitDecoder | None = None

    def digit_decoder(self) -> DigitDecoder | None:
        """The digit-only decoder when the flow asks for digits now (and the decoder can), else None."""
        if not self._digits() or not isinstance(self.transcriber, ShortWindowTranscriber):
            return None
        if self._digit_decoder is None:
            self._digit_decoder = DigitDecoder(self.transcriber)
        return self._digit_decoder

    def hotwords(self) -> str | None:
        return self._hotwords()

    def start(self) -> TurnDecoding:
        """A new turn (the incremental decodes take the hotwords of this moment)."""
        return TurnDecoding(self)
