"""A lossy network does not drop a WebRTC call: at 10% and 30% packet loss each way (injected in
the aiortc caller's ICE transport, so RTP, RTCP and the data channel's SCTP all lose packets) the
caller is still heard, the agent still answers and is heard, and hang-up cleans everything up.
How much recognition and latency suffer is measured by ``python -m evals.netloss``."""

from __future__ import annotations

import asyncio
import time

import pytest

from evals.netloss.caller import connect
from evals.netloss.network import ensure_host_address

CHEST_PAIN = "我胸口疼，出了很多汗。"


@pytest.fixture(scope="module")
def host_address() -> str:
    try:
        return ensure_host_address()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"WebRTC needs a non-loopback interface: {exc}")


@pytest.mark.parametrize("loss_rate", [0.1, 0.3])
async def test_call_survives_packet_loss(live_server, speak, host_address, loss_rate):
    live_server.app.state.webrtc._limiter._events.clear()
    call = await connect(live_server.url, "triage", loss_rate=loss_rate, seed=11)
    try:
        assert await call.wait_agent_quiet(timeout=40), "greeting not heard through the loss"
        spoke_at = await call.say(speak(CHEST_PAIN))
        assert await call.wait_for(lambda c: c.texts("caller"), 40), "caller never transcribed through the loss"
        answered = await call.wait_for(lambda c: c.speech_frames_after(spoke_at) > 25, 40)
        assert answered, "the agent's answer was not heard"
        assert call.pc.connectionState == "connected"
        stats = call.loss.stats
        dropped = (stats.dropped_out + stats.dropped_in) / (stats.sent + stats.received)
        assert abs(dropped - loss_rate) < 0.08, f"injected loss {dropped:.2f}, wanted {loss_rate}"
    finally:
        await call.hang_up()
    # Under loss the hang-up's own packets (the data channel's "hangup", DTLS close_notify) can all be
    # lost; then ICE consent expiry ends the call (aioice: 6 failed checks 4-6 s apart; with every
    # hang-up packet dropped the server's side was gone after 21.5 s here, past the old 20 s limit).
    deadline = time.monotonic() + 45
    while live_server.app.state.webrtc.active_peers or live_server.app.state.sessions.active:
        assert time.monotonic() < deadline, "the call outlived its hang-up"
        await asyncio.sleep(0.1)
