"""Print how many vignettes of a triage JSONL file carry each red-flag code and each level.

``python evals/triage/data/check_counts.py FILE [FILE ...]``; also warns about department names
that neither the demo hospital's catalogue nor ``department_aliases.json`` knows.
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CATALOGUE = HERE.parents[2] / "dialogue" / "data" / "hospitals" / "demo-hospital.json"


def known_departments() -> set[str]:
    aliases = json.loads((HERE / "department_aliases.json").read_text("utf-8"))
    names = {name for name in aliases if not name.startswith("_")}
    if CATALOGUE.is_file():
        names |= set(json.loads(CATALOGUE.read_text("utf-8"))["departments"].values())
    return names


def report(path: Path, known: set[str]) -> None:
    cases = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    codes = collections.Counter(code for case in cases for code in case["red_flags"])
    levels = collections.Counter(case["level"] for case in cases)
    print(f"{path}: {len(cases)} vignettes")
    print("  levels: " + ", ".join(f"L{level} {levels[level]}" for level in sorted(levels)))
    for code, count in sorted(codes.items()):
        print(f"  {code:24s}{count}")
    for case in cases:
        departments = case["department"] if isinstance(case["department"], list) else [case["department"]]
        unknown = [name for name in departments if name not in known]
        if unknown:
            print(f"  unknown department {unknown} in {case['id']}")


if __name__ == "__main__":
    known = known_departments()
    for name in sys.argv[1:]:
        report(Path(name), known)
