"""Split new triage vignettes into a blind third and a tuning part, stratified by red-flag code.

``python evals/triage/data/split_blind.py ALL.jsonl`` writes ``blind/triage_blind.jsonl`` and
``triage_train_new.jsonl`` next to this script (appending when ``--append``).
``python evals/triage/data/split_blind.py --check`` re-derives the split from the union of the two
files (sorted by id) and says whether it matches what is on disk.

Each vignette's stratum is its rarest red-flag code within the batch (ties by code name), or
``none-L3``/``none-L4`` when it has none; every stratum is shuffled with ``random.Random(SEED)``
in sorted stratum order and its first round(n/3) cases go to the blind file.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
from pathlib import Path
from typing import Any

SEED = 20261202
HERE = Path(__file__).resolve().parent
BLIND = HERE / "blind" / "triage_blind.jsonl"
TRAIN = HERE / "triage_train_new.jsonl"
MIN_BLIND_PER_CODE = 7


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def stratum(case: dict[str, Any], code_counts: collections.Counter[str]) -> str:
    if not case["red_flags"]:
        return f"none-L{case['level']}"
    return min(case["red_flags"], key=lambda code: (code_counts[code], code))


def split(cases: list[dict[str, Any]], seed: int = SEED) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (blind, train), each in id order."""
    code_counts = collections.Counter(code for case in cases for code in case["red_flags"])
    strata: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for case in sorted(cases, key=lambda c: c["id"]):
        strata[stratum(case, code_counts)].append(case)
    rng = random.Random(seed)
    blind_ids: set[str] = set()
    for name in sorted(strata):
        members = strata[name]
        rng.shuffle(members)
        blind_ids.update(case["id"] for case in members[: round(len(members) / 3)])
    ordered = sorted(cases, key=lambda c: c["id"])
    return [c for c in ordered if c["id"] in blind_ids], [c for c in ordered if c["id"] not in blind_ids]


def write_jsonl(path: Path, cases: list[dict[str, Any]], append: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as out:
        for case in cases:
            out.write(json.dumps(case, ensure_ascii=False) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, help="JSONL of the new batch to split")
    parser.add_argument("--append", action="store_true", help="append a later batch to both files")
    parser.add_argument("--check", action="store_true", help="re-derive the first batch's split and compare")
    args = parser.parse_args()
    if args.check:
        blind, train = read_jsonl(BLIND), read_jsonl(TRAIN)
        again_blind, again_train = split(blind + train)
        same = [c["id"] for c in again_blind] == [c["id"] for c in blind]
        print("split reproduces" if same else "split differs (later batches are split separately)")
        return 0 if same else 1
    if args.source is None:
        parser.error("give the JSONL to split, or --check")
    blind, train = split(read_jsonl(args.source))
    codes = collections.Counter(code for case in blind for code in case["red_flags"])
    all_codes = {code for case in blind + train for code in case["red_flags"]}
    short = {code: codes[code] for code in all_codes if codes[code] < MIN_BLIND_PER_CODE}
    if short:
        print(f"blind part has fewer than {MIN_BLIND_PER_CODE} of {short}; nothing written", file=sys.stderr)
        return 1
    write_jsonl(BLIND, blind, args.append)
    write_jsonl(TRAIN, train, args.append)
    print(f"blind {len(blind)}, train {len(train)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
