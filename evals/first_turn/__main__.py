"""First numbers: model load times, and end of caller speech -> first agent audio for one turn.

    python -m evals.first_turn --out evals/out/first_turn [--runs 5]

Starts the real service in-process (uvicorn on 127.0.0.1, real embedded models), places ``--runs``
WebSocket calls, each saying one rendered Mandarin sentence after the greeting, and measures from
the last caller sample sent to the first agent audio byte received. Prints a table and writes
``results.json`` and ``first_turn.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import uvicorn  # noqa: E402

from agent.app import create_app  # noqa: E402
from agent.config import Settings  # noqa: E402
from agent.engines import Engines  # noqa: E402
from evals.render import render_caller  # noqa: E402
from evals.ws_caller import call  # noqa: E402

SENTENCES = ["我胸口疼，出了很多汗。", "我头疼，有点发烧。", "我肚子疼了两天了。", "孩子咳嗽三天了。", "我妈说话不清楚了。"]


def _serve(app) -> tuple[uvicorn.Server, str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"ws://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("evals/out/first_turn"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    settings = Settings()
    engines = Engines(settings)
    server, ws = _serve(create_app(settings, engines=engines))
    latencies_ms = []
    try:
        for i in range(args.runs):
            pcm = render_caller(engines.voice, SENTENCES[i % len(SENTENCES)])
            result = asyncio.run(call(f"{ws}/ws/call?flow=triage", [pcm]))
            done = next(e["_t"] for e in result.events if e["type"] == "_caller_done")
            first_audio = min((t for t, _ in result.audio_chunks if t > done), default=None)
            if first_audio is not None:
                latencies_ms.append((first_audio - done) * 1000)
    finally:
        server.should_exit = True

    load = {s.name: s.load_s for s in engines.status}
    results = {
        **{f"load_{name}_s": value for name, value in load.items()},
        "turns": len(latencies_ms),
        "v2v_p50_ms": round(statistics.median(latencies_ms), 1) if latencies_ms else None,
        "v2v_p95_ms": round(_percentile(latencies_ms, 0.95), 1) if latencies_ms else None,
        "v2v_ms": [round(v, 1) for v in latencies_ms],
    }
    print("model load times (s): " + ", ".join(f"{k} {v:.2f}" for k, v in load.items()))
    print(f"end of speech -> first agent audio over {len(latencies_ms)} turns: "
          f"median {results['v2v_p50_ms']} ms, p95 {results['v2v_p95_ms']} ms")
    (args.out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(range(1, len(latencies_ms) + 1), latencies_ms, color="#3a7")
    ax.set_xlabel("turn")
    ax.set_ylabel("ms")
    ax.set_title("end of caller speech -> first agent audio")
    fig.tight_layout()
    fig.savefig(args.out / "first_turn.png", dpi=100)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
