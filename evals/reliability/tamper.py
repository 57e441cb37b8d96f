"""Tamper detection: does ``audit verify`` find, and name, what someone with write access to the database did?

A small store is built (SQLite, and PostgreSQL in the full run) from a seeded RNG: patients
registered and read so the keyed audit chain holds ``length`` entries, with an SM2-signed anchor
every ``anchor_every`` entries and one at the end (as ``medvoice audit anchor`` run periodically
would leave). Then for each of five kinds, at ``positions`` random positions, the database is
tampered with inside a transaction as an attacker with database write access would, the checks of
``medvoice audit verify`` run on that transaction (:func:`backends.embedded.verify_connection`, with
the anchors), and the transaction is rolled back. A case counts as detected only when the report
NAMES that kind at that position:

- ``edited``: one field of entry N changed (its stored MAC left as it was);
- ``deleted``: entry N deleted; in every other case the later entries are also renumbered to close
  the gap and the head row fixed, as a careful attacker would;
- ``reordered``: entry N swapped with its neighbour (every other case) or with a random entry;
- ``rewritten``: entries N to the end rewritten (entry N's subject changed) with recomputed hashes
  and the head fixed: every other case without the audit key (plain SM3, caught by the keyed chain),
  the others WITH the audit key (a stolen key file: the chain verifies, only the anchors catch it);
- ``ciphertext``: one byte of the N-th SM4-GCM sealed resource flipped.

The untampered database must verify intact (``tamper_false_alarms``). ``run(out_dir, quick)`` writes
``tamper.json`` (every case with what the report said) and returns flat metrics;
``python -m evals.reliability.tamper --out DIR [--quick]`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from backends.crypto import KeyRing
from backends.embedded import open_store, verify_connection
from backends.embedded.anchors import append_anchor, make_anchor
from backends.embedded.audit import (
    CIPHERTEXT,
    DELETED,
    EDITED,
    HEAD_ROW_ID,
    KIND_NAMES,
    REORDERED,
    REWRITTEN,
    TRUNCATED,
    AuditEntry,
    ChainReport,
    entry_mac,
    legacy_entry_hash,
)
from backends.embedded.schema import audit_head, audit_log, resources
from backends.interfaces import Principal
from backends.signing import Sm2KeyPair, Sm2PublicKey
from evals.records.resources import patient

KINDS = ("edited", "deleted", "reordered", "rewritten", "ciphertext")
EXPECTED = {
    "edited": {EDITED},
    "deleted": {DELETED, TRUNCATED},  # the last entry deleted is a cut-off tail
    "reordered": {REORDERED},
    "rewritten": {REWRITTEN},
    "ciphertext": {CIPHERTEXT},
}
SERVICE = Principal("voice-agent", "service", "demo-hospital")
EDITABLE_FIELDS = ("subject", "action", "target", "purpose", "outcome", "at")


@dataclass(frozen=True)
class Fixture:
    """The untampered database and what verifying it needs."""

    database_url: str
    ring: KeyRing
    anchor_key: Sm2PublicKey
    anchors: Path
    length: int
    sealed_ids: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    kind: str
    position: int
    variant: str
    detected: bool
    named: bool
    findings: list[str]
    verify_ms: float


def build(
    workdir: Path, rng: random.Random, length: int, anchor_every: int, database_url: str | None = None
) -> Fixture:
    """A store whose audit chain has ``length`` entries (creates and reads), anchored periodically."""
    database_url = database_url or f"sqlite:///{workdir / 'tamper.db'}"
    key_file, anchors = workdir / "keys.json", workdir / "anchors.jsonl"
    store = open_store(database_url, key_file, seed_days=1)
    pair = Sm2KeyPair.generate()
    created: list[str] = []
    try:
        for seq in range(1, length + 1):
            if not created or (rng.random() < 0.6):
                person = patient(name=f"病人{seq:03d}", phone=f"1380013{rng.randrange(10_000):04d}")
                created.append(asyncio.run(store.create(SERVICE, person))["id"])
            else:
                asyncio.run(store.read(SERVICE, "Patient", rng.choice(created)))
            if seq % anchor_every == 0 or seq == length:
                with store.engine.begin() as conn:
                    append_anchor(anchors, make_anchor(conn, pair))
        ring = store.ring
    finally:
        store.close()
    return Fixture(database_url, ring, pair.public, anchors, length, tuple(created))


def _row(conn: sa.Connection, seq: int) -> Any:
    return conn.execute(sa.select(audit_log).where(audit_log.c.seq == seq)).one()


def _set_head(conn: sa.Connection) -> None:
    last = conn.execute(sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)).one()
    conn.execute(audit_head.update().where(audit_head.c.id == HEAD_ROW_ID).values(seq=last.seq, hash=last.hash))


def tamper_edited(conn: sa.Connection, fx: Fixture, n: int, rng: random.Random, careful: bool) -> str:
    column = rng.choice(EDITABLE_FIELDS)
    value = "2026-01-01T00:00:00.000000+00:00" if column == "at" else "intruder"
    conn.execute(audit_log.update().where(audit_log.c.seq == n).values({column: value}))
    return f"field {column}"


def tamper_deleted(conn: sa.Connection, fx: Fixture, n: int, rng: random.Random, careful: bool) -> str:
    conn.execute(audit_log.delete().where(audit_log.c.seq == n))
    if not careful:
        return "deleted"
    for seq in range(n + 1, fx.length + 1):
        conn.execute(audit_log.update().where(audit_log.c.seq == seq).values(seq=seq - 1))
    _set_head(conn)
    return "deleted, later entries renumbered, head fixed"


def tamper_reordered(conn: sa.Connection, fx: Fixture, n: int, rng: random.Random, careful: bool) -> str:
    other = n + 1 if careful else rng.choice([s for s in range(1, fx.length + 1) if s != n])
    conn.execute(audit_log.update().where(audit_log.c.seq == n).values(seq=-1))
    conn.execute(audit_log.update().where(audit_log.c.seq == other).values(seq=n))
    conn.execute(audit_log.update().where(audit_log.c.seq == -1).values(seq=other))
    return f"swapped with entry {other}"


def tamper_rewritten(conn: sa.Connection, fx: Fixture, n: int, rng: random.Random, careful: bool) -> str:
    """Rewrite entries n.. consistently; ``careful``: with the stolen audit key, else as plain SM3."""
    prev = _row(conn, n).prev_hash
    for seq in range(n, fx.length + 1):
        row = _row(conn, seq)
        entry = AuditEntry.of_row(row)
        if seq == n:
            entry = AuditEntry("intruder", *list(asdict(entry).values())[1:])
        digest = (
            entry_mac(fx.ring.audit_key, prev, seq, row.at, entry)
            if careful
            else legacy_entry_hash(prev, seq, row.at, entry)
        )
        conn.execute(
            audit_log.update().where(audit_log.c.seq == seq).values(subject=entry.subject, prev_hash=prev, hash=digest)
        )
        prev = digest
    _set_head(conn)
    return "with the audit key" if careful else "as plain SM3, without the key"


def tamper_ciphertext(conn: sa.Connection, fx: Fixture, n: int, rng: random.Random, careful: bool) -> str:
    resource_id = fx.sealed_ids[n - 1]
    blob = bytearray(conn.execute(sa.select(resources.c.body_blob).where(resources.c.id == resource_id)).scalar_one())
    offset = rng.randrange(len(blob))
    blob[offset] ^= 1 << rng.randrange(8)
    conn.execute(resources.update().where(resources.c.id == resource_id).values(body_blob=bytes(blob)))
    return f"resource {resource_id} byte {offset}"


TAMPERS: dict[str, Callable[[sa.Connection, Fixture, int, random.Random, bool], str]] = {
    "edited": tamper_edited,
    "deleted": tamper_deleted,
    "reordered": tamper_reordered,
    "rewritten": tamper_rewritten,
    "ciphertext": tamper_ciphertext,
}


def _positions(fx: Fixture, kind: str, count: int, rng: random.Random) -> list[int]:
    if kind == "ciphertext":
        top = len(fx.sealed_ids)
    elif kind in ("reordered", "rewritten"):
        top = fx.length - 1  # a neighbour / at least two entries to rewrite
    else:
        top = fx.length
    return rng.sample(range(1, top + 1), min(count, top))


def _verify(fx: Fixture, conn: sa.Connection) -> tuple[ChainReport, float]:
    started = time.perf_counter()
    report = verify_connection(conn, fx.ring, anchors_file=fx.anchors, anchor_key=fx.anchor_key)
    return report, (time.perf_counter() - started) * 1000


def _named(fx: Fixture, kind: str, position: int, report: ChainReport) -> bool:
    if kind == "ciphertext":
        resource_id = fx.sealed_ids[position - 1]
        return any(f.kind == CIPHERTEXT and resource_id in f.detail for f in report.findings) and (
            KIND_NAMES[CIPHERTEXT] in report.describe()
        )
    return any(f.kind in EXPECTED[kind] and f.covers(position) for f in report.findings)


def run_cases(
    workdir: Path,
    *,
    database_url: str | None = None,
    seed: int = 22,
    positions: int = 20,
    length: int = 40,
    anchor_every: int = 8,
) -> tuple[list[Case], ChainReport]:
    """Build the fixture (SQLite in ``workdir`` unless ``database_url``) and run every kind at
    ``positions`` positions; returns the cases and the untampered database's report."""
    rng = random.Random(seed)
    fx = build(workdir, rng, length, anchor_every, database_url)
    if len(fx.sealed_ids) < positions:
        raise ValueError(f"only {len(fx.sealed_ids)} sealed resources for {positions} ciphertext positions")
    # The attacker's own connection: plain SQLAlchemy, no medvoice keys bound.
    engine = sa.create_engine(fx.database_url)
    cases: list[Case] = []
    try:
        with engine.connect() as conn:
            clean, _ = _verify(fx, conn)
            conn.rollback()
        for kind in KINDS:
            for number, position in enumerate(_positions(fx, kind, positions, rng)):
                with engine.connect() as conn:
                    transaction = conn.begin()
                    try:
                        variant = TAMPERS[kind](conn, fx, position, rng, number % 2 == 1)
                        report, elapsed = _verify(fx, conn)
                    finally:
                        transaction.rollback()
                cases.append(
                    Case(
                        kind,
                        position,
                        variant,
                        detected=not report.intact,
                        named=_named(fx, kind, position, report),
                        findings=[finding.describe() for finding in report.findings],
                        verify_ms=round(elapsed, 2),
                    )
                )
    finally:
        engine.dispose()
    return cases, clean


