"""``python -m evals.latency --out DIR [--quick]``: turn-taking latency, medvoice vs stock pipecat.

Runs the real service (real embedded models, ``asr_decoder=short_window``) on 127.0.0.1 and calls
it over the WebSocket with rendered Mandarin: complete utterances with clause pauses, unfinished
fragments followed by 1.5 s of silence, backchannels and real interruptions during the agent's
speech, then 1-6 concurrent calls. The same utterances go through pipecat's stock pipeline in the
same run. Writes ``results.json`` (flat names) and PNG plots under DIR, prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from evals.latency import ours, stock
from evals.latency.script import build_script


def _p(values: list[float], q: float) -> float | None:
    data = [v for v in values if v is not None]
    return round(float(np.quantile(data, q)) * 1000) if data else None


def _rate(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def _serve(settings):
    import uvicorn

    from agent.app import create_app
    from agent.engines import Engines

    engines = Engines(settings)
    app = create_app(settings, engines=engines)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 60 s")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, engines, f"ws://127.0.0.1:{port}/ws/call?flow={ours.FLOW}"


async def _run(args) -> dict:
    from agent.config import Settings
    from agent.metrics import REGISTRY

    work = Path(tempfile.mkdtemp(prefix="medvoice-latency-"))
    settings = Settings(
        _env_file=None,
        asr_decoder="short_window",
        database_url=f"sqlite:///{work}/records.db",
        key_file=work / "keys.json",
        silence_timeout_s=20.0,
        max_calls=16,
    )
    server, engines, url = await asyncio.to_thread(_serve, settings)
    script = build_script(engines.voice, quick=args.quick)
    talk = script["complete"] + script["fragment"]
    load = {"loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    REGISTRY.reset()

    turns = await ours.run_turns(url, talk)
    barges = await ours.run_barge_ins(url, script["interruption"] + script["backchannel"])
    concurrency = {}
    for calls in ([1, 2] if args.quick else [1, 2, 4, 6]):
        answered, underruns, v2v = await ours.run_concurrent(url, script["complete"], calls)
        concurrency[calls] = {"answered": answered, "turns": 2 * calls, "underruns": underruns,
                              "v2v_p50_ms": _p(v2v, 0.5)}
    stage_snapshot = REGISTRY.snapshot()
    server.should_exit = True
    stock_turns = await stock.run_stock(engines.transcriber.settings.model_dir, talk)
    load["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]

    complete = [t for t in turns if t.kind == "complete"]
    fragments = [t for t in turns if t.kind == "fragment"]
    stock_complete = [t for t in stock_turns if t.kind == "complete"]
    stock_fragments = [t for t in stock_turns if t.kind == "fragment"]
    # The agent's answer time after the turn ended (dialogue + TTS + send), measured on our side,
    # added to stock's turn end gives stock's voice-to-voice with the same dialogue and voice.
    answer = [t.v2v_s - t.turn_complete_s for t in turns if t.v2v_s is not None and t.turn_complete_s is not None]
    answer_p50 = float(np.median(answer)) if answer else 0.0
    stock_v2v = [t.turn_complete_s + answer_p50 for t in stock_turns if t.turn_complete_s is not None]
    interrupts = [b for b in barges if b.kind == "interruption"]
    backchannels = [b for b in barges if b.kind == "backchannel"]
    ok_levels = [n for n, c in concurrency.items() if c["underruns"] == 0 and c["answered"] == c["turns"]]
    results = {
        "transport": "websocket",
        "asr_decoder": "short_window",
        "turns_measured": len(turns),
        "stock_turns_measured": len(stock_turns),
        "turn_complete_p50_ms": _p([t.turn_complete_s for t in complete], 0.5),
        "turn_complete_p95_ms": _p([t.turn_complete_s for t in complete], 0.95),
        "stock_turn_complete_p50_ms": _p([t.turn_complete_s for t in stock_complete], 0.5),
        "stock_turn_complete_p95_ms": _p([t.turn_complete_s for t in stock_complete], 0.95),
        "fragment_turn_complete_p50_ms": _p([t.turn_complete_s for t in fragments], 0.5),
        "stock_fragment_turn_complete_p50_ms": _p([t.turn_complete_s for t in stock_fragments], 0.5),
        "split_turn_rate": _rate([t.finals != 1 or t.cut_off for t in turns]),
        "stock_split_turn_rate": _rate([t.turns != 1 or t.cut_off for t in stock_turns]),
        "fragment_cut_off_rate": _rate([t.cut_off for t in fragments]),
        "stock_fragment_cut_off_rate": _rate([t.cut_off for t in stock_fragments]),
        "v2v_p50_ms": _p([t.v2v_s for t in complete], 0.5),
        "v2v_p95_ms": _p([t.v2v_s for t in complete], 0.95),
        "answer_after_turn_p50_ms": round(answer_p50 * 1000),
        "stock_v2v_p50_ms": _p(stock_v2v, 0.5),
        "stock_v2v_p95_ms": _p(stock_v2v, 0.95),
        "bargein_p50_ms": _p([b.stop_s for b in interrupts], 0.5),
        "bargein_p95_ms": _p([b.stop_s for b in interrupts], 0.95),
        "backchannel_pause_p50_ms": _p([b.paused_s for b in backchannels], 0.5),
        "backchannel_false_interrupt_rate": _rate([b.interrupted for b in backchannels]),
        "backchannel_resumed_rate": _rate([b.resumed for b in backchannels]),
        "missed_interrupt_rate": _rate([not b.interrupted for b in interrupts]),
        "max_concurrent_calls": max(ok_levels) if ok_levels else 0,
        **{f"concurrent_{n}_{k}": v for n, c in concurrency.items() for k, v in c.items()},
        **{f"stage_{s}_p50_ms": v["p50"] for s, v in stage_snapshot["stages_ms"].items()},
        **{f"stage_{s}_p95_ms": v["p95"] for s, v in stage_snapshot["stages_ms"].items()},
        **load,
    }
    for name in ("turn_complete", "v2v"):
        ours_v, stock_v = results[f"{name}_p50_ms"], results[f"stock_{name}_p50_ms"]
        results[f"{name}_p50_ratio_vs_stock"] = round(ours_v / stock_v, 3) if ours_v and stock_v else None
    (args.out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    _plot(args.out, turns, stock_turns, barges, concurrency)
    return results


def _plot(out: Path, turns, stock_turns, barges, concurrency) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    series = {
        "medvoice turn end": [t.turn_complete_s for t in turns if t.kind == "complete"],
        "stock turn end": [t.turn_complete_s for t in stock_turns if t.kind == "complete"],
        "medvoice first audio": [t.v2v_s for t in turns if t.kind == "complete"],
    }
    data = [[v for v in values if v is not None] or [0.0] for values in series.values()]
    axes[0].boxplot(data, tick_labels=list(series))
    axes[0].set_ylabel("seconds after the caller's end of speech")
    axes[0].set_title("Complete utterances")
    stops = [b.stop_s for b in barges if b.kind == "interruption" and b.stop_s is not None]
    axes[1].hist(stops or [0.0], bins=10)
    axes[1].set_xlabel("seconds from caller onset to agent audio stopped")
    axes[1].set_title("Barge-in")
    levels = sorted(concurrency)
    axes[2].plot(levels, [concurrency[n]["v2v_p50_ms"] or 0 for n in levels], marker="o", label="v2v p50 (ms)")
    axes[2].bar(levels, [concurrency[n]["underruns"] * 100 for n in levels], alpha=0.3, label="underruns x100")
    axes[2].set_xlabel("concurrent calls")
    axes[2].legend()
    axes[2].set_title("Concurrency")
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("evals/out/latency"))
    parser.add_argument("--data", type=Path, default=None, help="unused: the script ships in evals/latency/data")
    parser.add_argument("--quick", action="store_true", help="a few utterances of each kind (~3 min)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = asyncio.run(_run(args))
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
