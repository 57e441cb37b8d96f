"""The triage benchmark: metrics computed by hand, and the CLI on a small file (rules mode)."""

from __future__ import annotations

import json
from pathlib import Path

from evals.triage.__main__ import main
from evals.triage.metrics import Outcome, confusion, score


def outcome(gold: int, level: int | None, flags: tuple[str, ...] = (), got_flags: tuple[str, ...] = (),
            department: str = "儿科", gold_departments: tuple[str, ...] = ("儿科",)) -> Outcome:
    return Outcome("x", gold, gold_departments, flags, level, department, got_flags, (1.0, 3.0), 2)


def test_metrics_by_hand() -> None:
    outcomes = [
        outcome(2, 2, ("stroke",), ("stroke",), "急诊科", ("急诊科",)),
        outcome(1, 3, ("cardiac_arrest",), ()),  # missed emergency: under-triage of level 1-2
        outcome(4, 3, department="普通外科", gold_departments=("普外科",)),  # over-triage; alias matches
        outcome(3, 3, got_flags=("seizure",)),  # false alarm
    ]
    metrics = score(outcomes, {"普通外科": "普外科"})
    assert metrics["red_flag_sensitivity"] == 0.5
    assert metrics["red_flag_specificity"] == 0.5
    assert metrics["under_triage_rate"] == 0.25
    assert metrics["under_triage_level12_rate"] == 0.5
    assert metrics["over_triage_rate"] == 0.25
    assert metrics["level_accuracy"] == 0.5
    assert metrics["urgent_split_accuracy"] == 0.75
    assert metrics["department_accuracy"] == 1.0
    assert metrics["turn_ms_median"] == 2.0
    assert confusion(outcomes)[0] == [0, 0, 1, 0]


def test_cli_rules_mode_writes_flat_results_and_a_plot(tmp_path: Path) -> None:
    data = tmp_path / "cases.jsonl"
    cases = [
        {"id": "a", "text": "我妈嘴歪了，说话不清楚", "level": 2, "department": "急诊科", "red_flags": ["stroke"]},
        {"id": "b", "text": "脸上长痘痘好几个月了", "level": 4, "department": ["皮肤科", "全科"], "red_flags": []},
    ]
    data.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in cases), "utf-8")
    assert main(["--data", str(data), "--mode", "rules", "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text("utf-8"))
    for name in ("red_flag_sensitivity", "red_flag_specificity", "under_triage_rate", "over_triage_rate",
                 "level_accuracy", "department_accuracy", "turn_ms_median"):
        assert isinstance(results[name], float)
    assert results["level_accuracy"] == 1.0
    assert (tmp_path / "out" / "confusion_rules.png").read_bytes()[:4] == b"\x89PNG"
