"""Assembles one call's pipeline: transport in -> VAD -> whole-turn ASR -> term correction ->
conversation -> TTS -> playout gate -> transport out -> playback tracker. The same assembly serves
the WebSocket endpoint, WebRTC and the CLI.

Turn-taking: the VAD closes segments after a short pause (``VAD_STOP_S``) so that transcripts
arrive while the caller is still mid-turn; ``dialogue.turntaking.EndOfTurnPolicy`` decides from
the words (and smart-turn) how much silence ends the turn, so comma pauses do not split it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import partial

import numpy as np
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.transports.base_transport import BaseTransport
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport

from agent.config import Settings
from agent.conversation import ConversationProcessor, EventSink
from agent.engines import Engines
from agent.metrics import StageProbe, TurnTimer
from agent.term_correction import TermCorrectionProcessor
from asr.incremental import IncrementalSettings
from asr.service import WhisperTurnSTT
from asr.short_window import ShortWindowTranscriber
from asr.transcriber import WhisperTranscriber
from dialogue.base import Dialogue
from dialogue.turntaking import BargeInPolicy, EndOfTurnPolicy
from dialogue.turntaking.playout import PlayoutGate
from dialogue.turntaking.smart_turn import SmartTurnModel
from medical_terms import hotwords, with_answer_hints
from transport.webrtc_audio import TrackHold, webrtc_output_track
from tts.playback import PlaybackTracker, SpokenText
from tts.resample import StreamResampler
from tts.service import MedvoiceTTSService

# Segments close after this pause; the turn itself ends by EndOfTurnPolicy (0.45-2.2 s).
VAD_STOP_S = 0.2
VAD_START_S = 0.1
# pipecat's default 0.6 gates on loudness over a 400 ms rolling window, smoothed: speech onset was
# confirmed 320 ms late (barge-in and resumed speech both wait on it); at 0.2 with a 0.1 s start
# it is 120 ms. Silero's confidence (0.7) still has to agree, so quiet noise does not pass.
VAD_MIN_VOLUME = 0.2

# How far agent audio may run ahead of real time into the output transport (``PlayoutGate``).
# A WebRTC track plays out in real time behind a one-chunk queue, so all audio released ahead is
# still heard after a barge-in pause: at 80 ms the caller heard the agent stop 270 ms after their
# onset, at 40 ms 215 ms (p50, 4 barge-ins each). The WebSocket client buffers on its side.
PLAYOUT_LEAD_S = 0.08
WEBRTC_PLAYOUT_LEAD_S = 0.04

_shared: weakref.WeakKeyDictionary[Engines, tuple[WhisperTranscriber, SmartTurnModel]] = weakref.WeakKeyDictionary()


def turn_models(engines: Engines) -> tuple[WhisperTranscriber, SmartTurnModel]:
    """The call decoder (``Settings.asr_decoder``) and the smart-turn model, loaded once per ``Engines``."""
    if engines not in _shared:
        transcriber = engines.transcriber
        if engines.settings.asr_decoder == "short_window" and not isinstance(transcriber, ShortWindowTranscriber):
            transcriber = ShortWindowTranscriber(transcriber.settings)
        smart_turn = SmartTurnModel(engines.turn_model)
        _warm_up(engines, transcriber, smart_turn)
        _shared[engines] = (transcriber, smart_turn)
    return _shared[engines]


def _warm_up(engines: Engines, transcriber: WhisperTranscriber, smart_turn: SmartTurnModel) -> None:
    """One real decode and one smart-turn run: the first call's turns took 150 ms longer without."""
    speech = engines.voice.synthesize("您好，我头疼。")
    resampler = StreamResampler(engines.voice.sample_rate, 16000)
    speech = np.concatenate([resampler.process(speech), resampler.flush()])
    transcriber.transcribe(speech)
    smart_turn.probability(speech)


def _decodes_at_pauses(settings: Settings) -> bool:
    # The pause decode is the short-window decoder's: with the 30 s stock decoder it would cost
    # more than it saves.
    return settings.asr_incremental and settings.asr_decoder == "short_window"


def _decide(policy: EndOfTurnPolicy, text: str, probability: Callable[[], float] | None) -> tuple[float, str]:
    call = policy.decide(text, probability)
    return call.wait_s, call.reason


def build_pipeline(
    engines: Engines,
    transport: BaseTransport,
    dialogue: Dialogue,
    *,
    on_event: EventSink | None = None,
    silence_timeout_s: float = 7.0,
    end_of_turn: EndOfTurnPolicy | None = None,
    barge_in: BargeInPolicy | None = None,
    timer: TurnTimer | None = None,
) -> Pipeline:
    """One pipeline per call; ``engines`` are shared, every processor here is per call."""
    transcriber, smart_turn = turn_models(engines)
    policy = end_of_turn or EndOfTurnPolicy()
    timer = timer or TurnTimer()
    vad = VADProcessor(
        vad_analyzer=SileroVADAnalyzer(
            params=VADParams(start_secs=VAD_START_S, stop_secs=VAD_STOP_S, min_volume=VAD_MIN_VOLUME)
        )
    )
    # Bias Whisper towards the flow's vocabulary: without it "胸口疼" comes out as "胸口腾".
    program = getattr(getattr(dialogue, "program", None), "id", None)  # followup_hypertension ...
    flow_hotwords = hotwords("_".join(filter(None, [dialogue.flow, program])))
    stt = WhisperTurnSTT(
        transcriber,
        # The open question's answer words first: short answers (没有, 偶尔) need them most.
        hotwords=lambda: with_answer_hints(dialogue.asr_hints(), flow_hotwords),
        decide=partial(_decide, policy),
        turn_model=smart_turn.probability,
        vad_stop_s=VAD_STOP_S,
        max_turn_s=engines.settings.asr_max_utterance_s,
        on_turn_end=timer.speech_ended,
        incremental=IncrementalSettings() if _decodes_at_pauses(engines.settings) else None,
    )
    webrtc = isinstance(transport, SmallWebRTCTransport)
    gate = (
        PlayoutGate(lead_s=WEBRTC_PLAYOUT_LEAD_S, output_hold=TrackHold(webrtc_output_track(transport)))
        if webrtc else PlayoutGate(lead_s=PLAYOUT_LEAD_S)
    )
    tts = MedvoiceTTSService(
        engines.voice, sample_rate=engines.settings.output_sample_rate, cache=engines.speech_cache
    )
    tracker = PlaybackTracker(tts.ledger)

    @tracker.event_handler("on_spoken_text")
    async def _heard(_tracker: PlaybackTracker, spoken: SpokenText) -> None:
        if spoken.interrupted:
            dialogue.heard(spoken.full_text, spoken.text)

    conversation = ConversationProcessor(
        dialogue,
        silence_timeout_s=silence_timeout_s,
        on_event=on_event,
        barge_in=barge_in or BargeInPolicy(),
        gate=gate,
        timer=timer,
        vad_start_s=VAD_START_S,
    )
    return Pipeline(
        [
            transport.input(),
            vad,
            stt,
            TermCorrectionProcessor(engines.correct_text),
            conversation,
            tts,
            StageProbe(timer, "tts_audio"),
            gate,
            transport.output(),
            StageProbe(timer, "audio_sent"),
            tracker,
        ]
    )
