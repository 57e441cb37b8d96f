"""The child process behind ``local_server``: llama.cpp's OpenAI-compatible server, run through xllamacpp.

xllamacpp's ``Server`` starts llama.cpp's C++ HTTP server on threads of the calling process and serves
until the object is destroyed. Running it in a child process of its own lets ``local_server`` stop it
with one SIGTERM, whatever the caller is doing. Listens on 127.0.0.1 only. Imports nothing but the
standard library and xllamacpp, so ``local_server`` runs it as a script, without the dialogue package.

    python dialogue/llm/xllama_server.py --model gemma-3-270m-q4_k_m.gguf --port 8080 --threads 1
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

# llama.cpp's built-in template of that name, the format Gemma 3 was trained on. The GGUF's metadata
# carries none, and without one the server falls back to ChatML (<|im_start|>), which Gemma does not know.
CHAT_TEMPLATE = "gemma"


def serve(model: Path, port: int, threads: int, n_ctx: int, alias: str) -> None:
    """Serve ``model`` on 127.0.0.1:``port`` until SIGTERM or SIGINT."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.model_alias = {alias}
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    # A built-in template is chosen by name only outside Jinja mode; in Jinja mode the name "gemma"
    # would be taken for the template's source text.
    params.use_jinja = False
    params.chat_template = CHAT_TEMPLATE
    server = xllamacpp.Server(params)  # returns once the model is loaded and the port is listening
    # While starting, llama.cpp replaced the SIGTERM/SIGINT handlers with its own, which stop its loop
    # but would leave this thread waiting forever; ours end the wait, and the destructor stops the rest.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        del server  # stops the HTTP server and joins llama.cpp's loop thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="llama.cpp's OpenAI-compatible server via xllamacpp.")
    parser.add_argument("--model", type=Path, required=True, help="the GGUF file")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ctx", type=int, default=2048, help="context length in tokens")
    parser.add_argument("--alias", default="gemma-3-270m", help="the model id listed at /v1/models")
    args = parser.parse_args(argv)
    serve(args.model, args.port, args.threads, args.ctx, args.alias)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
