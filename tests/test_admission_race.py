"""A WebSocket call admitted when its socket opened, whose last free slot another call took before its
start message, gets a clear busy refusal (error ``busy``, close 1013), not a dropped connection.
The cluster benchmark at 1.5x capacity found this: TooManyCalls escaped the route (5 calls lost)."""

from __future__ import annotations

import json

import pytest
import websockets


async def test_the_last_slot_taken_after_the_socket_opened_is_a_busy_refusal(live_server) -> None:
    sessions = live_server.app.state.sessions
    async with websockets.connect(f"{live_server.ws}/ws/call?flow=triage") as ws:
        taken, sessions.active = sessions.active, live_server.app.state.settings.max_calls
        try:
            await ws.send(json.dumps({"type": "start", "sample_rate": 16000, "encoding": "pcm_s16le", "channels": 1}))
            refusal = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        finally:
            sessions.active = taken
    assert refusal["type"] == "error" and refusal["code"] == "busy"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
