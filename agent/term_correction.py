"""The term-correction step between ASR and dialogue: rewrites each final transcript's text.

The correction function is injected (``medical_terms`` term correction + number normalisation in
the service), so this processor only owns where in the pipeline it happens. The raw text is kept
on the frame's ``result`` for auditing recognition errors. A ``HeardTranscriptionFrame``'s
per-word confidence is carried over to the corrected text, the words correction wrote marked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pipecat.frames.frames import Frame, TranscriptionFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from medical_terms import Confidence
from turntaking import HeardTranscriptionFrame

HeardCorrect = Callable[[str, Confidence], tuple[str, Confidence | None]]
"""Corrects a transcript and carries its confidence over (``medical_terms.confidence.correct_heard``)."""


class TermCorrectionProcessor(FrameProcessor):
    """Applies ``correct`` to the text of every final ``TranscriptionFrame``."""

    def __init__(self, correct: Callable[[str], str], *, correct_heard: HeardCorrect | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self._correct = correct
        self._correct_heard = correct_heard

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, HeardTranscriptionFrame) and frame.text and frame.confidence is not None:
            if self._correct_heard is not None:
                corrected, confidence = self._correct_heard(frame.text, frame.confidence)
            else:
                corrected = self._correct(frame.text)
                confidence = frame.confidence.realign(corrected)
            frame = replace(frame, text=corrected, confidence=confidence,
                            result={"raw": frame.text, "asr": frame.result} if corrected != frame.text else frame.result)
        elif isinstance(frame, TranscriptionFrame) and frame.text:
            corrected = self._correct(frame.text)
            if corrected != frame.text:
                frame = replace(frame, text=corrected, result={"raw": frame.text, "asr": frame.result})
        await self.push_frame(frame, direction)
