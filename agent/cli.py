"""The ``medvoice`` command: ``serve``, ``call`` (a whole call on a WAV file), ``models prepare``,
and ``audit verify``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from agent.config import FLOWS, Settings
from agent.logs import configure_logging
from agent.models import ModelError, ModelLocator

CALLER_SAMPLE_RATE = 16000
# On SIGTERM, connections (calls in progress) get this long before their tasks are cancelled, so
# the service is gone within 2 s.
GRACEFUL_SHUTDOWN_S = 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="medvoice", description="Offline Mandarin voice agent for hospitals.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start the HTTP/WebSocket service")
    serve.add_argument("--host", help="bind address (default MEDVOICE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default MEDVOICE_PORT or 8000)")
    serve.set_defaults(handler=_serve)

    call = commands.add_parser("call", help="run one call with a WAV file as the caller")
    call.add_argument("--flow", default="triage", help=f"one of {', '.join(FLOWS)}")
    call.add_argument("--in", dest="caller", type=Path, required=True, help="caller audio: 16 kHz mono WAV")
    call.add_argument("--out", type=Path, required=True, help="where to write the agent's audio (WAV)")
    call.set_defaults(handler=_call)

    models = commands.add_parser("models", help="model files")
    models_commands = models.add_subparsers(dest="models_command", required=True)
    prepare = models_commands.add_parser("prepare", help="locate, reassemble and check every model")
    prepare.set_defaults(handler=_prepare_models)

    try:
        from agent.audit_cli import add_audit_commands
    except ImportError:  # the records package is optional for a bare voice deployment
        pass
    else:
        add_audit_commands(commands)
        from agent.console_cli import add_console_commands

        add_console_commands(commands)

    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ModelError as exc:
        print(f"medvoice: {exc}", file=sys.stderr)
        return 2


def _settings() -> Settings:
    return Settings()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from agent.app import create_app

    settings = _settings()
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except ValueError as exc:  # a refused key file, a bad key ring, database URL or SIP setting
        print(f"medvoice serve: {exc}", file=sys.stderr)
        return 2
    ModelLocator(settings.model_cache).prepare_all()  # fail fast, one clear line, before binding
    uvicorn.run(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        ws_max_size=1 << 20,
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return 0


def _prepare_models(_args: argparse.Namespace) -> int:
    settings = _settings()
    for model in ModelLocator(settings.model_cache).prepare_all():
        print(f"{model.name:6} ready  {model.prepare_s:6.2f}s  {model.path}")
    return 0


def read_caller_wav(path: Path) -> np.ndarray:
    """Read a caller recording as int16 16 kHz mono; other formats get a clear error."""
    if not path.is_file():
        raise SystemExit(f"medvoice call: {path} does not exist")
    try:
        info = sf.info(str(path))
    except RuntimeError as exc:
        raise SystemExit(f"medvoice call: {path} is not a readable WAV file ({exc})") from exc
    if info.samplerate != CALLER_SAMPLE_RATE or info.channels != 1:
        raise SystemExit(
            f"medvoice call: {path} is {info.samplerate} Hz with {info.channels} channel(s); expected "
            f"{CALLER_SAMPLE_RATE} Hz mono. Convert it, e.g. sox in.wav -r 16000 -c 1 -b 16 out.wav"
        )
    return sf.read(str(path), dtype="int16")[0]


def _call(args: argparse.Namespace) -> int:
    from agent.engines import Engines
    from agent.session import CallSessions
    from dialogue import UnknownFlowError

    caller = read_caller_wav(args.caller)
    settings = _settings()
    configure_logging("WARNING")
    started = time.perf_counter()
    with Engines(settings) as engines:
        print(f"[models loaded in {time.perf_counter() - started:.1f}s]", file=sys.stderr)
        try:
            log, recording = asyncio.run(run_file_call(CallSessions(engines), args.flow, caller))
        except UnknownFlowError as exc:
            print(f"medvoice call: {exc}", file=sys.stderr)
            return 2
    for role, text in log.transcript():
        print(f"{'患者' if role == 'caller' else '助手'}: {text}")
    audio = recording.to_array()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(args.out), audio, recording.sample_rate, subtype="PCM_16")
    print(f"[agent audio: {len(audio) / recording.sample_rate:.1f}s -> {args.out}]", file=sys.stderr)
    return 0


async def run_file_call(sessions, flow: str, caller: np.ndarray, *, silence_timeout_s: float | None = None):
    """Run a whole call with ``caller`` (int16 16 kHz) as the caller; returns (CallLog, CallRecording)."""
    from transport import FileCallTransport

    sessions.new_dialogue(flow, "probe")  # unknown flow -> UnknownFlowError before any audio runs
    state = {"caller_turns": 0, "answered": 0}

    def on_event(event: dict) -> None:
        if event.get("type") == "transcript":
            key = "caller_turns" if event["role"] == "caller" else "answered"
            if key == "caller_turns":
                state["caller_turns"] += 1
                state["answered"] = 0
            else:
                state["answered"] += 1

    transport = FileCallTransport(
        caller,
        output_sample_rate=sessions.engines.settings.output_sample_rate,
        answered_after_caller=lambda: state["caller_turns"] > 0 and state["answered"] > 0,
    )
    timeout = silence_timeout_s or sessions.engines.settings.silence_timeout_s
    log = await sessions.run_call(flow, transport, on_event=on_event, silence_timeout_s=timeout)
    return log, transport.recording


if __name__ == "__main__":
    raise SystemExit(main())
