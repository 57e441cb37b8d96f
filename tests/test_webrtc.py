"""WebRTC calls for real: an aiortc caller speaks rendered Mandarin over Opus to the live service,
hears the agent and reads its events on the data channel; bad offers, dead peers and floods are
refused or timed out, and no peer connection or call outlives its caller."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from aiortc import RTCPeerConnection

from evals.netloss.caller import connect, reconnect
from evals.netloss.network import ensure_host_address

CHEST_PAIN = "我胸口疼，出了很多汗。"
ICE_TIMEOUT_S = 3.0
OFFERS_PER_MINUTE = 8


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def host_address() -> str:
    try:
        return ensure_host_address()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"WebRTC needs a non-loopback interface: {exc}")


@pytest.fixture(scope="module")
def rtc(engines, settings, records_store, host_address):
    """The real app with a short ICE deadline and a low offer limit, on 127.0.0.1."""
    from agent.app import create_app

    app = create_app(
        settings.model_copy(
            update={
                "silence_timeout_s": 3.0,
                "webrtc_ice_timeout_s": ICE_TIMEOUT_S,
                "webrtc_offers_per_minute": OFFERS_PER_MINUTE,
            }
        ),
        engines=engines,
        store=records_store,
    )
    with serve(app) as url:
        yield type("Rtc", (), {"url": url, "app": app})


def _reset_limit(app) -> None:
    app.state.webrtc._limiter._events.clear()


async def _settled(app, timeout: float = ICE_TIMEOUT_S + 10) -> None:
    deadline = time.monotonic() + timeout
    while app.state.webrtc.active_peers or app.state.sessions.active:
        assert time.monotonic() < deadline, (
            f"leak: {app.state.webrtc.active_peers} peer(s), {app.state.sessions.active} call(s) still live"
        )
        await asyncio.sleep(0.1)


def _open_peer_connections() -> list[RTCPeerConnection]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, RTCPeerConnection) and o.connectionState != "closed"]


async def _offer_sdp(*, audio: bool = True) -> str:
    pc = RTCPeerConnection()
    if audio:
        pc.addTransceiver("audio", direction="sendrecv")
    pc.createDataChannel("events")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def test_webrtc_triage_call_hears_agent_and_reads_events(rtc, speak):
    _reset_limit(rtc.app)
    call = await connect(rtc.url, "triage")
    try:
        assert await call.wait_for(lambda c: c.texts("agent"), 30), "no greeting event on the data channel"
        assert await call.wait_agent_quiet(timeout=30), "the greeting was never heard"
        greeting_frames = call.speech_frames_after(0)
        assert greeting_frames > 25, f"only {greeting_frames} agent speech frames (20 ms) for the greeting"

        spoke_at = await call.say(speak(CHEST_PAIN))
        assert await call.wait_for(lambda c: c.texts("caller"), 30), "caller speech never transcribed"
        assert "胸" in call.texts("caller")[0]
        # The dialogue's answer and its state follow the caller's turn on the data channel (what the
        # recogniser made of the words is the ASR tests' business, not the transport's).
        turn_at = next(t for t, e in call.events if e.get("type") == "transcript" and e.get("role") == "caller")
        assert await call.wait_for(
            lambda c: any(t >= turn_at and e.get("type") == "state" and "red_flags" in e for t, e in c.events), 30
        ), "no flow state after the caller's turn"
        assert await call.wait_for(lambda c: len(c.texts("agent")) > 2, 30), "no answer on the data channel"
        assert await call.wait_for(lambda c: c.speech_frames_after(spoke_at) > 25, 30), "answer not heard"
    finally:
        await call.hang_up()
    await _settled(rtc.app)
    assert not _open_peer_connections()


async def test_caller_hanging_up_during_the_goodbye_ends_the_call_at_once(rtc):
    """The page hangs up while the flow's last words still play (it closes 1.5 s after the end
    event): the agent's audio waits on a peer that is gone, and must not hold the call."""
    _reset_limit(rtc.app)
    call = await connect(rtc.url, "triage")
    try:
        # Two silences end the call (silence_timeout_s is 3 s here) with a spoken goodbye.
        assert await call.wait_for(lambda c: any(e.get("type") == "end" for _, e in c.events), 40), "no end event"
        ended_at = next(t for t, e in call.events if e.get("type") == "end")
        assert await call.wait_for(lambda c: c.speech_frames_after(ended_at) > 5, 10), "the goodbye was never heard"
    finally:
        await call.hang_up()
    hung_up_at = time.monotonic()
    await _settled(rtc.app)
    took = time.monotonic() - hung_up_at
    assert took < 2.0, f"the call outlived its caller by {took:.1f} s"
    assert not _open_peer_connections()


