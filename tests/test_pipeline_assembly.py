"""How far agent audio runs ahead of real time depends on the transport (``agent.pipeline``).

A WebRTC track plays out in real time, so audio released ahead of the clock is still heard after
a barge-in pause; the pipeline gives WebRTC calls the shorter lead."""

from __future__ import annotations

from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

from agent.pipeline import PLAYOUT_LEAD_S, WEBRTC_PLAYOUT_LEAD_S, build_pipeline
from dialogue.turntaking.playout import PlayoutGate


class _IdleSocket:
    """Stands in for a FastAPI WebSocket: the pipeline is only built here, never run."""

    client_state = application_state = None


def _gate_lead(engines, transport, dialogue) -> float:
    pipeline = build_pipeline(engines, transport, dialogue)
    gates = [p for p in pipeline.processors if isinstance(p, PlayoutGate)]
    assert len(gates) == 1
    return gates[0].lead_s


def test_webrtc_calls_release_less_audio_ahead_than_websocket_calls(engines):
    from dialogue.triage.flow import TriageDialogue

    assert WEBRTC_PLAYOUT_LEAD_S < PLAYOUT_LEAD_S
    rtc = SmallWebRTCTransport(SmallWebRTCConnection(), TransportParams(audio_in_enabled=True, audio_out_enabled=True))
    assert _gate_lead(engines, rtc, TriageDialogue()) == WEBRTC_PLAYOUT_LEAD_S
    ws = FastAPIWebsocketTransport(_IdleSocket(), FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True))
    assert _gate_lead(engines, ws, TriageDialogue()) == PLAYOUT_LEAD_S
