"""``python -m evals.triage --data FILE --mode rules|llm --out DIR``: the triage benchmark.

Prints a table, writes ``results.json`` (flat metrics), ``cases.jsonl`` (per vignette, ids and labels
only) and ``confusion_<mode>.png``. ``--mode llm`` uses ``--llm-base-url`` when given, else starts the
local llama.cpp server with the pip-shipped Gemma 3 270M. Exits 0 whenever it ran, whatever the scores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from importlib import resources
from pathlib import Path

from dialogue import LLMPlugin, LLMSettings
from dialogue.llm.local_server import LocalServerUnavailable, exit_on_sigterm, local_server
from evals.triage.metrics import Outcome, confusion, score
from evals.triage.plots import plot_confusion
from evals.triage.runner import load_vignettes, run_case

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
    args = parser.parse_args(argv)

    data = args.data or Path(str(resources.files("evals.triage.data").joinpath(DEFAULT_DATA)))
    if not data.is_file():
        parser.error(f"--data {data} does not exist; pass a JSONL file in the dev set's format")
    cases = load_vignettes(data)[: args.limit]
    aliases = _aliases()
    args.out.mkdir(parents=True, exist_ok=True)

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
    results = {"mode": args.mode, "data": str(data), **metrics}
    (args.out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    with (args.out / f"cases_{args.mode}.jsonl").open("w", encoding="utf-8") as handle:
        for outcome in outcomes:
            row = {k: v for k, v in asdict(outcome).items() if k != "turn_ms"}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    plot_confusion(confusion(outcomes), args.out / f"confusion_{args.mode}.png", title=f"triage ({args.mode})")
    _print_table(args.mode, metrics)
    return 0


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


def _print_table(mode: str, metrics: dict[str, float]) -> None:
    print(f"triage benchmark ({mode})")
    print(f"{'metric':34} value")
    for name, value in metrics.items():
        shown = f"{value:.1f}" if name.endswith("_ms_median") or "_ms_" in name or name == "cases" else f"{value:.3f}"
        print(f"{name:34} {shown}")


if __name__ == "__main__":
    raise SystemExit(main())
