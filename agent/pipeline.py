"""Assembles one call's pipeline: transport in -> VAD -> ASR -> term correction -> conversation
-> TTS -> transport out. The same assembly serves the WebSocket endpoint, WebRTC and the CLI."""

from __future__ import annotations

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.transports.base_transport import BaseTransport
from tts.service import MedvoiceTTSService

from agent.conversation import ConversationProcessor, EventSink
from agent.engines import Engines
from agent.term_correction import TermCorrectionProcessor
from asr.service import WhisperSegmentedSTT
from dialogue.base import Dialogue

# A caller's clause pause in Mandarin is 0.3-0.6 s; closing a segment at 0.2 s (pipecat's default)
# splits sentences in two, so the segment closes after a longer pause.
VAD_STOP_S = 0.6


def build_pipeline(
    engines: Engines,
    transport: BaseTransport,
    dialogue: Dialogue,
    *,
    on_event: EventSink | None = None,
    silence_timeout_s: float = 7.0,
) -> Pipeline:
    """One pipeline per call; ``engines`` are shared, every processor here is per call."""
    vad = VADProcessor(vad_analyzer=SileroVADAnalyzer(params=VADParams(stop_secs=VAD_STOP_S)))
    return Pipeline(
        [
            transport.input(),
            vad,
            WhisperSegmentedSTT(engines.transcriber),
            TermCorrectionProcessor(engines.correct_text),
            ConversationProcessor(dialogue, silence_timeout_s=silence_timeout_s, on_event=on_event),
            MedvoiceTTSService(engines.voice, sample_rate=engines.settings.output_sample_rate),
            transport.output(),
        ]
    )
