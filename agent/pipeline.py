"""Assembles one call's pipeline: transport in -> VAD -> end of turn (decoding the turn with the
ASR) -> term correction -> barge-in -> conversation -> TTS -> playout gate -> transport out ->
playback tracker. The same assembly serves the WebSocket endpoint, WebRTC and the CLI.

Turn-taking lives in ``turntaking``: the VAD closes segments after a short pause so that
transcripts arrive while the caller is still mid-turn, and ``EndOfTurnPolicy`` decides from the
words (and smart-turn) how much silence ends the turn, so comma pauses do not split it. The
playout gate is set from what the transport declares about its output
(``transport.capabilities``), never from its class.
"""

from __future__ import annotations

from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.transports.base_transport import BaseTransport

from agent.config import Settings
from agent.conversation import ConversationProcessor, EventSink
from agent.engines import Engines
from agent.metrics import StageProbe, TurnTimer
from agent.term_correction import TermCorrectionProcessor
from asr import IncrementalSettings, TurnDecoder
from dialogue import Dialogue
from medical_terms import hotwords, with_answer_hints
from transport import audio_output
from tts import MedvoiceTTSService, PlaybackTracker, SpokenText
from turntaking import (
    VAD_START_S,
    VAD_STOP_S,
    BargeInPolicy,
    BargeInProcessor,
    EndOfTurnPolicy,
    EndOfTurnProcessor,
    PlayoutGate,
    TurnTiming,
    playout_lead_s,
)


def _decodes_at_pauses(settings: Settings) -> bool:
    # The pause decode is the short-window decoder's: with the 30 s stock decoder it would cost
    # more than it saves.
    return settings.asr_incremental and settings.asr_decoder == "short_window"


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
    """One pipeline per call; ``engines`` are shared and load nothing here, every processor is per call."""
    policy = end_of_turn or EndOfTurnPolicy()
    timer = timer or TurnTimer(engines.metrics)
    vad = VADProcessor(vad_analyzer=engines.vad.analyzer())
    # Bias Whisper towards the flow's vocabulary: without it "胸口疼" comes out as "胸口腾".
    program = getattr(getattr(dialogue, "program", None), "id", None)  # followup_hypertension ...
    flow_hotwords = hotwords("_".join(filter(None, [dialogue.flow, program])))
    decoder = TurnDecoder(
        engines.transcriber,
        # The open question's answer words first: short answers (没有, 偶尔) need them most.
        hotwords=lambda: with_answer_hints(dialogue.asr_hints(), flow_hotwords),
        incremental=IncrementalSettings() if _decodes_at_pauses(engines.settings) else None,
        digits=dialogue.expects_digits,  # after a failed read-back: digits only (DTMF: the telephony issue)
    )
    end_of_turn_step = EndOfTurnProcessor(
        decoder,
        decide=policy.wait,
        turn_model=engines.smart_turn.submit,
        timing=TurnTiming(vad_stop_s=VAD_STOP_S, max_turn_s=engines.settings.asr_max_utterance_s),
    )
    output = audio_output(transport)
    gate = PlayoutGate(lead_s=playout_lead_s(output.realtime), output_hold=output.queued)
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
        timer=timer,
        metrics=engines.metrics,
    )
    return Pipeline(
        [
            transport.input(),
            vad,
            end_of_turn_step,
            TermCorrectionProcessor(engines.correct_text, correct_heard=getattr(engines.correct_text, "heard", None)),
            BargeInProcessor(barge_in or BargeInPolicy(), vad_start_s=VAD_START_S),
            conversation,
            tts,
            StageProbe(timer, "tts_audio"),
            gate,
            transport.output(),
            StageProbe(timer, "audio_sent"),
            tracker,
        ]
    )
