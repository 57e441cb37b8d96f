"""The latency benchmark's WebRTC caller measures a real turn: the aiortc caller speaks one
rendered utterance over Opus to the live service, and the benchmark's turn runner gets a
voice-to-voice time (first non-silent agent frame after the caller's end of speech) and the
caller's final transcript from the data channel. Timings are the benchmark's business, not asserted."""

from __future__ import annotations

import asyncio
import time

import pytest

from evals.latency import ours
from evals.latency.rtc_caller import RtcLiveCall
from evals.latency.script import Utterance
from evals.netloss.network import host_address_unavailable

CHEST_PAIN = "我胸口疼，出了很多汗。"


@pytest.fixture(scope="module")
def host_address() -> None:
    reason = host_address_unavailable()
    if reason is not None:
        pytest.skip(f"WebRTC needs a non-loopback interface: {reason}")


async def test_webrtc_turn_measures_voice_to_voice_and_final_transcript(live_server, speak, host_address):
    live_server.app.state.webrtc._limiter._events.clear()
    calls: list[RtcLiveCall] = []

    def dial() -> RtcLiveCall:
        calls.append(RtcLiveCall(live_server.url, ours.FLOW))
        return calls[-1]

    utterance = Utterance("complete", CHEST_PAIN, (speak(CHEST_PAIN),), ())
    [turn] = await ours.run_turns(dial, [utterance])

    assert turn.v2v_s is not None and turn.v2v_s > 0, "no agent audio heard after the caller's turn"
    assert turn.turn_complete_s is not None, "no final caller transcript on the data channel"
    assert turn.finals >= 1
    [call] = calls
    finals = [e for e in call.received.events if e.get("type") == "transcript" and e.get("role") == "caller"
              and e.get("final")]
    assert finals and all(e["text"].strip() for e in finals), finals
    # Only speech counts as agent audio: the silence the track carries between replies does not.
    assert call.received.audio and call.silent_frames > 0
    assert call.ended.is_set()

    deadline = time.monotonic() + 20
    while live_server.app.state.webrtc.active_peers or live_server.app.state.sessions.active:
        assert time.monotonic() < deadline, "the benchmark's call outlived its hang-up"
        await asyncio.sleep(0.1)