async def test_reconnect_resumes_the_same_call_on_a_new_peer_connection(rtc, speak):
    _reset_limit(rtc.app)
    call = await connect(rtc.url, "triage")
    try:
        assert await call.wait_agent_quiet(timeout=30), "the greeting was never heard"
        first_pc = call.pc
        await reconnect(rtc.url, call)
        assert call.pc is not first_pc and call.pc.connectionState == "connected"
        assert rtc.app.state.webrtc.active_peers == 1 and rtc.app.state.sessions.active == 1

        spoke_at = await call.say(speak(CHEST_PAIN))
        assert await call.wait_for(lambda c: any("胸" in t for t in c.texts("caller")), 30), call.texts("caller")
        assert await call.wait_for(lambda c: c.speech_frames_after(spoke_at) > 25, 30), "answer not heard"
    finally:
        await call.hang_up()
    await _settled(rtc.app)
    assert not _open_peer_connections()


async def test_reconnect_while_the_agent_speaks_keeps_its_voice(rtc):
    """The old peer connection closes under a write of the greeting; the new one must hear the rest."""
    _reset_limit(rtc.app)
    call = await connect(rtc.url, "triage")
    try:
        assert await call.wait_for(lambda c: c.speech_frames_after(0) > 5, 30), "the greeting was never heard"
        await reconnect(rtc.url, call)
        resumed_at = time.monotonic()
        assert await call.wait_for(lambda c: c.speech_frames_after(resumed_at) > 5, 3), "agent mute after reconnect"
    finally:
        await call.hang_up()
    await _settled(rtc.app)


