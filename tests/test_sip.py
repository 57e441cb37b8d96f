"""Telephone calls for real: a PJSUA2 user agent in a subprocess (tests/sip/peer.py) calls the live
service's SIP endpoint on loopback, speaks rendered Mandarin into the call over PCMA, and records
what the agent says, which the project's recogniser transcribes back. Refusals (403, 404, 488,
503) are real SIP responses, and no call or media port outlives its caller."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.sip.client import SipPeer

pytest.importorskip("pjsua2")

HEADACHE = "我头疼，已经两天了。"


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "the service failed to start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def nurse() -> Iterator[SipPeer]:
    """The human extension: a peer that answers every call (the transfer target)."""
    peer = SipPeer("--user", "nurse", "answer")
    yield peer
    peer.close()


@pytest.fixture(scope="module")
def line(engines, settings, records_store, nurse):
    """The real service with SIP on a free loopback port, 127.0.0.1 allowed, hand-offs to ``nurse``."""
    from agent.app import create_app

    app = create_app(
        settings.model_copy(update={
            "silence_timeout_s": 6.0,
            "sip_port": 0,
            "sip_bind": "127.0.0.1",
            "sip_allow_from": "127.0.0.1",
            "sip_max_calls": 2,
            "sip_rtp_timeout_s": 4.0,
            "sip_human_uri": f"sip:nurse@127.0.0.1:{nurse.port}",
        }),
        engines=engines,
        store=records_store,
    )
    with serve(app) as url:
        app.state.test_url = url
        yield app


def _endpoint(app):
    return app.state.sip.endpoint


def _uri(app, user: str = "triage") -> str:
    return f"sip:{user}@127.0.0.1:{_endpoint(app).ports['udp']}"


def _settled(app, timeout: float = 15.0) -> None:
    endpoint = _endpoint(app)
    deadline = time.monotonic() + timeout
    while endpoint.live_calls or endpoint.media_ports or app.state.sessions.active or app.state.sip.calls.active:
        assert time.monotonic() < deadline, (
            f"leak: {endpoint.live_calls} SIP call(s), {endpoint.media_ports} media port(s), "
            f"{app.state.sessions.active} session(s) still live"
        )
        time.sleep(0.1)


def _live_call(app, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = _endpoint(app).calls()
        if calls:
            return calls[-1]
        time.sleep(0.05)
    raise AssertionError("no SIP call reached the service")


def _texts(call, role: str) -> list[str]:
    return [e["text"] for e in list(call.events) if e.get("type") == "transcript" and e.get("role") == role
            and e.get("final")]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _wait_agent_quiet(call, timeout: float = 40.0, quiet_s: float = 1.0) -> None:
    """The agent has spoken and its queue has been empty for ``quiet_s``."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        if call.outgoing.played_frames and call.outgoing.queued == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= quiet_s:
                return
        else:
            quiet_since = None
        time.sleep(0.05)
    raise AssertionError("the agent never went quiet")


def _wav(path: Path, pcm: np.ndarray) -> str:
    sf.write(path, pcm, 16000, subtype="PCM_16")
    return str(path)


