"""``python -m evals.triage --data FILE --mode rules|llm [--detector on] --out DIR``: the triage benchmark.

Prints a table, writes ``results.json`` (flat metrics), ``cases_<mode>.jsonl`` (per vignette, ids and
labels only), ``confusion_<mode>.png`` and ``scores_<mode>.png``. ``--mode llm`` uses ``--llm-base-url``
when given, else starts the local llama.cpp server with the pip-shipped Gemma 3 270M. ``--detector on``
also runs the learned red-flag detector (``dialogue.detector``) on each vignette's text and reports the
rules, the model alone (``model_*``) and their union (``union_*``) separately, with the detector's cost
(``detector_*``: ms per utterance with one thread, load time, RSS growth). Exits 0 whenever it ran,
whatever the scores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

from dialogue import LLMPlugin, LLMSettings
from dialogue.llm.local_server import LocalServerUnavailable, exit_on_sigterm, local_server
from evals.triage.metrics import FLAG_METRICS, Outcome, confusion, learned_outcome, score, with_learned
from evals.triage.plots import plot_confusion, plot_scores
from evals.triage.runner import DetectorRun, load_vignettes, run_case, run_detector

DEFAULT_DATA = "triage_vignettes.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.triage", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help=f"JSONL vignettes (default: the packaged {DEFAULT_DATA})")
    parser.add_argument("--mode", choices=("rules", "llm"), default="rules")
    parser.add_argument("--out", type=Path, default=Path("evals/out/triage"))
    parser.add_argument("--llm-base-url", help="OpenAI-compatible endpoint (default: start the local server)")
    parser.add_argument("--llm-model", default="default")
    parser.add_argument("--llm-timeout-s", type=float, default=3.0)
    parser.add_argument("--model-cache", type=Path, default=Path(".cache/models"))
    parser.add_argument("--limit", type=int, help="only the first N vignettes")
    parser.add_argument("--detector", choices=("off", "on"), default="off",
                        help="also score the learned red-flag detector: rules, model and union (default off)")
    parser.add_argument("--detector-bank", type=Path, help="a bank built with python -m dialogue.detector.build "
                        "--out DIR (default: the packaged one), e.g. one built without this --data for a dev check")
    args = parser.parse_args(argv)

    data = args.data or Path(str(resources.files("evals.triage.data").joinpath(DEFAULT_DATA)))
    if not data.is_file():
        parser.error(f"--data {data} does not exist; pass a JSONL file in the dev set's format")
    if args.detector_bank and not (args.detector_bank / "bank.npz").is_file():
        parser.error(f"--detector-bank {args.detector_bank} has no bank.npz; build one with "
                     "python -m dialogue.detector.build --out DIR")
    cases = load_vignettes(data)[: args.limit]
    aliases = _aliases()
    args.out.mkdir(parents=True, exist_ok=True)

    llm_stats: dict[str, Any]
    if args.mode == "rules":
        outcomes, llm_stats = asyncio.run(_run(cases, None)), {}
    elif args.llm_base_url:
        outcomes, llm_stats = _run_llm(cases, args.llm_base_url, args)
    else:
        exit_on_sigterm()
        try:
            with local_server(args.model_cache) as url:
                outcomes, llm_stats = _run_llm(cases, url, args)
        except LocalServerUnavailable as error:
            print(f"cannot run --mode llm: {error}", file=sys.stderr)
            return 2

    metrics = score(outcomes, aliases)
    metrics.update({f"llm_{name}": float(count) for name, count in sorted(llm_stats.items())})
    rows = {"rules": dict(metrics)}
    learned: list[dict[str, int]] = [{} for _ in outcomes]
    if args.detector == "on":
        run = run_detector(cases, args.detector_bank)
        learned = run.learned
        rows["model"] = _learned_metrics(outcomes, run, aliases)
        union = [with_learned(o, codes) for o, codes in zip(outcomes, learned, strict=True)]
        rows["union"] = {k: v for k, v in score(union, aliases).items() if not k.startswith(("turn", "cases"))}
        plot_confusion(confusion(union), args.out / f"confusion_{args.mode}_union.png",
                       title=f"triage ({args.mode} + learned detector)")
        metrics.update({k if k.startswith("detector_") else f"model_{k}": v for k, v in rows["model"].items()})
        metrics.update({f"union_{k}": v for k, v in rows["union"].items()})
    results = {"mode": args.mode, "detector": args.detector, "data": str(data), **metrics}
    (args.out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    with (args.out / f"cases_{args.mode}.jsonl").open("w", encoding="utf-8") as handle:
        for outcome, codes in zip(outcomes, learned, strict=True):
            row = {k: v for k, v in asdict(outcome).items() if k != "turn_ms"}
            if args.detector == "on":
                row["learned_red_flags"] = sorted(codes)
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    plot_confusion(confusion(outcomes), args.out / f"confusion_{args.mode}.png", title=f"triage ({args.mode})")
    plot_scores(rows, args.out / f"scores_{args.mode}.png", title=f"triage ({args.mode}): {data.name}")
    _print_table(args.mode, rows)
    return 0


def _learned_metrics(outcomes: list[Outcome], run: DetectorRun, aliases: dict[str, str]) -> dict[str, float]:
    alone = score([learned_outcome(o, codes) for o, codes in zip(outcomes, run.learned, strict=True)], aliases)
    return {**{k: alone[k] for k in FLAG_METRICS}, **run.cost()}


async def _run(cases: list[dict], llm: LLMPlugin | None) -> list[Outcome]:
    return [await run_case(case, llm) for case in cases]


def _run_llm(cases: list[dict], url: str, args: argparse.Namespace) -> tuple[list[Outcome], dict[str, int]]:
    async def go() -> tuple[list[Outcome], dict[str, int]]:
        llm = LLMPlugin(LLMSettings(base_url=url, model=args.llm_model, timeout_s=args.llm_timeout_s))
        try:
            return await _run(cases, llm), dict(llm.stats)
        finally:
            await llm.aclose()

    return asyncio.run(go())


def _aliases() -> dict[str, str]:
    raw = json.loads(resources.files("evals.triage.data").joinpath("department_aliases.json").read_text("utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def _print_table(mode: str, rows: dict[str, dict[str, float]]) -> None:
    """One column per row (``rules``; ``model`` and ``union`` with the detector); rules' names as keys."""
    print(f"triage benchmark ({mode})")
    print(f"{'metric':34} " + " ".join(f"{name:>8}" for name in rows))
    names = list(dict.fromkeys(name for metrics in rows.values() for name in metrics))
    for name in names:
        cells = []
        for metrics in rows.values():
            value = metrics.get(name)
            plain = "_ms_" in name or name.endswith(("_mb", "_s")) or name == "cases"
            cells.append(f"{'':>8}" if value is None else f"{value:8.1f}" if plain else f"{value:8.3f}")
        print(f"{name:34} " + " ".join(cells))


if __name__ == "__main__":
    raise SystemExit(main())