async def test_metrics_and_readiness_count_webrtc_peers(rtc):
    async with httpx.AsyncClient(base_url=rtc.url) as http:
        metrics = (await http.get("/metrics")).text
        ready = (await http.get("/readyz")).json()
    assert re.search(r"^medvoice_webrtc_peers 0$", metrics, re.M), metrics
    assert re.search(r"^medvoice_active_calls 0$", metrics, re.M), metrics
    assert re.search(r'^medvoice_tts_cache_total\{result="hit"\} \d+$', metrics, re.M), metrics
    assert ready["webrtc_peers"] == 0


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ({"sdp": "hello, I am not SDP", "type": "offer"}, "bad_sdp", "no media sections"),
        ({"sdp": "", "type": "offer"}, "bad_sdp", "no SDP text"),
        ({"sdp": "v=0\r\nm=audio ninety UDP/TLS/RTP/SAVPF 111\r\n", "type": "offer"}, "bad_sdp", "not valid SDP"),
        ({"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n", "type": "offer"},
         "no_opus", "Opus"),
        ({"sdp": "v=0\r\n", "type": "answer"}, "bad_sdp_type", 'expected "type": "offer"'),
    ],
)
async def test_malformed_offers_get_clear_errors(rtc, body, code, says):
    async with httpx.AsyncClient(base_url=rtc.url) as http:
        response = await http.post("/api/offer", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == code
    assert says in response.json()["message"]
    assert rtc.app.state.webrtc.active_peers == 0


async def test_offer_without_audio_track_is_refused(rtc):
    sdp = await _offer_sdp(audio=False)
    async with httpx.AsyncClient(base_url=rtc.url) as http:
        response = await http.post("/api/offer", json={"sdp": sdp, "type": "offer"})
    assert response.status_code == 400
    assert response.json()["error"] == "no_audio_track"
    assert "addTrack" in response.json()["message"]
    assert rtc.app.state.webrtc.active_peers == 0


async def test_unknown_flow_and_unknown_peer(rtc):
    _reset_limit(rtc.app)
    sdp = await _offer_sdp()
    async with httpx.AsyncClient(base_url=rtc.url) as http:
        flow = await http.post("/api/offer", json={"sdp": sdp, "type": "offer", "flow": "astrology"})
        patch = await http.patch("/api/offer", json={"pc_id": "nobody", "candidates": []})
        renegotiate = await http.post("/api/offer", json={"sdp": sdp, "type": "offer", "pc_id": "nobody"})
        hangup = await http.delete("/api/calls/nobody")
    assert flow.status_code == 400 and flow.json()["error"] == "unknown_flow"
    assert "triage" in flow.json()["message"]
    assert [r.status_code for r in (patch, renegotiate, hangup)] == [404, 404, 404]
    assert patch.json()["error"] == "unknown_peer"
    assert rtc.app.state.webrtc.active_peers == 0


async def test_offers_for_a_person_need_a_valid_token(rtc):
    _reset_limit(rtc.app)
    sdp = await _offer_sdp()
    async with httpx.AsyncClient(base_url=rtc.url) as http:
        missing = await http.post("/api/offer", json={"sdp": sdp, "type": "offer", "flow": "dictation", "patient": "p1"})
        forged = await http.post(
            "/api/offer", json={"sdp": sdp, "type": "offer", "flow": "followup", "patient": "p1", "token": "abc.def"}
        )
        programme = await http.post("/api/offer", json={"sdp": sdp, "type": "offer", "flow": "followup",
                                                         "program": "asthma"})
    assert missing.status_code == 400 and missing.json()["error"] == "bad_call_options"
    assert "role 'doctor'" in missing.json()["message"]
    assert forged.status_code == 400 and "token rejected" in forged.json()["message"]
    assert programme.status_code == 400 and programme.json()["error"] == "bad_call_options"
    await _settled(rtc.app)


async def test_webrtc_dictation_call_acts_for_the_doctor_in_the_offer(rtc, records_store):
    from backends.interfaces import Principal

    _reset_limit(rtc.app)
    token = records_store.tokens.issue(Principal("dr-wang", "doctor", "demo-hospital", "dept-cardiology"))
    call = await connect(rtc.url, "dictation", options={"patient": "p1", "encounter": "e1", "token": token})
    try:
        assert await call.wait_for(lambda c: c.texts("agent"), 30), "no greeting event on the data channel"
        assert await call.wait_for(
            lambda c: any(e.get("type") == "state" and e.get("flow") == "dictation" for _, e in c.events), 30
        ), "the call did not run the dictation flow"
    finally:
        await call.hang_up()
    await _settled(rtc.app)


async def test_peer_that_never_completes_ice_is_timed_out_and_cleaned_up(rtc):
    _reset_limit(rtc.app)
    # No candidates and never an answer applied: the service can reach nobody.
    sdp = "\r\n".join(line for line in (await _offer_sdp()).split("\r\n") if not line.startswith("a=candidate"))
    async with httpx.AsyncClient(base_url=rtc.url) as http:
        response = await http.post("/api/offer", json={"sdp": sdp, "type": "offer"})
    assert response.status_code == 200, response.text
    assert rtc.app.state.webrtc.active_peers == 1
    await asyncio.sleep(ICE_TIMEOUT_S / 2)
    assert rtc.app.state.webrtc.active_peers == 1, "closed before the ICE deadline"
    await _settled(rtc.app)
    assert rtc.app.state.sessions.active == 0
    assert not _open_peer_connections()


async def test_flood_of_offers_is_rate_limited_and_leaves_nothing_behind(rtc):
    _reset_limit(rtc.app)
    sdp = "\r\n".join(line for line in (await _offer_sdp()).split("\r\n") if not line.startswith("a=candidate"))
    async with httpx.AsyncClient(base_url=rtc.url) as http:
        responses = await asyncio.gather(
            *(http.post("/api/offer", json={"sdp": sdp, "type": "offer"}) for _ in range(OFFERS_PER_MINUTE * 3))
        )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == OFFERS_PER_MINUTE, codes
    limited = [r for r in responses if r.status_code == 429]
    assert len(limited) == OFFERS_PER_MINUTE * 2
    assert limited[0].json()["error"] == "rate_limited"
    assert int(limited[0].headers["Retry-After"]) > 0
    await _settled(rtc.app)
    assert not _open_peer_connections()


def test_loss_tolerant_jitter_buffer_releases_every_packet_that_arrived_in_order():
    import random

    from aiortc.rtp import RtpPacket

    from transport.jitter import LossTolerantAudioJitterBuffer

    buffer, released, arrived = LossTolerantAudioJitterBuffer(), [], []
    draw = random.Random(3)
    for seq in range(65400, 65400 + 400):  # crosses the 16-bit wrap
        if draw.random() < 0.3:
            continue
        packet = RtpPacket(sequence_number=seq % 65536, timestamp=(seq * 960) % 2**32)
        packet._data = b"opus"
        arrived.append(packet.timestamp)
        _, frame = buffer.add(packet)
        if frame is not None:
            released.append(frame.timestamp)
    assert released == arrived[: len(released)]
    assert len(arrived) - len(released) <= 1  # only the newest may wait for its hole's patience
    assert buffer.skipped > 80
