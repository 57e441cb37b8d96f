"""The records benchmark runs end to end on a tiny workload and writes its flat results and plot."""

from __future__ import annotations

import json
from pathlib import Path

from evals.records.__main__ import main


def test_benchmark_writes_results_and_plot(tmp_path: Path, capsys) -> None:
    assert main(["--out", str(tmp_path), "--n", "6", "--concurrency", "2", "--rounds", "1", "--databases", "sqlite"]) == 0
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    for key in ("sqlite_sm4_write_ops_s", "sqlite_plain_read_ms_p95", "sqlite_sm4_over_plain_write_ops_s"):
        assert results[key] > 0, key
    assert all(isinstance(v, float) for v in results.values())
    assert (tmp_path / "records.png").stat().st_size > 10_000
    assert "SM4/plain throughput" in capsys.readouterr().out
