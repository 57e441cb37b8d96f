"""Split the k-series follow-up calls (k001..k096) into the tuning file and the blind2 third.

``python -m evals.followup.split_blind2 --source ALL.jsonl`` writes both files from the 96 calls;
``python -m evals.followup.split_blind2 --check`` re-derives the split from the two committed files
and says whether they still match it. The check opens the blind2 file only to compare ids and
strata and prints counts, never a call; it is for whoever writes or audits the data, not for tuning.

The rule: all calls in id order, strata ``(program, alert)``, each stratum's ids shuffled with one
``random.Random(20261207)`` in sorted stratum order, the first ``round(n / 3)`` to blind2.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
TRAIN = DATA / "followup_train_k.jsonl"
BLIND = DATA / "blind2" / "followup_blind2.jsonl"
SEED = 20261207
IDS = [f"k{number:03d}" for number in range(1, 97)]

Stratum = tuple[str, bool]


def stratum(call: dict[str, Any]) -> Stratum:
    return call["program"], bool(call["expect"].get("alert", False))


def blind_ids(calls: list[dict[str, Any]]) -> set[str]:
    """The ids the rule sends to blind2."""
    strata: dict[Stratum, list[str]] = {}
    for call in sorted(calls, key=lambda c: c["id"]):
        strata.setdefault(stratum(call), []).append(call["id"])
    rng = random.Random(SEED)
    chosen: set[str] = set()
    for key in sorted(strata):
        ids = strata[key]
        rng.shuffle(ids)
        chosen.update(ids[: round(len(ids) / 3)])
    return chosen


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def line(call: dict[str, Any]) -> str:
    return json.dumps(call, ensure_ascii=False, separators=(",", ":"))


def validate(calls: list[dict[str, Any]]) -> None:
    ids = sorted(call["id"] for call in calls)
    if ids != IDS:
        raise SystemExit(f"expected ids k001..k096 once each, got {len(ids)} calls")
    programs = Counter(call["program"] for call in calls)
    if programs != Counter({"hypertension": 48, "diabetes": 48}):
        raise SystemExit(f"expected 48 calls a programme, got {dict(programs)}")


def counts(calls: list[dict[str, Any]]) -> str:
    tally = Counter(stratum(call) for call in calls)
    return ", ".join(
        f"{program}/{'alert' if alert else 'no-alert'} {tally[program, alert]}"
        for program, alert in sorted(tally)
    )


def write(source: Path) -> None:
    calls = read(source)
    validate(calls)
    chosen = blind_ids(calls)
    ordered = sorted(calls, key=lambda c: c["id"])
    BLIND.parent.mkdir(parents=True, exist_ok=True)
    BLIND.write_text("".join(line(c) + "\n" for c in ordered if c["id"] in chosen), "utf-8")
    TRAIN.write_text("".join(line(c) + "\n" for c in ordered if c["id"] not in chosen), "utf-8")
    print(f"blind2 {len(chosen)}: {counts([c for c in calls if c['id'] in chosen])}")
    print(f"train {len(calls) - len(chosen)}: {counts([c for c in calls if c['id'] not in chosen])}")


def check() -> int:
    train, blind = read(TRAIN), read(BLIND)
    calls = train + blind
    validate(calls)
    chosen = blind_ids(calls)
    in_order = all([c["id"] for c in part] == sorted(c["id"] for c in part) for part in (train, blind))
    ok = {c["id"] for c in blind} == chosen and in_order
    print(f"train {len(train)}: {counts(train)}")
    print(f"blind2 {len(blind)}: {counts(blind)}")
    print("split matches the rule" if ok else "MISMATCH: the files do not follow the split rule")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.followup.split_blind2", description=__doc__.splitlines()[0]
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--source", type=Path, help="all 96 k-calls (JSONL); writes the train and blind2 files"
    )
    group.add_argument(
        "--check", action="store_true", help="verify the committed files follow the split rule"
    )
    args = parser.parse_args(argv)
    if args.check:
        return check()
    write(args.source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
