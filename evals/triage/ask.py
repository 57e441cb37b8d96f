"""``python -m evals.triage.ask --data FILE --out DIR``: what the learned detector is worth as a question.

Four rows over one vignette set, rules mode:

- ``rules``: the rules alone (the default service);
- ``model`` / ``union``: the detector's hits alone, and added to the rules as red flags
  (the service with ``MEDVOICE_SAFETY_DETECTOR_MODE=flag``);
- ``ask_unknown``: the detector in ask mode (``SafetyFloor(ask=True)``, the service's default when it is
  on): a hit no rule raised opens that presentation's discriminator questions, and the caller answers
  every question "不太清楚" (the worst case: each unknown is kept open, Manchester-style, and holds the
  presentation's level);
- ``ask_oracle``: the same, the caller answering each discriminator question truthfully from the
  vignette's gold codes ("有" when the question's red flag is among them, else "没有"), the best case.

Also ``turn_ms`` of each (the detector's cost is in every turn of the ask and union rows). Writes
``results.json`` (``<row>_<metric>``) and prints a table. Exits 0 whenever it ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from dialogue import Dialogue
from dialogue.safety_floor import SafetyFloor
from dialogue.triage.discriminators import by_id
from dialogue.triage.flow import TriageDialogue
from evals.triage.__main__ import _aliases
from evals.triage.metrics import FLAG_METRICS, Outcome, learned_outcome, score, with_learned
from evals.triage.runner import load_vignettes, run_case, run_detector

_DISCRIMINATOR = "discriminator:"
_ROW_METRICS = (
    *FLAG_METRICS,
    "under_triage_level12_rate",
    "over_triage_rate",
    "level_accuracy",
    "department_accuracy",
    "turn_ms_median",
    "turn_ms_p95",
)


def oracle(gold: tuple[str, ...]) -> Any:
    """A caller who answers a discriminator question truthfully for a vignette with ``gold`` codes."""

    def reply(dialogue: Dialogue) -> str:
        pending = dialogue._pending if isinstance(dialogue, TriageDialogue) else None
        if pending and pending.startswith(_DISCRIMINATOR):
            discriminator = by_id(pending.removeprefix(_DISCRIMINATOR))
            flagged = discriminator.flag in gold or discriminator.presentation in _presentations_of(gold)
            return "有" if flagged == (discriminator.yes_means == "present") else "没有"
        return "不太清楚"

    return reply


def _presentations_of(gold: tuple[str, ...]) -> set[str]:
    from dialogue.triage.discriminators import table

    return {p.id for p in table() if p.flag in gold}


async def _calls(cases: list[dict[str, Any]], safety: SafetyFloor | None, truthful: bool) -> list[Outcome]:
    outcomes = []
    for case in cases:
        reply = oracle(tuple(case["red_flags"])) if truthful else None
        outcomes.append(await run_case(case, None, safety=safety, reply=reply))
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.triage.ask", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="JSONL vignettes (never a blind file)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--detector-bank", type=Path, help="a bank built with python -m dialogue.detector.build --out"
    )
    parser.add_argument("--detector-scorers", choices=("light", "full"), default="light",
                        help="the detector's scorer set: light = TF-IDF + USE (the service default), full = + e5")
    args = parser.parse_args(argv)
    if any(part.startswith("blind") for part in args.data.parts):
        parser.error("blind files are measured by the coordinator only")
    cases = load_vignettes(args.data)
    aliases = _aliases()
    rules = asyncio.run(_calls(cases, None, truthful=False))
    run = run_detector(cases, args.detector_bank, args.detector_scorers)
    from dialogue.detector import LearnedRedFlagDetector

    detector = LearnedRedFlagDetector.load(args.detector_bank, args.detector_scorers)
    asking = SafetyFloor(SafetyFloor.load().rules, [detector], ask=True)
    rows: dict[str, dict[str, float]] = {
        "rules": score(rules, aliases),
        "model": score([learned_outcome(o, c) for o, c in zip(rules, run.learned, strict=True)], aliases),
        "union": score([with_learned(o, c) for o, c in zip(rules, run.learned, strict=True)], aliases),
        "ask_unknown": score(asyncio.run(_calls(cases, asking, truthful=False)), aliases),
        "ask_oracle": score(asyncio.run(_calls(cases, asking, truthful=True)), aliases),
    }
    rows["union"]["turn_ms_median"] = rows["rules"]["turn_ms_median"] + run.cost()["detector_ms_median"]
    rows["union"]["turn_ms_p95"] = rows["rules"]["turn_ms_p95"] + run.cost()["detector_ms_p95"]
    args.out.mkdir(parents=True, exist_ok=True)
    flat = {f"{row}_{name}": value for row, metrics in rows.items() for name, value in metrics.items()}
    flat.update(run.cost())
    (args.out / "results.json").write_text(
        json.dumps({"data": str(args.data), **flat}, indent=2) + "\n", "utf-8"
    )
    print(f"{'metric':28}" + "".join(f"{row:>12}" for row in rows))
    for name in _ROW_METRICS:
        cells = "".join(f"{rows[row].get(name, float('nan')):12.3f}" for row in rows)
        print(f"{name:28}{cells}")
    print({k: round(v, 1) for k, v in run.cost().items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
