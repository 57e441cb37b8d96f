"""HAProxy in front of workers (Debian's haproxy, the config deploy/haproxy.py generates): WebRTC
signalling sticks to the worker holding the peer (trickled ICE, hang-up), even once that worker is
full; new offers and WebSocket calls go to a worker that is ready; with none ready, a JSON busy 503.

The two workers here are small stand-in HTTP servers that answer as the service does (``/readyz``,
an offer's ``pc_id`` in its header): stickiness concerns only the signalling requests, and a real WebRTC peer
needs network namespaces (tests/test_webrtc.py). The cluster test runs HAProxy with real workers.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from deploy.haproxy import render
from transport.signalling import PC_ID_HEADER

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="Debian's haproxy is not installed (make system)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StandIn(ThreadingHTTPServer):
    """A worker's signalling and readiness, nothing else."""

    def __init__(self, name: str) -> None:
        self.name, self.full, self.ids = name, False, itertools.count()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: StandIn
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn

    def log_message(self, *_args: object) -> None:
        pass

    def _reply(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(ConnectionError):  # a health check that did not wait for the body
            self.wfile.write(data)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def do_GET(self) -> None:
        full = self.path == "/readyz" and self.server.full
        self._reply(503 if full else 200, {"worker": self.server.name})

    def do_POST(self) -> None:
        body = self._body()
        pc_id = body.get("pc_id") or f"{self.server.name}-{next(self.server.ids)}"
        self._reply(200, {"sdp": "v=0", "type": "answer", "pc_id": pc_id, "worker": self.server.name},
                    {PC_ID_HEADER: pc_id})

    def do_PATCH(self) -> None:
        self._reply(200, {"worker": self.server.name, "pc_id": self._body()["pc_id"]})

    def do_DELETE(self) -> None:
        self._reply(200, {"worker": self.server.name})


@pytest.fixture
def balanced(tmp_path: Path) -> Iterator[tuple[str, list[StandIn]]]:
    workers = [StandIn("w1"), StandIn("w2")]
    for worker in workers:
        threading.Thread(target=worker.serve_forever, daemon=True).start()
    bind = f"127.0.0.1:{free_port()}"
    config = tmp_path / "haproxy.cfg"
    config.write_text(render([f"127.0.0.1:{w.server_address[1]}" for w in workers], bind, check_interval_ms=300))
    assert subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], capture_output=True).returncode == 0
    proxy = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait(lambda: httpx.get(f"http://{bind}/flows").status_code == 200, 10)
        yield f"http://{bind}", workers
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        for worker in workers:
            worker.shutdown()
            worker.server_close()


def _wait(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_webrtc_signalling_sticks_to_the_peers_worker_even_when_it_is_full(balanced) -> None:
    url, (w1, w2) = balanced
    offers = [httpx.post(f"{url}/api/offer", json={"sdp": "v=0", "type": "offer"}).json() for _ in range(4)]
    assert {o["worker"] for o in offers} == {"w1", "w2"}  # least connections spreads new calls
    for offer in offers:
        patch = httpx.patch(f"{url}/api/offer", json={"pc_id": offer["pc_id"], "candidates": []})
        assert patch.json()["worker"] == offer["worker"]
    w1.full = True
    _wait(lambda: {httpx.post(f"{url}/api/offer", json={"sdp": "v=0"}).json()["worker"] for _ in range(3)} == {"w2"}, 5)
    on_w1 = next(o for o in offers if o["worker"] == "w1")
    # The full worker reports not-ready, yet its own peer's trickled ICE and hang-up still reach it.
    assert httpx.patch(f"{url}/api/offer", json={"pc_id": on_w1["pc_id"], "candidates": []}).json()["worker"] == "w1"
    assert httpx.delete(f"{url}/api/calls/{on_w1['pc_id']}").json()["worker"] == "w1"
    w2.full = True
    _wait(lambda: httpx.get(f"{url}/ws/call").status_code == 503, 5)
    busy = httpx.get(f"{url}/ws/call")
    assert busy.json()["error"] == "busy" and busy.headers["retry-after"] == "10"
    assert httpx.get(f"{url}/flows").status_code == 200  # the records and campaign API stays up


def test_the_generated_config_names_its_faults() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        render([], "127.0.0.1:8100")
    with pytest.raises(ValueError, match="'localhost' is not host:port"):
        render(["localhost"], "127.0.0.1:8100")