def summarise(cases: list[Case], *clean: ChainReport) -> dict[str, Any]:
    """Flat metrics; ``clean``: the untampered databases' reports (each not intact is a false alarm)."""
    metrics: dict[str, Any] = {
        "tamper_cases": len(cases),
        "tamper_detected_rate": sum(c.named for c in cases) / len(cases) if cases else 0.0,
        "tamper_flagged_rate": sum(c.detected for c in cases) / len(cases) if cases else 0.0,
        "tamper_false_alarms": sum(not report.intact for report in clean),
        "tamper_verify_ms_median": statistics.median(c.verify_ms for c in cases) if cases else 0.0,
    }
    for kind in KINDS:
        of_kind = [c for c in cases if c.kind == kind]
        metrics[f"tamper_{kind}_rate"] = sum(c.named for c in of_kind) / len(of_kind) if of_kind else 0.0
    return metrics


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """20 positions per kind on a 40-entry chain on SQLite (``quick``), else 100 on a 200-entry
    chain on SQLite and on PostgreSQL (when the local server runs)."""
    from backends.embedded.local_postgres import PostgresUnavailable, server_url, temporary_database

    out_dir.mkdir(parents=True, exist_ok=True)
    positions, length = (20, 40) if quick else (100, 200)
    by_backend: dict[str, tuple[list[Case], ChainReport]] = {}
    with tempfile.TemporaryDirectory(prefix="medvoice-tamper-") as tmp:
        by_backend["sqlite"] = run_cases(Path(tmp) / "sqlite", positions=positions, length=length)
        if not quick:
            try:
                with temporary_database(server_url()) as url:
                    by_backend["postgres"] = run_cases(
                        Path(tmp) / "postgres", database_url=url, positions=positions, length=length
                    )
            except PostgresUnavailable as error:
                print(f"tamper: PostgreSQL not available, SQLite only ({error})")
    cases = [case for found, _ in by_backend.values() for case in found]
    metrics = summarise(cases, *(clean for _, clean in by_backend.values()))
    for backend, (found, _) in by_backend.items():
        metrics[f"tamper_{backend}_rate"] = sum(c.named for c in found) / len(found)
    document = {
        "metrics": metrics,
        "chain_entries": length,
        "backends": {
            backend: {"untampered": clean.describe(), "missed": [asdict(c) for c in found if not c.named],
                      "cases": [asdict(c) for c in found]}
            for backend, (found, clean) in by_backend.items()
        },
    }
    (out_dir / "tamper.json").write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.out, args.quick), indent=1))


if __name__ == "__main__":
    main()
