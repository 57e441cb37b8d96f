"""``python -m evals.latency --out DIR [--quick] [--transport both]``: turn-taking latency, medvoice vs stock pipecat.

Runs the real service (real embedded models, ``asr_decoder=short_window``) on 127.0.0.1 and calls
it over the WebSocket, over WebRTC (aiortc, Opus) and over SIP (a PJSUA2 phone, PCMA;
``--transport websocket,sip``) with rendered Mandarin: complete utterances
with clause pauses, unfinished fragments followed by 1.5 s of silence, backchannels and real
interruptions during the agent's speech; then, over the WebSocket, 1-6 concurrent calls. The same
utterances go through pipecat's stock pipeline in the same run. WebRTC metrics carry a
``webrtc_`` prefix, SIP ones ``sip_``; without a non-loopback address for ICE host candidates that part is skipped
with a one-line reason. Writes ``results.json`` (flat names) and PNG plots under DIR, prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evals.latency import ours, stock
from evals.latency.caller import Dial, LiveCall
from evals.latency.rtc_caller import RtcLiveCall
from evals.latency.script import Utterance, build_script
from evals.latency.sip_caller import CODEC as SIP_CODEC
from evals.latency.sip_caller import SipLiveCall
from evals.netloss.network import host_address_unavailable


def _p(values: Sequence[float | None], q: float) -> float | None:
    """The ``q`` quantile of the measured values, in milliseconds (None when nothing was measured)."""
    data = [v for v in values if v is not None]
    return round(float(np.quantile(data, q)) * 1000) if data else None


def _rate(flags: list[bool]) -> float | None:
    """The share of true flags (None when there are none)."""
    return round(sum(flags) / len(flags), 3) if flags else None


def _answer_after_turn_s(turns: list[ours.TurnResult]) -> float:
    """Median time from the whole utterance reaching the dialogue to the first agent audio."""
    answer = [t.v2v_s - t.turn_complete_s for t in turns if t.v2v_s is not None and t.turn_complete_s is not None]
    return float(np.median(answer)) if answer else 0.0


def _turn_metrics(turns: list[ours.TurnResult] | list[stock.StockTurn]) -> dict[str, Any]:
    """Turn-taking metrics of one caller or of stock pipecat (unprefixed names)."""
    complete = [t for t in turns if t.kind == "complete"]
    fragments = [t for t in turns if t.kind == "fragment"]
    return {
        "turns_measured": len(turns),
        "turn_complete_p50_ms": _p([t.turn_complete_s for t in complete], 0.5),
        "turn_complete_p95_ms": _p([t.turn_complete_s for t in complete], 0.95),
        "fragment_turn_complete_p50_ms": _p([t.turn_complete_s for t in fragments], 0.5),
        "split_turn_rate": _rate([t.split for t in turns]),
        "fragment_cut_off_rate": _rate([t.cut_off for t in fragments]),
    }


def _call_metrics(turns: list[ours.TurnResult], barges: list[ours.BargeResult]) -> dict[str, Any]:
    """The caller-side metrics of one transport (unprefixed names, as for the WebSocket)."""
    complete = [t for t in turns if t.kind == "complete"]
    interrupts = [b for b in barges if b.kind == "interruption"]
    backchannels = [b for b in barges if b.kind == "backchannel"]
    return {
        **_turn_metrics(turns),
        "v2v_p50_ms": _p([t.v2v_s for t in complete], 0.5),
        "v2v_p95_ms": _p([t.v2v_s for t in complete], 0.95),
        "answer_after_turn_p50_ms": round(_answer_after_turn_s(turns) * 1000),
        "bargein_p50_ms": _p([b.stop_s for b in interrupts], 0.5),
        "bargein_p95_ms": _p([b.stop_s for b in interrupts], 0.95),
        "backchannel_pause_p50_ms": _p([b.paused_s for b in backchannels], 0.5),
        "backchannel_false_interrupt_rate": _rate([b.interrupted for b in backchannels]),
        "backchannel_resumed_rate": _rate([b.resumed for b in backchannels]),
        "missed_interrupt_rate": _rate([not b.interrupted for b in interrupts]),
    }


@dataclass
class _Measured:
    """What one transport's calls measured."""

    turns: list[ours.TurnResult] = field(default_factory=list)
    barges: list[ours.BargeResult] = field(default_factory=list)


