"""Kamailio's dispatcher in front of two SIP endpoints (deploy/kamailio/kamailio.cfg, Debian's kamailio):
INVITEs are spread over both, a busy endpoint's 486 fails over to the other, and an endpoint that
stops answering OPTIONS probes is taken out so calls go to the one left.

The endpoints are real PJSUA2 user agents (tests/sip/peer.py, the SIP tests' peer) answering as a
worker's line does; a worker's own SIP endpoint is tested in tests/test_sip.py, and a worker with
its models adds nothing to what Kamailio decides here.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.sip.client import SipPeer

pytestmark = pytest.mark.skipif(shutil.which("kamailio") is None, reason="Debian's kamailio is not installed")

CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "kamailio" / "kamailio.cfg"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _destination(tmp_path: Path, uri: str) -> str:
    """The dispatcher's view of one destination (``kamcmd dispatcher.list``): FLAGS AP = active, probing."""
    listing = subprocess.run(["kamcmd", "-s", f"unix:{tmp_path / 'ctl'}", "dispatcher.list"], capture_output=True,
                             text=True, timeout=10).stdout
    start = listing.find(f"URI: {uri}\n")
    return listing[start:listing.find("PRIORITY", start)] if start >= 0 else ""


def _call(port: int, endpoints: dict[str, SipPeer]) -> tuple[str, dict[str, int]]:
    before = {name: len(e.find("invite")) for name, e in endpoints.items()}
    confirmed = {name: len(e.find("state", state="CONFIRMED")) for name, e in endpoints.items()}
    caller = SipPeer("call", f"sip:triage@127.0.0.1:{port}")
    try:
        caller.wait_for("state", 10, state="CONFIRMED")
        took = [n for n, e in endpoints.items() if len(e.find("state", state="CONFIRMED")) > confirmed[n]]
        invited = {n: len(e.find("invite")) - before[n] for n, e in endpoints.items()}
        caller.send("hangup")
        caller.wait_for("disconnected", 10)
    finally:
        caller.close()
    assert len(took) == 1, took
    return took[0], invited


def test_dispatcher_spreads_fails_over_and_takes_out_a_dead_endpoint(tmp_path: Path) -> None:
    endpoints = {"w1": SipPeer("--user", "triage", "answer"), "w2": SipPeer("--user", "triage", "answer")}
    port = _free_udp_port()
    (tmp_path / "dispatcher.list").write_text(
        "".join(f"1 sip:127.0.0.1:{e.port} 0 0\n" for e in endpoints.values()))
    config = CONFIG.read_text()
    config = config.replace("udp:0.0.0.0:5060", f"udp:127.0.0.1:{port}")
    config = config.replace("/etc/kamailio/dispatcher.list", str(tmp_path / "dispatcher.list"))
    config = config.replace("unix:/run/kamailio/kamailio_ctl", f"unix:{tmp_path / 'ctl'}")
    (tmp_path / "kamailio.cfg").write_text(config)
    kamailio = subprocess.Popen(["kamailio", "-DD", "-E", "-f", str(tmp_path / "kamailio.cfg"), "-Y", str(tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=(tmp_path / "kamailio.log").open("w"))
    try:
        time.sleep(1.5)
        assert kamailio.poll() is None, (tmp_path / "kamailio.log").read_text()[-2000:]
        # round robin over the two (each Kamailio process keeps its own turn: a few calls reach both)
        took_calls = set()
        for _ in range(6):
            took_calls.add(_call(port, endpoints)[0])
            if took_calls == {"w1", "w2"}:
                break
        assert took_calls == {"w1", "w2"}
        # w1 is full: its 486 makes Kamailio try w2 within the same call
        endpoints["w1"].send("status 486")
        time.sleep(0.3)
        busy_invites = 0
        for _ in range(6):
            took, invited = _call(port, endpoints)
            assert took == "w2"
            busy_invites += invited["w1"]
            if busy_invites:
                break
        assert busy_invites >= 1  # w1 was offered a call and refused it busy; the caller still got w2
        endpoints["w1"].send("status 200")
        # w2 dies: its OPTIONS probes go unanswered and it is taken out; calls reach w1 alone
        endpoints["w2"].process.kill()
        dead = f"sip:127.0.0.1:{endpoints['w2'].port}"
        _wait(lambda: "FLAGS: AP" not in _destination(tmp_path, dead), 10, "the dead endpoint to be taken out")
        assert "FLAGS: AP" in _destination(tmp_path, f"sip:127.0.0.1:{endpoints['w1'].port}")
        for _ in range(2):
            took, invited = _call(port, {"w1": endpoints["w1"]})
            assert took == "w1"
    finally:
        kamailio.terminate()
        kamailio.wait(timeout=10)
        for endpoint in endpoints.values():
            if endpoint.process.poll() is None:
                endpoint.close()
