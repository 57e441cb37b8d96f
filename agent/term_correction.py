"""The term-correction step between ASR and dialogue: rewrites each final transcript's text.

The correction function is injected (``medical_terms`` term correction + number normalisation in
the service), so this processor only owns where in the pipeline it happens. The raw text is kept
on the frame's ``result`` for auditing recognition errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pipecat.frames.frames import Frame, TranscriptionFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


class TermCorrectionProcessor(FrameProcessor):
    """Applies ``correct`` to the text of every final ``TranscriptionFrame``."""

    def __init__(self, correct: Callable[[str], str], **kwargs) -> None:
        super().__init__(**kwargs)
        self._correct = correct

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame) and frame.text:
            corrected = self._correct(frame.text)
            if corrected != frame.text:
                frame = replace(frame, text=corrected, result={"raw": frame.text, "asr": frame.result})
        await self.push_frame(frame, direction)