async def _measure(dial: Dial, script: dict[str, list[Utterance]]) -> _Measured:
    turns = await ours.run_turns(dial, script["complete"] + script["fragment"])
    barges = await ours.run_barge_ins(dial, script["interruption"] + script["backchannel"])
    return _Measured(turns, barges)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from agent.config import Settings
    from agent.metrics import REGISTRY

    rtc_skipped = host_address_unavailable() if "webrtc" in args.transport else None
    if rtc_skipped is not None:
        print(f"WebRTC skipped: {rtc_skipped}")
    work = Path(tempfile.mkdtemp(prefix="medvoice-latency-"))
    settings = Settings(
        _env_file=None,
        asr_decoder="short_window",
        database_url=f"sqlite:///{work}/records.db",
        key_file=work / "keys.json",
        silence_timeout_s=20.0,
        max_calls=16,
        webrtc_offers_per_minute=600,  # one scripted caller places every call from one address
        **(_SIP_SETTINGS if "sip" in args.transport else {}),
    )
    server, engines, base_url = await asyncio.to_thread(ours.serve, settings)
    ws_url = f"{base_url.replace('http://', 'ws://')}/ws/call?flow={ours.FLOW}"
    script = build_script(engines.voice, quick=args.quick)
    talk = script["complete"] + script["fragment"]
    load = {"loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    results: dict[str, Any] = {"asr_decoder": "short_window"}
    REGISTRY.reset()

    ws: _Measured | None = None
    stock_turns: list[stock.StockTurn] = []
    concurrency: dict[int, dict[str, Any]] = {}
    stage_snapshot: dict[str, Any] = {"stages_ms": {}}
    if "websocket" in args.transport:
        ws = await _measure(lambda: LiveCall(ws_url), script)
        for calls in ([1, 2] if args.quick else [1, 2, 4, 6]):
            answered, underruns, v2v = await ours.run_concurrent(lambda: LiveCall(ws_url), script["complete"], calls)
            concurrency[calls] = {"answered": answered, "turns": 2 * calls, "underruns": underruns,
                                  "v2v_p50_ms": _p(v2v, 0.5)}
        stage_snapshot = REGISTRY.snapshot()
    rtc: _Measured | None = None
    if rtc_skipped is not None:
        results["webrtc_skipped"] = rtc_skipped
    elif "webrtc" in args.transport:
        rtc = await _measure(lambda: RtcLiveCall(base_url, ours.FLOW), script)
        results["webrtc_stop_gap_ms"] = round(RtcLiveCall.stop_gap_s * 1000)
        results.update({f"webrtc_{k}": v for k, v in _call_metrics(rtc.turns, rtc.barges).items()})
    sip: _Measured | None = None
    if "sip" in args.transport:
        endpoint = server.config.app.state.sip.endpoint
        sip = await _measure(lambda: SipLiveCall(endpoint, ours.FLOW), script)
        results["sip_codec"] = SIP_CODEC
        results["sip_stop_gap_ms"] = round(SipLiveCall.stop_gap_s * 1000)
        results.update({f"sip_{k}": v for k, v in _call_metrics(sip.turns, sip.barges).items()})
    if ws is None:
        stage_snapshot = REGISTRY.snapshot()  # else the WebSocket calls' alone, as before WebRTC
    server.should_exit = True
    if ws is not None:
        stock_turns = await stock.run_stock(engines.transcriber.settings.model_dir, talk)
        results.update(_websocket_results(ws, stock_turns, concurrency))
    results.update({f"stage_{s}_p50_ms": v["p50"] for s, v in stage_snapshot["stages_ms"].items()})
    results.update({f"stage_{s}_p95_ms": v["p95"] for s, v in stage_snapshot["stages_ms"].items()})
    load["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results.update(load)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    _write_rows(args.out / "turns.jsonl", script, {"websocket": ws, "webrtc": rtc, "sip": sip}, stock_turns)
    _plot(args.out, ws, stock_turns, {"WebRTC": rtc, "SIP": sip}, concurrency)
    return results


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _write_rows(
    path: Path, script: dict[str, list[Utterance]], measured_by: dict[str, _Measured | None],
    stock_turns: list[stock.StockTurn],
) -> None:
    """One JSON line per measured turn and barge-in (which utterance split, which backchannel interrupted)."""
    talk = script["complete"] + script["fragment"]
    barges = script["interruption"] + script["backchannel"]
    rows: list[dict[str, Any]] = []
    for transport, measured in measured_by.items():
        if measured is None:
            continue
        rows += [{"transport": transport, "kind": u.kind, "text": u.text, "pauses": list(u.pauses),
                  "finals": t.finals, "cut_off": t.cut_off, "split": t.split,
                  "turn_complete_ms": _ms(t.turn_complete_s), "v2v_ms": _ms(t.v2v_s)}
                 for u, t in zip(talk, measured.turns, strict=True)]
        rows += [{"transport": transport, "kind": u.kind, "text": u.text, "stop_ms": _ms(b.stop_s),
                  "interrupted": b.interrupted, "resumed": b.resumed, "paused_ms": _ms(b.paused_s)}
                 for u, b in zip(barges, measured.barges, strict=True)]
    if stock_turns:  # stock pipecat runs only beside the WebSocket caller
        rows += [{"transport": "stock", "kind": u.kind, "text": u.text, "turns": t.turns, "cut_off": t.cut_off,
                  "split": t.split, "turn_complete_ms": _ms(t.turn_complete_s)}
                 for u, t in zip(talk, stock_turns, strict=True)]
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def _websocket_results(
    ws: _Measured, stock_turns: list[stock.StockTurn], concurrency: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """The WebSocket metrics (unprefixed), stock pipecat's, their ratios and the concurrency sweep."""
    # The agent's answer time after the turn ended (dialogue + TTS + send), measured on our side,
    # added to stock's turn end gives stock's voice-to-voice with the same dialogue and voice.
    answer_s = _answer_after_turn_s(ws.turns)
    stock_v2v = [t.turn_complete_s + answer_s for t in stock_turns if t.turn_complete_s is not None]
    ok_levels = [n for n, c in concurrency.items() if c["underruns"] == 0 and c["answered"] == c["turns"]]
    results: dict[str, Any] = {
        "transport": "websocket",
        **_call_metrics(ws.turns, ws.barges),
        **{f"stock_{k}": v for k, v in _turn_metrics(stock_turns).items()},
        "stock_v2v_p50_ms": _p(stock_v2v, 0.5),
        "stock_v2v_p95_ms": _p(stock_v2v, 0.95),
        "max_concurrent_calls": max(ok_levels) if ok_levels else 0,
        **{f"concurrent_{n}_{k}": v for n, c in concurrency.items() for k, v in c.items()},
    }
    for name in ("turn_complete", "v2v"):
        ours_v, stock_v = results[f"{name}_p50_ms"], results[f"stock_{name}_p50_ms"]
        results[f"{name}_p50_ratio_vs_stock"] = round(ours_v / stock_v, 3) if ours_v and stock_v else None
    return results


def _plot(
    out: Path,
    ws: _Measured | None,
    stock_turns: list[stock.StockTurn],
    others: dict[str, _Measured | None],
    concurrency: dict[int, dict[str, Any]],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def complete(turns: list, attribute: str) -> list[float]:
        return [getattr(t, attribute) for t in turns if t.kind == "complete"]

    def stops(measured: _Measured) -> list[float]:
        return [b.stop_s for b in measured.barges if b.kind == "interruption" and b.stop_s is not None]

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    series: dict[str, Sequence[float | None]] = {}
    if ws is not None:
        series["medvoice turn end"] = complete(ws.turns, "turn_complete_s")
        series["stock turn end"] = complete(stock_turns, "turn_complete_s")
        series["medvoice first audio"] = complete(ws.turns, "v2v_s")
    for label, other in others.items():
        if other is not None:
            series[f"{label} turn end"] = complete(other.turns, "turn_complete_s")
            series[f"{label} first audio"] = complete(other.turns, "v2v_s")
    data = [[v for v in values if v is not None] or [0.0] for values in series.values()]
    if data:
        axes[0].boxplot(data, tick_labels=list(series))
        axes[0].tick_params(axis="x", labelrotation=20)
    axes[0].set_ylabel("seconds after the caller's end of speech")
    axes[0].set_title("Complete utterances (WebSocket unless marked)")
    barge_series = {label: stops(m) for label, m in {"WebSocket": ws, **others}.items() if m is not None}
    edges = np.histogram_bin_edges([s for v in barge_series.values() for s in v] or [0.0], bins=12)
    for label, values in barge_series.items():
        axes[1].hist(values or [0.0], bins=edges, alpha=0.6, label=label)
    axes[1].set_xlabel("seconds from caller onset to agent audio stopped")
    if barge_series:
        axes[1].legend()
    axes[1].set_title("Barge-in (WebSocket unless marked)")
    levels = sorted(concurrency)
    axes[2].plot(levels, [concurrency[n]["v2v_p50_ms"] or 0 for n in levels], marker="o", label="v2v p50 (ms)")
    axes[2].bar(levels, [concurrency[n]["underruns"] * 100 for n in levels], alpha=0.3, label="underruns x100")
    axes[2].set_xlabel("concurrent calls (WebSocket)")
    axes[2].legend()
    axes[2].set_title("Concurrency")
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=100)
    plt.close(fig)


# The service's SIP endpoint for the SIP caller: any free loopback port, the phone's address allowed,
# its calls not rate limited (every scripted call comes from 127.0.0.1).
_SIP_SETTINGS: dict[str, Any] = {
    "sip_port": 0, "sip_bind": "127.0.0.1", "sip_allow_from": "127.0.0.1", "sip_invites_per_minute": 6000,
}
_TRANSPORTS = {"websocket": ("websocket",), "ws": ("websocket",), "webrtc": ("webrtc",), "sip": ("sip",),
               "both": ("websocket", "webrtc"), "all": ("websocket", "webrtc", "sip")}


def _transports(value: str) -> tuple[str, ...]:
    """``--transport``: a comma-separated list of callers (aliases expanded, order kept, no repeats)."""
    chosen: list[str] = []
    for name in value.split(","):
        if name.strip() not in _TRANSPORTS:
            raise argparse.ArgumentTypeError(f"unknown transport {name!r}; one of {', '.join(_TRANSPORTS)}")
        chosen += [t for t in _TRANSPORTS[name.strip()] if t not in chosen]
    return tuple(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("evals/out/latency"))
    parser.add_argument("--data", type=Path, default=None, help="unused: the script ships in evals/latency/data")
    parser.add_argument("--quick", action="store_true", help="a few utterances of each kind (~3 min)")
    parser.add_argument(
        "--transport", "--transports", type=_transports, default=_transports("both"),
        help="which scripted caller(s) to run, comma-separated: websocket (ws), webrtc, sip; both = "
        "websocket,webrtc; all = the three. Stock pipecat and the concurrency sweep run with websocket",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = asyncio.run(_run(args))
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
