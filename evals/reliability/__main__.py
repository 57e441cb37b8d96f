"""``python -m evals.reliability --out DIR [--quick] [--parts fuzz,crash,tamper,soak,netem]``

Runs each part's ``run(out_dir, quick) -> dict`` in turn (a part whose module is missing is reported
as not run, not an error; a part that fails is reported with its error and the others go on),
prints the flat metrics, and writes ``DIR/results.json`` (flat names: ``fuzz_cases``, ``fuzz_5xx``,
``schema_violations``, ``kills``, ``acked_writes_lost``, ``tamper_detected_rate``, ``soak_minutes``,
``rss_slope_mb_per_min``, ``leaked_fds``, ``leaked_tasks``, ``dropped_calls``, ``netem_*`` ...) plus
``<part>_run`` (true/false) and ``<part>_error``. Metrics already in ``DIR/results.json`` from parts
not run this time are kept, so parts can be run one by one into the same folder. Each part writes
its own PNG plots into DIR. Exits 0 when it ran, whatever the numbers.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PARTS = ("fuzz", "crash", "tamper", "soak", "netem")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals.reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("evals/out/reliability"))
    parser.add_argument("--quick", action="store_true", help="the short version of every part (minutes, not an hour)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument("--kills", type=int, help="crash: SIGKILL rounds per database (default 50, so 100 kills on the two; 3 with --quick)")
    parser.add_argument("--databases", default="sqlite,postgres", help="crash: sqlite, postgres or both")
    parser.add_argument("--soak-minutes", type=float, help="soak: minutes of calls (default 30, 1 with --quick)")
    parser.add_argument("--soak-calls", type=int, help="soak: concurrent calls (default 6, the measured capacity)")
    return parser.parse_args(argv)


def _options(part: str, args: argparse.Namespace) -> dict[str, Any]:
    """Command-line overrides a part's ``run`` takes as keyword arguments."""
    if part == "crash":
        options: dict[str, Any] = {"backends": tuple(args.databases.split(","))}
        if args.kills is not None:
            options["kills"] = args.kills
        return options
    if part == "soak":
        return {k: v for k, v in (("minutes", args.soak_minutes), ("calls", args.soak_calls)) if v is not None}
    return {}


def run_part(part: str, out: Path, quick: bool, options: dict[str, Any]) -> dict[str, Any]:
    """One part's flat metrics, with ``<part>_run`` and, when it could not run, ``<part>_error``."""
    try:
        module = importlib.import_module(f"evals.reliability.{part}")
    except ModuleNotFoundError as error:
        if error.name != f"evals.reliability.{part}":
            raise
        return {f"{part}_run": False, f"{part}_error": f"evals/reliability/{part}.py is not there"}
    started = time.monotonic()
    try:
        metrics = dict(module.run(out, quick, **options))
    except Exception as error:  # one part failing must not lose the others' numbers
        traceback.print_exc()
        return {f"{part}_run": False, f"{part}_error": f"{type(error).__name__}: {error}"[:500]}
    return {f"{part}_run": True, **metrics, f"{part}_seconds": round(time.monotonic() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        print(f"python -m evals.reliability: unknown part(s) {unknown}; choose from {', '.join(PARTS)}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "results.json"
    results: dict[str, Any] = json.loads(results_file.read_text()) if results_file.is_file() else {}
    for part in parts:
        print(f"== {part}", flush=True)
        stale = [k for k in results if k.startswith(f"{part}_")]
        for key in stale:
            del results[key]
        results.update(run_part(part, args.out, args.quick, _options(part, args)))
        results_file.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    results["quick"] = args.quick
    results_file.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    width = max(map(len, results), default=0)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    print(f"wrote {results_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
