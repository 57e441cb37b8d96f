"""pipecat's stock pipeline on the same audio: every parameter at its default except the model.

``VADProcessor(SileroVADAnalyzer())`` -> ``WhisperSTTService(model=<local whisper base>,
language=ZH, device="cpu", compute_type="int8")`` -> ``LLMUserAggregator(LLMContext())``, fed
real-time-paced 20 ms frames; each ``LLMContextFrame`` the aggregator pushes is a user turn
reaching the LLM. Times are taken in-process (no network), which favours stock slightly.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import Frame, InputAudioRawFrame, LLMContextFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregator
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language
from pipecat.workers.runner import WorkerRunner

from evals.latency.script import Utterance

FRAME = 320
AFTER_S = 4.5  # listen this long after each utterance (stock's smart-turn fallback is 3 s)


@dataclass
class StockTurn:
    kind: str
    turn_complete_s: float | None
    turns: int
    cut_off: bool

    @property
    def split(self) -> bool:
        """The utterance reached the context as anything but one turn, or was cut off."""
        return self.turns != 1 or self.cut_off


class _TurnSink(FrameProcessor):
    def __init__(self) -> None:
        super().__init__()
        self.turn_times: list[float] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame) and not frame.speculation:
            self.turn_times.append(time.monotonic())
        await self.push_frame(frame, direction)


class _Source(FrameProcessor):
    """Passes pipeline frames through; the benchmark pushes caller audio from here."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


async def run_stock(whisper_dir: Path, utterances: list[Utterance]) -> list[StockTurn]:
    sink = _TurnSink()
    source = _Source()
    pipeline = Pipeline([
        source,
        VADProcessor(vad_analyzer=SileroVADAnalyzer()),
        WhisperSTTService(model=str(whisper_dir), language=Language.ZH, device="cpu", compute_type="int8"),
        LLMUserAggregator(LLMContext()),
        sink,
    ])
    worker = PipelineWorker(pipeline, params=PipelineParams(audio_in_sample_rate=16000), idle_timeout_secs=None,
                            enable_rtvi=False)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    run = asyncio.create_task(runner.run())
    await asyncio.sleep(1.0)
    clock = time.monotonic()

    async def play(pcm: np.ndarray) -> tuple[float, float]:
        nonlocal clock
        start = clock
        for i in range(0, len(pcm), FRAME):
            chunk = pcm[i:i + FRAME]
            if len(chunk) < FRAME:
                chunk = np.pad(chunk, (0, FRAME - len(chunk)))
            await source.push_frame(InputAudioRawFrame(chunk.tobytes(), 16000, 1))
            clock += FRAME / 16000
            await asyncio.sleep(max(0.0, clock - time.monotonic()))
        return start, clock

    results = []
    silence = np.zeros(int(AFTER_S * 16000), np.int16)
    try:
        await play(np.zeros(16000, np.int16))
        for utterance in utterances:
            start, end = await play(utterance.audio)
            await play(silence)
            turns = [t for t in sink.turn_times if t >= start]
            cut_off = False
            if utterance.kind == "fragment":
                cont = start + utterance.last_part_start_s
                cut_off = any(cont - 1.5 <= t < cont for t in turns)
            results.append(StockTurn(utterance.kind, (turns[-1] - end) if turns else None, len(turns), cut_off))
    finally:
        await worker.cancel()
        await asyncio.gather(run, return_exceptions=True)
    return results
