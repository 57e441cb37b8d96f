"""What ``agent.pipeline.build_pipeline`` wires per call: the playout lead and hold by what the
transport declares about its output, and the hotwords Whisper gets (the flow's list, plus the open
follow-up question's answer words)."""

from __future__ import annotations

from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

from agent.pipeline import _decodes_at_pauses, build_pipeline
from dialogue.followup.flow import FollowupDialogue
from dialogue.triage.flow import TriageDialogue
from transport.capabilities import AudioOutput, declare_audio_output
from transport.webrtc import webrtc_call_transport
from transport.webrtc_audio import TrackHold
from turntaking import EndOfTurnProcessor, PlayoutGate
from turntaking.playout import BUFFERED_PLAYOUT_LEAD_S, REALTIME_PLAYOUT_LEAD_S


class _IdleSocket:
    """Stands in for a FastAPI WebSocket: the pipeline is only built here, never run."""

    client_state = application_state = None


def _websocket() -> FastAPIWebsocketTransport:
    return FastAPIWebsocketTransport(_IdleSocket(), FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True))


def _only(pipeline, kind):
    found = [p for p in pipeline.processors if isinstance(p, kind)]
    assert len(found) == 1
    return found[0]


async def test_webrtc_calls_release_less_audio_ahead_than_websocket_calls(engines):
    # A WebRTC track plays out in real time, so audio released ahead is still heard after a pause.
    assert REALTIME_PLAYOUT_LEAD_S < BUFFERED_PLAYOUT_LEAD_S
    connection = SmallWebRTCConnection()
    try:
        rtc = webrtc_call_transport(connection, output_sample_rate=16000)
        rtc_gate = _only(build_pipeline(engines, rtc, TriageDialogue()), PlayoutGate)
        assert rtc_gate.lead_s == REALTIME_PLAYOUT_LEAD_S
        # ... and what the WebRTC track has queued is held with the gate (a WebSocket has no such queue).
        assert isinstance(rtc_gate.output_hold, TrackHold)
    finally:  # an unclosed peer connection outlives the test (test_webrtc checks that none is left open)
        await connection.pc.close()
    ws_gate = _only(build_pipeline(engines, _websocket(), TriageDialogue()), PlayoutGate)
    assert ws_gate.lead_s == BUFFERED_PLAYOUT_LEAD_S and ws_gate.output_hold is None


class _PhoneLineHold:
    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def drop(self) -> None: ...


def test_the_gate_follows_what_any_transport_declares_not_its_class(engines):
    # A new transport (a SIP line, say) needs no change in the pipeline or in turntaking: it
    # declares a real-time output with a queue, and the gate is set from that.
    hold = _PhoneLineHold()
    phone = declare_audio_output(_websocket(), AudioOutput(realtime=True, queued=hold))
    gate = _only(build_pipeline(engines, phone, TriageDialogue()), PlayoutGate)
    assert gate.lead_s == REALTIME_PLAYOUT_LEAD_S and gate.output_hold is hold


def test_followup_call_hears_the_open_questions_answer_words(engines):
    dialogue = FollowupDialogue(program="diabetes")
    decoder = _only(build_pipeline(engines, _websocket(), dialogue), EndOfTurnProcessor).decoder
    dialogue.question = "hypoglycemia"
    words = decoder.hotwords().split()
    assert words[:3] == ["没有", "偶尔", "经常"]  # the answer words come first
    assert "血糖" in words and "二甲双胍" in words  # then the diabetes programme's list
    dialogue.state = "confirm"
    assert decoder.hotwords().split()[:3] == ["对", "是的", "不对"]


def test_call_decodes_at_the_callers_pauses_with_the_short_window_decoder(engines):
    decoder = _only(build_pipeline(engines, _websocket(), TriageDialogue()), EndOfTurnProcessor).decoder
    assert engines.settings.asr_decoder == "short_window" and engines.settings.asr_incremental
    assert decoder.incremental is not None
    stock = type(engines.settings)(_env_file=None, asr_decoder="stock")
    assert not _decodes_at_pauses(stock)


def test_triage_call_hears_the_flow_hotwords_only(engines):
    decoder = _only(build_pipeline(engines, _websocket(), TriageDialogue()), EndOfTurnProcessor).decoder
    assert "胸痛" in decoder.hotwords()
    assert "偶尔" not in decoder.hotwords()


def test_every_followup_question_has_answer_words():
    for program in ("hypertension", "diabetes"):
        dialogue = FollowupDialogue(program=program)
        for question in dialogue.program.questions:
            dialogue.question = question
            assert dialogue.asr_hints(), f"{program}: no answer words for {question}"


def test_a_call_loads_no_model_and_uses_the_engines_vad(engines, monkeypatch):
    # Every model is loaded (and warmed) once, by Engines; the call's VAD runs on the VAD model
    # Engines located and /readyz reports, not on a copy pipecat loads per call.
    import onnxruntime
    from pipecat.processors.audio.vad_processor import VADProcessor

    def no_loading(*_args, **_kwargs):
        raise AssertionError("a call loaded a model")

    monkeypatch.setattr(onnxruntime, "InferenceSession", no_loading)
    monkeypatch.setattr("asr.transcriber.WhisperModel", no_loading)
    pipeline = build_pipeline(engines, _websocket(), TriageDialogue())
    analyzer = _only(pipeline, VADProcessor)._vad_controller._vad_analyzer
    assert analyzer._model.session is engines.vad._model.session
    assert engines.readiness()["models"]["vad"]["path"] == str(engines.vad.model_path)
    assert _only(pipeline, EndOfTurnProcessor).decoder.transcriber is engines.transcriber


def test_the_shared_vad_analyzer_sets_what_pipecats_own_sets(engines):
    # _SharedSessionAnalyzer skips SileroVADAnalyzer.__init__ (pipecat-ai 1.14.0): a pipecat that
    # sets more state there fails here instead of in a call.
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    from turntaking.vad import call_vad_params

    assert vars(engines.vad.analyzer()).keys() == vars(SileroVADAnalyzer(params=call_vad_params())).keys()
