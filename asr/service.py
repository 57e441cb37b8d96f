"""The pipecat STT processor: VAD-segmented utterances -> ``WhisperTranscriber`` -> final transcript.

Audio between the VAD's speech start and stop is buffered by pipecat's ``SegmentedSTTService``;
each segment is transcribed off the event loop. An empty result (silence, noise, a hallucination
caught by the transcriber's guards) produces no ``TranscriptionFrame``: downstream, the dialogue's
silence timer handles a caller who said nothing intelligible.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable

import numpy as np
from pipecat.frames.frames import Frame, TranscriptionFrame
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import SegmentedSTTService
from pipecat.transcriptions.language import Language
from pipecat.utils.time import time_now_iso8601

from asr.transcriber import SAMPLE_RATE, WhisperTranscriber

logger = logging.getLogger("medvoice.asr")


class WhisperSegmentedSTT(SegmentedSTTService):
    """Transcribes each VAD segment with the shared Whisper model.

    Args:
        transcriber: The loaded model (shared by all calls; CTranslate2 is thread-safe).
        hotwords: Returns the current hotword string (the flow's context), or None.
    """

    def __init__(
        self,
        transcriber: WhisperTranscriber,
        *,
        hotwords: Callable[[], str | None] | None = None,
        **kwargs,
    ) -> None:
        kwargs.setdefault("settings", STTSettings(model=str(transcriber.settings.model_dir), language=Language.ZH))
        super().__init__(sample_rate=SAMPLE_RATE, trailing_silence_secs=0.2, **kwargs)
        self._transcriber = transcriber
        self._hotwords = hotwords or (lambda: None)

    @property
    def wants_wav_segments(self) -> bool:
        return False

    def can_generate_metrics(self) -> bool:
        return True

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
        await self.start_processing_metrics()
        transcript = await asyncio.to_thread(self._transcriber.transcribe, samples, self._hotwords())
        await self.stop_processing_metrics()
        logger.debug("segment %.2fs -> %d chars", transcript.audio_s, len(transcript.text))
        if transcript.text:
            yield TranscriptionFrame(
                transcript.text, self._user_id, time_now_iso8601(), Language.ZH, result=transcript
            )
