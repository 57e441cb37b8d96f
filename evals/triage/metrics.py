"""Scores for triage outcomes: red-flag sensitivity/specificity, under/over-triage, level and
department accuracy. Pure functions over (gold, predicted) pairs so tests can check them by hand.

With the learned detector (``--detector on``) the same scores are taken three ways: the rules (the
dialogue's own decision), the model alone (:func:`learned_outcome`) and their union
(:func:`with_learned`), which is what the engine does when it adds the detector's hits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from statistics import median

LEVELS = (1, 2, 3, 4)
EMERGENCY_DEPARTMENT = "急诊科"
"""Where any red flag sends the caller (``dialogue/triage/decision.py``: 有红旗征，转急诊科)."""
FLAG_METRICS = ("red_flag_sensitivity", "red_flag_specificity", "red_flag_code_recall")
"""The scores that mean something for the learned detector alone (it decides no level)."""


@dataclass(frozen=True)
class Outcome:
    """One vignette: gold labels and what the dialogue decided."""

    case_id: str
    gold_level: int
    gold_departments: tuple[str, ...]
    gold_red_flags: tuple[str, ...]
    level: int | None
    department: str | None
    red_flags: tuple[str, ...]
    turn_ms: tuple[float, ...]
    turns: int


def score(outcomes: list[Outcome], aliases: dict[str, str]) -> dict[str, float]:
    """Flat metrics (rates in 0..1, times in ms). A missing level counts as under-triage."""
    def norm(name: str | None) -> str | None:
        return aliases.get(name, name) if name is not None else None

    flagged = [o for o in outcomes if o.gold_red_flags]
    unflagged = [o for o in outcomes if not o.gold_red_flags]
    urgent = [o for o in outcomes if o.gold_level <= 2]
    gold_codes = sum(len(o.gold_red_flags) for o in flagged)
    found_codes = sum(len(set(o.gold_red_flags) & set(o.red_flags)) for o in flagged)
    times = sorted(t for o in outcomes for t in o.turn_ms)
    n = len(outcomes)

    def under(o: Outcome) -> bool:
        return o.level is None or o.level > o.gold_level

    return {
        "cases": float(n),
        "red_flag_sensitivity": _ratio(sum(bool(o.red_flags) for o in flagged), len(flagged)),
        "red_flag_specificity": _ratio(sum(not o.red_flags for o in unflagged), len(unflagged)),
        "red_flag_code_recall": _ratio(found_codes, gold_codes),
        "under_triage_rate": _ratio(sum(under(o) for o in outcomes), n),
        "under_triage_level12_rate": _ratio(sum(under(o) for o in urgent), len(urgent)),
        "over_triage_rate": _ratio(sum(o.level is not None and o.level < o.gold_level for o in outcomes), n),
        "level_accuracy": _ratio(sum(o.level == o.gold_level for o in outcomes), n),
        # Levine et al.'s dichotomy: emergent (levels 1-2) vs not (3-4)
        "urgent_split_accuracy": _ratio(sum(((o.level or 4) <= 2) == (o.gold_level <= 2) for o in outcomes), n),
        "department_accuracy": _ratio(
            sum(norm(o.department) in {norm(d) for d in o.gold_departments} for o in outcomes), n
        ),
        "turns_mean": _ratio(sum(o.turns for o in outcomes), n),
        "turn_ms_median": median(times) if times else 0.0,
        "turn_ms_p95": times[min(len(times) - 1, int(0.95 * len(times)))] if times else 0.0,
    }


def with_learned(outcome: Outcome, learned: dict[str, int]) -> Outcome:
    """``outcome`` with the learned detector's codes added (code -> the level its rule forces): the
    union never loses a rule flag; a new flag raises the level to the flag's and routes to the
    emergency department, as a rule flag would."""
    new = {code: level for code, level in learned.items() if code not in outcome.red_flags}
    if not new:
        return outcome
    level = min(new.values()) if outcome.level is None else min(outcome.level, *new.values())
    return replace(
        outcome, red_flags=outcome.red_flags + tuple(sorted(new)), level=level, department=EMERGENCY_DEPARTMENT
    )


def learned_outcome(outcome: Outcome, learned: dict[str, int]) -> Outcome:
    """The learned detector alone for this vignette: its codes and, when it raised any, their most
    urgent level and the emergency department; otherwise no decision."""
    return replace(
        outcome,
        red_flags=tuple(sorted(learned)),
        level=min(learned.values()) if learned else None,
        department=EMERGENCY_DEPARTMENT if learned else None,
    )


def confusion(outcomes: list[Outcome]) -> list[list[int]]:
    """Counts[gold level - 1][predicted level - 1]; an undecided case counts as level 4."""
    matrix = [[0] * len(LEVELS) for _ in LEVELS]
    for o in outcomes:
        matrix[o.gold_level - 1][(o.level or 4) - 1] += 1
    return matrix


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0
