"""WebSocket audio transport: pipecat's FastAPI WebSocket transport speaking our protocol."""

from __future__ import annotations

from fastapi import WebSocket
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

from transport.ws_protocol import SAMPLE_RATE, MedvoiceWsSerializer


def websocket_transport(websocket: WebSocket, *, output_sample_rate: int = SAMPLE_RATE) -> FastAPIWebsocketTransport:
    """A transport over an accepted WebSocket whose start handshake has been validated."""
    params = FastAPIWebsocketParams(
        audio_in_enabled=True,
        audio_in_sample_rate=SAMPLE_RATE,
        audio_out_enabled=True,
        audio_out_sample_rate=output_sample_rate,
        audio_out_end_silence_secs=0,
        serializer=MedvoiceWsSerializer(),
        allowed_origins=[],
    )
    return FastAPIWebsocketTransport(websocket, params)
