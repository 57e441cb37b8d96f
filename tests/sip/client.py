"""Drives ``tests/sip/peer.py`` (a real PJSUA2 user agent in a subprocess) from a test."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PEER = Path(__file__).with_name("peer.py")


class SipPeer:
    """A peer process: ``send`` commands, read ``events``, ``wait_for`` one."""

    def __init__(self, *args: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.log = tempfile.NamedTemporaryFile("w+", prefix="sip-peer-", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, str(PEER), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = int(self.wait_for("ready", 15)["port"])

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self._lock:
                self.events.append(event)

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the peer exited ({self.process.returncode}): {self.stderr()[-1500:]}")
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def find(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["event"] == kind and all(e.get(k) == v for k, v in match.items())]

    def wait_for(self, kind: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(kind, **match)
            if found:
                return found[-1]
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(
            f"peer event {kind} {match} not seen in {timeout:.0f} s; events: {self.events[-8:]}; "
            f"stderr: {self.stderr()[-1500:]}"
        )

    def stderr(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def close(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            try:
                self.send("quit")
                self.process.wait(timeout)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)
        self._reader.join(5)
        self.log.close()
