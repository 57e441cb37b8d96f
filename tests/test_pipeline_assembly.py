"""What ``agent.pipeline.build_pipeline`` wires per call: the playout lead by transport, and the
hotwords Whisper gets (the flow's list, plus the open follow-up question's answer words)."""

from __future__ import annotations

from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

from agent.pipeline import PLAYOUT_LEAD_S, WEBRTC_PLAYOUT_LEAD_S, _decodes_at_pauses, build_pipeline
from asr.service import WhisperTurnSTT
from dialogue.followup.flow import FollowupDialogue
from dialogue.triage.flow import TriageDialogue
from dialogue.turntaking.playout import PlayoutGate
from transport.webrtc_audio import TrackHold


class _IdleSocket:
    """Stands in for a FastAPI WebSocket: the pipeline is only built here, never run."""

    client_state = application_state = None


def _websocket() -> FastAPIWebsocketTransport:
    return FastAPIWebsocketTransport(_IdleSocket(), FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True))


def _only(pipeline, kind):
    found = [p for p in pipeline.processors if isinstance(p, kind)]
    assert len(found) == 1
    return found[0]


def test_webrtc_calls_release_less_audio_ahead_than_websocket_calls(engines):
    # A WebRTC track plays out in real time, so audio released ahead is still heard after a pause.
    assert WEBRTC_PLAYOUT_LEAD_S < PLAYOUT_LEAD_S
    rtc = SmallWebRTCTransport(SmallWebRTCConnection(), TransportParams(audio_in_enabled=True, audio_out_enabled=True))
    rtc_gate = _only(build_pipeline(engines, rtc, TriageDialogue()), PlayoutGate)
    assert rtc_gate.lead_s == WEBRTC_PLAYOUT_LEAD_S
    # ... and what the WebRTC track has queued is held with the gate (a WebSocket has no such queue).
    assert isinstance(rtc_gate.output_hold, TrackHold)
    ws_gate = _only(build_pipeline(engines, _websocket(), TriageDialogue()), PlayoutGate)
    assert ws_gate.lead_s == PLAYOUT_LEAD_S and ws_gate.output_hold is None


def test_followup_call_hears_the_open_questions_answer_words(engines):
    dialogue = FollowupDialogue(program="diabetes")
    stt = _only(build_pipeline(engines, _websocket(), dialogue), WhisperTurnSTT)
    dialogue.question = "hypoglycemia"
    words = stt._hotwords().split()
    assert words[:3] == ["没有", "偶尔", "经常"]  # the answer words come first
    assert "血糖" in words and "二甲双胍" in words  # then the diabetes programme's list
    dialogue.state = "confirm"
    assert stt._hotwords().split()[:3] == ["对", "是的", "不对"]


def test_call_decodes_at_the_callers_pauses_with_the_short_window_decoder(engines):
    stt = _only(build_pipeline(engines, _websocket(), TriageDialogue()), WhisperTurnSTT)
    assert engines.settings.asr_decoder == "short_window" and engines.settings.asr_incremental
    assert stt._incremental_settings is not None
    stock = type(engines.settings)(_env_file=None, asr_decoder="stock")
    assert not _decodes_at_pauses(stock)


def test_triage_call_hears_the_flow_hotwords_only(engines):
    stt = _only(build_pipeline(engines, _websocket(), TriageDialogue()), WhisperTurnSTT)
    assert "胸痛" in stt._hotwords()
    assert "偶尔" not in stt._hotwords()


def test_every_followup_question_has_answer_words():
    for program in ("hypertension", "diabetes"):
        dialogue = FollowupDialogue(program=program)
        for question in dialogue.program.questions:
            dialogue.question = question
            assert dialogue.asr_hints(), f"{program}: no answer words for {question}"


def test_the_turn_models_are_loaded_when_the_service_starts_not_at_the_first_call(engines):
    from agent import pipeline
    from agent.session import CallSessions

    CallSessions(engines)
    assert engines in pipeline._shared
