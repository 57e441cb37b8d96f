"""Split the m-batch triage vignettes (m001..m420) into a tuning file and the blind2 third.

``python -m evals.triage.data.split_blind2 --source ALL.jsonl`` writes ``blind2/triage_blind2.jsonl``
and ``triage_train_m.jsonl`` next to this script from the 420 vignettes;
``python -m evals.triage.data.split_blind2 --check`` re-derives the split from the two committed files
and says whether they still follow it. The check opens the blind2 file only to compare ids and print
counts per level and code, never a vignette; it is for whoever writes or audits the data, not for tuning.

The rule is ``split_blind.split`` (each vignette's stratum is its rarest red-flag code within the batch,
ties by code name, or ``none-L3``/``none-L4``; each stratum shuffled in sorted stratum order, the first
round(n/3) to the blind file) with ``random.Random(20261207)`` instead of the first batch's seed.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path
from typing import Any

from evals.triage.data.split_blind import read_jsonl, split, write_jsonl

SEED = 20261207
HERE = Path(__file__).resolve().parent
BLIND = HERE / "blind2" / "triage_blind2.jsonl"
TRAIN = HERE / "triage_train_m.jsonl"
IDS = [f"m{number:03d}" for number in range(1, 421)]
MIN_BLIND_PER_CODE = 5


def validate(cases: list[dict[str, Any]]) -> None:
    ids = sorted(case["id"] for case in cases)
    if ids != IDS:
        raise SystemExit(f"expected ids m001..m420 once each, got {len(ids)} vignettes")


def counts(cases: list[dict[str, Any]]) -> str:
    levels = collections.Counter(case["level"] for case in cases)
    codes = collections.Counter(code for case in cases for code in case["red_flags"])
    return (
        ", ".join(f"L{level} {levels[level]}" for level in sorted(levels))
        + "; "
        + ", ".join(f"{code} {codes[code]}" for code in sorted(codes))
    )


def write(source: Path) -> int:
    cases = read_jsonl(source)
    validate(cases)
    blind, train = split(cases, seed=SEED)
    codes = collections.Counter(code for case in blind for code in case["red_flags"])
    every_code = {code for case in cases for code in case["red_flags"]}
    short = {code: codes[code] for code in every_code if codes[code] < MIN_BLIND_PER_CODE}
    if short:
        print(
            f"blind2 would have fewer than {MIN_BLIND_PER_CODE} of {short}; nothing written", file=sys.stderr
        )
        return 1
    write_jsonl(BLIND, blind, append=False)
    write_jsonl(TRAIN, train, append=False)
    print(f"blind2 {len(blind)}: {counts(blind)}")
    print(f"train {len(train)}: {counts(train)}")
    return 0


def check() -> int:
    train, blind = read_jsonl(TRAIN), read_jsonl(BLIND)
    validate(train + blind)
    again_blind, _ = split(train + blind, seed=SEED)
    in_order = all([c["id"] for c in part] == sorted(c["id"] for c in part) for part in (train, blind))
    ok = [c["id"] for c in again_blind] == sorted(c["id"] for c in blind) and in_order
    print(f"train {len(train)}: {counts(train)}")
    print(f"blind2 {len(blind)}: {counts(blind)}")
    print("split matches the rule" if ok else "MISMATCH: the files do not follow the split rule")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.triage.data.split_blind2", description=__doc__.splitlines()[0]
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--source", type=Path, help="all 420 m-vignettes (JSONL); writes the train and blind2 files"
    )
    group.add_argument(
        "--check", action="store_true", help="verify the committed files follow the split rule"
    )
    args = parser.parse_args(argv)
    return check() if args.check else write(args.source)


if __name__ == "__main__":
    sys.exit(main())
