"""Packet loss on WebRTC calls: recognition and latency at 0%, 10% and 30% loss.

``python -m evals.netloss --out DIR`` starts the service in-process (real embedded models) on
127.0.0.1, calls it over WebRTC with the aiortc caller (loss injected in the caller's ICE transport,
both directions), prints a table, writes ``results.json`` (flat names) and ``netloss.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = Path(__file__).parents[1] / "data" / "asr_medical.jsonl"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals.netloss", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="JSONL with a 'text' field per sentence")
    parser.add_argument("--out", type=Path, default=Path("evals/out/netloss"))
    parser.add_argument("--rates", default="0,0.1,0.3", help="comma-separated loss rates")
    parser.add_argument("--sentences", type=int, default=8, help="dictated sentences per rate")
    parser.add_argument("--triage-calls", type=int, default=3, help="voice-to-voice calls per rate")
    parser.add_argument("--model-cache", type=Path, default=Path(os.environ.get("MEDVOICE_MODEL_CACHE", ".cache/models")))
    return parser.parse_args(argv)


def _serve(app):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summarise(results) -> dict[str, float | int | None]:
    flat: dict[str, float | int | None] = {}
    for r in results:
        key = f"loss{round(r.loss_rate * 100)}"
        flat[f"{key}_cer"] = round(r.cer_errors / r.cer_chars, 4) if r.cer_chars else None
        flat[f"{key}_transcript_p50_ms"] = _pct(r.transcript_ms, 50)
        flat[f"{key}_transcript_p95_ms"] = _pct(r.transcript_ms, 95)
        flat[f"{key}_v2v_p50_ms"] = _pct(r.v2v_ms, 50)
        flat[f"{key}_v2v_p95_ms"] = _pct(r.v2v_ms, 95)
        flat[f"{key}_utterances"] = r.utterances
        flat[f"{key}_utterances_missed"] = r.utterances_missed
        flat[f"{key}_calls"] = r.calls
        flat[f"{key}_calls_dropped"] = r.calls_dropped
        flat[f"{key}_measured_loss"] = round(r.datagrams_dropped / r.datagrams, 4) if r.datagrams else 0.0
    base = results[0]
    for r in results[1:]:
        key = f"loss{round(r.loss_rate * 100)}"
        for metric in ("transcript_p50_ms", "v2v_p50_ms"):
            a, b = flat.get(f"{key}_{metric}"), flat.get(f"loss{round(base.loss_rate * 100)}_{metric}")
            flat[f"{key}_{metric.removesuffix('_ms')}_ratio"] = round(a / b, 3) if a and b else None
    return flat


def plot(flat: dict, rates: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{round(r * 100)}%" for r in rates]
    keys = [f"loss{round(r * 100)}" for r in rates]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.bar(labels, [flat[f"{k}_cer"] or 0 for k in keys], color="#0b4f8a")
    ax1.set_title("Dictation CER by packet loss")
    ax1.set_xlabel("packet loss (both directions)")
    ax1.set_ylabel("CER")
    x = np.arange(len(keys))
    for offset, metric, label in ((-0.2, "transcript", "speech end -> final transcript"),
                                  (0.2, "v2v", "voice-to-voice")):
        p50 = [flat[f"{k}_{metric}_p50_ms"] or 0 for k in keys]
        p95 = [flat[f"{k}_{metric}_p95_ms"] or 0 for k in keys]
        ax2.bar(x + offset, p50, 0.4, label=f"{label} p50")
        ax2.scatter(x + offset, p95, marker="_", s=300, color="black")
    ax2.set_xticks(x, labels)
    ax2.set_title("Latency by packet loss (bar p50, tick p95)")
    ax2.set_ylabel("ms")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def dictation_options(store) -> dict[str, str]:
    """The offer fields of a dictation call: a doctor's token (dictation saves a note the doctor
    authors) and the patient and encounter the note is for."""
    from backends.interfaces import Principal

    token = store.tokens.issue(Principal("dr-netloss", "doctor", "demo-hospital", "dept-cardiology"))
    return {"patient": "p1", "encounter": "e1", "token": token}


async def _run(args: argparse.Namespace, base_url: str, voice, options: dict[str, str]) -> list:
    from evals.netloss.runner import TRIAGE_COMPLAINT, run_rate
    from evals.render import render_caller

    texts = [json.loads(line)["text"] for line in args.data.read_text().splitlines() if line.strip()]
    sentences = [(t, render_caller(voice, t)) for t in texts[: args.sentences]]
    complaint = render_caller(voice, TRIAGE_COMPLAINT)
    results = []
    for rate in [float(r) for r in args.rates.split(",")]:
        print(f"loss {rate:.0%}: {len(sentences)} dictated sentences, {args.triage_calls} triage calls", flush=True)
        results.append(await run_rate(base_url, rate, sentences, complaint, args.triage_calls,
                                      dictation_options=options))
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from loguru import logger

    logger.remove()  # pipecat logs every frame at DEBUG; the table is the output
    logger.add(sys.stderr, level="WARNING")
    from agent.app import create_app
    from agent.config import Settings
    from agent.engines import Engines
    from backends.embedded import open_store
    from evals.netloss.network import ensure_host_address

    ensure_host_address()
    settings = Settings(_env_file=None, model_cache=args.model_cache, silence_timeout_s=10.0)
    engines = Engines(settings)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(database_url=f"sqlite:///{tmp}/medvoice.db", key_file=Path(tmp) / "keys.json")
        server, thread, url = _serve(create_app(settings, engines=engines, store=store))
        try:
            results = asyncio.run(_run(args, url, engines.voice, dictation_options(store)))
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            store.close()
    flat = summarise(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(flat, indent=2, ensure_ascii=False))
    plot(flat, [r.loss_rate for r in results], args.out / "netloss.png")
    print(f"{'loss':>5} {'CER':>6} {'missed':>6} {'dropped':>7} {'tr p50':>7} {'tr p95':>7} {'v2v p50':>8} {'v2v p95':>8}")
    for r in results:
        k = f"loss{round(r.loss_rate * 100)}"
        print(f"{r.loss_rate:>5.0%} {flat[k + '_cer']!s:>6} {r.utterances_missed:>6} {r.calls_dropped:>7} "
              f"{flat[k + '_transcript_p50_ms']!s:>7} {flat[k + '_transcript_p95_ms']!s:>7} "
              f"{flat[k + '_v2v_p50_ms']!s:>8} {flat[k + '_v2v_p95_ms']!s:>8}")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'netloss.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
