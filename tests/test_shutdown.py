"""The service ends when told to: ``medvoice serve`` is gone within 2 s of SIGTERM, having closed
what it opened (the models' threads, WebRTC peers, the records store)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_idle_service_exits_within_two_seconds_of_sigterm(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "MEDVOICE_DATABASE_URL": f"sqlite:///{tmp_path}/medvoice.db",
        "MEDVOICE_KEY_FILE": str(tmp_path / "keys.json"),
        "MEDVOICE_LOG_LEVEL": "WARNING",
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            assert service.poll() is None, service.stdout.read()[-2000:] if service.stdout else ""
            assert time.monotonic() < deadline, "the service was not ready within 240 s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        told = time.monotonic()
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=10)
        assert time.monotonic() - told < 2.0
        output = service.stdout.read() if service.stdout else ""
        assert "Traceback" not in output, output[-2000:]
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