def _cer(reference: str, hypothesis: str) -> float:
    import re

    ref = re.sub(r"[^\u4e00-\u9fff0-9]", "", reference)
    hyp = re.sub(r"[^\u4e00-\u9fff0-9]", "", hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / max(1, len(ref))


def test_triage_call_over_pcma_is_heard_and_answered(line, speak, engines, tmp_path):
    recording = tmp_path / "agent.wav"
    caller = SipPeer("--codecs", "PCMA", "--record", str(recording), "call", _uri(line))
    try:
        assert caller.wait_for("media", 10)["codec"] == "PCMA/8000"
        call = _live_call(line)
        assert call.flow == "triage"
        _wait(lambda: len(_texts(call, "agent")) >= 2, 30, "no greeting")
        greeting = "".join(_texts(call, "agent"))
        _wait_agent_quiet(call)
        caller.send(f"play {_wav(tmp_path / 'caller.wav', speak(HEADACHE))}")
        _wait(lambda: _texts(call, "caller"), 30, "the caller's speech was never recognised")
        heard = _texts(call, "caller")[0]
        assert "头" in heard, heard
        _wait(lambda: any(e.get("type") == "state" and e.get("slots", {}).get("complaints") for e in call.events),
              30, "no flow state with the complaint after the caller's turn")
        _wait(lambda: len(_texts(call, "agent")) > 2, 30, "no answer to the caller's turn")
        _wait_agent_quiet(call)
        assert call.stats.codec == "PCMA/8000"
        underruns = call.outgoing.underrun_frames
        caller.send("hangup")
        caller.wait_for("disconnected", 10)
    finally:
        caller.close()
    _settled(line)
    # What the caller's phone played: the greeting, transcribed back by the project's recogniser.
    audio, rate = sf.read(recording, dtype="float32")
    assert rate == 16000 and len(audio) > 16000 * 3, f"recorded {len(audio) / rate:.1f} s of agent audio"
    first = audio[: int(16000 * 8)]
    text = engines.transcriber.transcribe(first).text
    cer = _cer(greeting[: len(text) + 4], text)
    assert cer < 0.5, (
        f"greeting heard on the phone as {text!r} (CER {cer:.2f} against {greeting!r}); "
        f"{underruns} frames of holes in the agent's audio"
    )


def test_keypad_0_transfers_the_caller_to_the_nurse_with_the_summary(line, nurse):
    from urllib.parse import unquote

    caller = SipPeer("call", _uri(line))
    try:
        caller.wait_for("media", 10)
        call = _live_call(line)
        _wait(lambda: len(_texts(call, "agent")) >= 2, 30, "no greeting")
        _wait_agent_quiet(call)
        invites_before = len(nurse.find("invite"))
        caller.send("dtmf 0")
        _wait(lambda: any(e.get("type") == "keypad" and e.get("key") == "0" for e in call.events), 10,
              "the keypad's 0 never reached the flow")
        _wait(lambda: any(e.get("type") == "state" and e.get("handoff") for e in call.events), 15,
              "no hand-off recorded after the keypad's 0")
        assert caller.wait_for("transfer_request", 20)["target"].startswith("<sip:nurse@127.0.0.1")
        _wait(lambda: len(nurse.find("invite")) > invites_before, 10, "the nurse's phone never rang")
        invite = nurse.find("invite")[-1]
        summary = unquote(invite["headers"].get("X-Medvoice-Summary", ""))
        assert "flow=triage" in summary and "handoff=" in summary, invite["headers"]
        caller.wait_for("disconnected", 15)  # our leg ends once the transfer succeeded
        transfer = line.state.sip.calls.transfers[-1]
        _wait(lambda: transfer.done.is_set(), 10, "transfer never finished")
        assert transfer.succeeded, (transfer.status, transfer.reason)
    finally:
        caller.send("hangup")
        caller.close()
        nurse.send("hangup")
    _settled(line)


def test_refusals_are_sip_responses(line, tmp_path):
    cases = [
        (("--bind", "127.0.0.2", "call", _uri(line)), 403),  # not in the allow-list
        (("call", _uri(line, "nobody")), 404),  # no route for the called user
        (("--codecs", "GSM,speex", "call", _uri(line)), 488),  # no codec in common
    ]
    for args, status in cases:
        peer = SipPeer(*args)
        try:
            assert peer.wait_for("disconnected", 10)["status"] == status, args
        finally:
            peer.close()
    _settled(line)


def test_over_capacity_gets_503_with_retry_after_and_readyz_metrics_show_calls(line):
    import httpx

    peers = [SipPeer("call", _uri(line)) for _ in range(2)]
    try:
        for peer in peers:
            peer.wait_for("media", 10)
        _wait(lambda: _endpoint(line).live_calls == 2, 10, "two calls not live")
        extra = SipPeer("call", _uri(line))
        try:
            refused = extra.wait_for("disconnected", 10)
        finally:
            extra.close()
        assert refused["status"] == 503 and refused["retry_after"] == 30, refused
        # the peers offer PCMU first: PJSIP answers in the offer's order, then the call re-offers PCMA
        _wait(lambda: all(c.stats.codec == "PCMA/8000" for c in _endpoint(line).calls()), 5,
              f"codecs {[c.stats.codec for c in _endpoint(line).calls()]}, not PCMA")
        ready = httpx.get(f"{line.state.test_url}/readyz", timeout=10).json()["sip"]
        assert ready["live_calls"] == 2 and ready["media_ports"] == 2, ready
        assert {c["codec"] for c in ready["calls"]} == {"PCMA/8000"}, ready
        assert ready["registration"] == {"configured": False, "registered": False, "status": 0, "reason": ""}
        metrics = httpx.get(f"{line.state.test_url}/metrics", timeout=10).text
        assert "medvoice_sip_calls 2" in metrics and "medvoice_sip_media_ports 2" in metrics
        assert 'medvoice_sip_call_rtp_lost{' in metrics and 'codec="PCMA/8000"' in metrics
    finally:
        for peer in peers:
            peer.send("hangup")
            peer.close()
    _settled(line)
    metrics = httpx.get(f"{line.state.test_url}/metrics", timeout=10).text
    assert "medvoice_sip_calls 0" in metrics and "medvoice_sip_media_ports 0" in metrics


def test_a_phone_that_sends_no_rtp_is_hung_up_and_freed(line):
    dead = SipPeer("--mute", "call", _uri(line))
    try:
        dead.wait_for("media", 10)
        started = time.monotonic()
        assert dead.wait_for("disconnected", 15)["status"] in (200, 408)
        assert time.monotonic() - started < 4.0 + 3.0  # the 4 s RTP timeout, checked every 0.5 s
    finally:
        dead.close()
    _settled(line)


def test_a_failed_transfer_is_told_and_the_caller_kept_and_hold_is_survived(line, nurse):
    from transport.sip.transfer import TRANSFER_FAILED_SPEECH

    nurse.send("status 486")  # the nurse's phone is busy
    nurse.wait_for("status_set", 5, status=486)
    caller = SipPeer("call", _uri(line))
    try:
        caller.wait_for("media", 10)
        call = _live_call(line)
        _wait(lambda: len(_texts(call, "agent")) >= 2, 30, "no greeting")
        _wait_agent_quiet(call)
        caller.send("hold")  # a re-INVITE mid-call (hold, then back)
        caller.wait_for("state", 5, state="CONFIRMED")
        time.sleep(0.5)
        caller.send("unhold")
        time.sleep(0.5)
        frames = call.stats.rx_packets
        _wait(lambda: call.stats.rx_packets > frames + 25, 5, "no RTP after unhold")
        caller.send("info 0")  # the keypad's 0 as SIP INFO
        transfer_count = len(line.state.sip.calls.transfers)
        _wait(lambda: any(e.get("type") == "keypad" and e.get("key") == "0" for e in call.events), 10,
              "SIP INFO 0 never reached the flow")
        caller.wait_for("transfer_request", 20)
        transfer = line.state.sip.calls.transfers[transfer_count - 1]
        _wait(lambda: transfer.done.is_set(), 20, "the transfer never finished")
        assert transfer.status == 486, (transfer.status, transfer.reason)
        played = call.outgoing.played_frames
        _wait(lambda: call.outgoing.played_frames > played + 100, 20,
              f"the caller never heard {TRANSFER_FAILED_SPEECH!r}")
        time.sleep(1.0)
        assert not call.ended.is_set(), "the caller was hung up on"
        # the peer reuses its Call object for the transfer attempt: only that one (486) may have ended
        assert all(e["status"] == 486 for e in caller.find("disconnected")), caller.find("disconnected")
        caller.send("hangup")
        _wait(lambda: call.ended.is_set(), 10, "the call did not end after the caller hung up")
    finally:
        nurse.send("status 200")
        caller.close()
    _settled(line)
