"""Crash consistency through the real HTTP service: it is SIGKILLed twice while clients write FHIR
resources, updates, bookings, hand-offs and follow-up attempts (and once during its very first
start, creating the schema), and restarted each time; every write the
clients were acknowledged must be there, nothing half-written may be visible, and
``medvoice audit verify`` must pass. (``python -m evals.reliability --parts crash`` does 50 kills each
on SQLite and PostgreSQL.) Slow for a unit test (~30 s at low load: four service start-ups and the
audit command) because the kill has to hit a real process."""

from __future__ import annotations

from pathlib import Path

from evals.reliability.crash import run_backend


async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    rounds = await run_backend("sqlite", f"sqlite:///{tmp_path / 'crash.db'}", tmp_path, kills=2, seed=5,
                               observation_writers=2, updaters=1)
    assert len(rounds) == 3  # the first start's kill, then two rounds of writes
    assert sum(r.acked for r in rounds) > 0, "no write was acknowledged before the kills"
    for r in rounds:
        assert sum(r.lost.values()) == 0, f"acknowledged writes lost after a SIGKILL: {r.lost}"
        assert r.half_written == 0
        assert r.audit_ok, "medvoice audit verify failed after a SIGKILL"
