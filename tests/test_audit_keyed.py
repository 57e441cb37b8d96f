"""The keyed (HMAC-SM3) audit chain and its SM2-signed anchors: every tamper kind is detected and named,
plain-SM3 chains are re-keyed by the migration (SQLite and PostgreSQL), anchors are checked and
interoperate with OpenSSL's SM2, and ``audit anchor``/``audit verify`` behave as an operator needs."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from agent.audit_cli import add_audit_commands
from backends.crypto import KeyRing
from backends.embedded import open_store
from backends.embedded.anchors import append_anchor, check_anchors, make_anchor, read_anchors
from backends.embedded.audit import (
    ANCHOR,
    GENESIS_HASH,
    REWRITTEN,
    TRUNCATED,
    AuditEntry,
    legacy_entry_hash,
    verify_chain,
)
from backends.embedded.engine import alembic_config, make_engine
from backends.embedded.schema import audit_head, audit_log
from backends.interfaces import Principal
from backends.signing import Sm2KeyPair
from evals.records.resources import patient
from evals.reliability import tamper

SERVICE = Principal("voice-agent", "service", "demo-hospital")


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="medvoice")
    add_audit_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_every_tamper_kind_is_detected_and_named_at_20_random_positions(database_url: str, tmp_path: Path) -> None:
    """5 kinds x 20 seeded positions on a 40-entry anchored chain: each named at its position.

    PostgreSQL runs the same checks on 8 positions a kind (its round trips make each case ~4x
    slower); ``python -m evals.reliability.tamper`` runs 100 a kind on both.
    """
    positions = 20 if database_url.startswith("sqlite") else 8
    cases, clean = tamper.run_cases(tmp_path, database_url=database_url, seed=22, positions=positions, length=40)
    assert clean.intact, clean.describe()
    assert Counter(c.kind for c in cases) == {kind: positions for kind in tamper.KINDS}
    missed = [(c.kind, c.position, c.variant, c.findings) for c in cases if not c.named]
    assert missed == []
    # Both attacker strengths were exercised: the keyless rewrite is caught by the chain itself,
    # the rewrite with a stolen key only by the anchors.
    rewrites = [c for c in cases if c.kind == "rewritten"]
    assert any("without the audit key" in f for c in rewrites for f in c.findings)
    assert any("after that anchor" in f for c in rewrites for f in c.findings)
    assert tamper.summarise(cases, clean)["tamper_detected_rate"] == 1.0


def _legacy_database(url: str, entries: int) -> None:
    """A database at revision 0001 whose audit log is chained with plain SM3, as medvoice wrote it then."""
    engine = make_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        prev = GENESIS_HASH
        for seq in range(1, entries + 1):
            entry = AuditEntry("dr-li", "doctor", "demo-hospital", "read", f"Patient/p{seq}", "treatment", "success")
            at = f"2026-11-2{seq % 10}T08:00:00.000000+00:00"
            digest = legacy_entry_hash(prev, seq, at, entry)
            conn.execute(audit_log.insert().values(seq=seq, at=at, **entry.__dict__, prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(audit_head.update().values(seq=entries, hash=prev))
    engine.dispose()


def test_migration_rekeys_a_plain_sm3_chain(database_url: str, tmp_path: Path) -> None:
    _legacy_database(database_url, 5)
    store = open_store(database_url, tmp_path / "keys.json", seed=False)
    report = asyncio.run(store.verify_audit())
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).all()
    assert report.intact and report.entries == 6, report.describe()
    assert [r.target for r in rows[:5]] == [f"Patient/p{n}" for n in range(1, 6)]  # content kept
    assert (rows[5].action, rows[5].target, rows[5].outcome) == ("audit-rekey", "audit_log/1-5", "success")
    # The old plain hashes no longer verify: the chain is keyed now, and a plain-SM3 rewrite is named.
    with store.engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 6).values(
            hash=legacy_entry_hash(rows[5].prev_hash, 6, rows[5].at, AuditEntry.of_row(rows[5]))))
    assert asyncio.run(store.verify_audit()).first_broken_seq == 6
    store.close()


def test_migration_records_a_plain_chain_that_was_already_broken(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/legacy.db"
    _legacy_database(url, 4)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 2).values(subject="intruder"))
    engine.dispose()
    store = open_store(url, tmp_path / "keys.json", seed=False)
    with store.engine.connect() as conn:
        last = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).one()
    assert last.action == "audit-rekey" and last.outcome == "plain-chain-broken-at-2"
    store.close()


def test_verify_refuses_a_database_not_yet_migrated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/legacy.db"
    _legacy_database(url, 2)
    KeyRing.generate().save(tmp_path / "keys.json")
    assert cli(["audit", "verify", "--database-url", url, "--key-file", str(tmp_path / "keys.json")]) == 2
    assert "still plain SM3" in capsys.readouterr().err


@pytest.fixture
def anchored(tmp_path: Path) -> tuple[str, Path, Path, Path]:
    """A store with 6 audit entries, anchored once through the CLI."""
    url, key_file = f"sqlite:///{tmp_path}/records.db", tmp_path / "keys.json"
    store = open_store(url, key_file, seed_days=1)
    person = asyncio.run(store.create(SERVICE, patient()))
    for _ in range(5):
        asyncio.run(store.read(SERVICE, "Patient", person["id"]))
    store.close()
    signing, anchors = tmp_path / "sm2.json", tmp_path / "anchors.jsonl"
    common = ["--database-url", url, "--key-file", str(key_file)]
    assert cli(["audit", "anchor", *common, "--signing-key", str(signing), "--out", str(anchors)]) == 0
    return url, key_file, signing, anchors


def test_anchor_and_verify_commands(anchored: tuple[str, Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    url, key_file, signing, anchors = anchored
    assert mode_of(signing) == 0o600 and (signing.parent / "sm2.json.pub").is_file()
    doc = json.loads(anchors.read_text().splitlines()[0])
    assert doc["seq"] == 6 and len(doc["signature"]) == 128
    verify = ["audit", "verify", "--database-url", url, "--key-file", str(key_file)]
    verify += ["--anchor-key", f"{signing}.pub", "--anchors", str(anchors)]
    assert cli(verify) == 0
    assert "intact: 6 entries verified, 1 anchors, 1 ciphertexts" in capsys.readouterr().out
    # The tail cut off together with its head row: only the anchor can tell.
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq >= 5))
        last = conn.execute(sa.select(audit_log).where(audit_log.c.seq == 4)).one()
        conn.execute(audit_head.update().values(seq=4, hash=last.hash))
    engine.dispose()
    assert cli(verify[:-2]) == 0  # without the anchors the shortened chain is consistent
    capsys.readouterr()
    assert cli(verify) == 1
    out = capsys.readouterr().out
    assert "deleted rows at the end" in out and "entries 5..6 were deleted from the end" in out
    # A broken chain is never anchored.
    with engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 2).values(purpose="marketing"))
    engine.dispose()
    anchor = ["audit", "anchor", "--database-url", url, "--key-file", str(key_file), "--signing-key", str(signing)]
    assert cli([*anchor, "--out", str(anchors)]) == 1
    assert "refusing to sign a broken chain" in capsys.readouterr().err
    assert len(anchors.read_text().splitlines()) == 1


def test_forged_or_foreign_anchors_are_named_not_trusted(anchored: tuple[str, Path, Path, Path]) -> None:
    url, key_file, signing, anchors = anchored
    genuine = read_anchors(anchors)[0][0]
    forged = json.loads(genuine.to_json())
    forged["mac"] = "f" * 64  # an edited checkpoint keeps its old signature
    other = Sm2KeyPair.generate()
    engine = make_engine(url)
    with engine.connect() as conn:
        foreign = make_anchor(conn, other)  # a valid signature, by a key nobody trusts
        anchors.write_text(anchors.read_text() + json.dumps(forged) + "\n" + foreign.to_json() + "\nnot json\n")
        found, unreadable = read_anchors(anchors)
        report = verify_chain(conn, KeyRing.load_or_create(key_file).audit_key)
        findings = check_anchors(conn, found, Sm2KeyPair.load_or_create(signing).public, report.last_seq)
    engine.dispose()
    assert [f.kind for f in unreadable] == [ANCHOR] and "line 4" in unreadable[0].detail
    assert [f.kind for f in findings] == [ANCHOR, ANCHOR]
    assert all("does not carry a valid SM2 signature" in f.detail for f in findings)


def test_a_consistent_rewrite_with_the_key_is_caught_only_by_the_anchor(tmp_path: Path) -> None:
    fixture = tamper.build(tmp_path, tamper.random.Random(5), length=12, anchor_every=4)
    engine = sa.create_engine(fixture.database_url)
    with engine.begin() as conn:
        tamper.tamper_rewritten(conn, fixture, 6, tamper.random.Random(0), True)
        chain = verify_chain(conn, fixture.ring.audit_key)
        anchors, _ = read_anchors(fixture.anchors)
        findings = check_anchors(conn, anchors, fixture.anchor_key, chain.last_seq)
    engine.dispose()
    assert chain.intact
    assert [(f.kind, f.seq, f.last) for f in findings] == [(REWRITTEN, 5, 8), (REWRITTEN, 5, 12)]
    assert all(f.kind != TRUNCATED for f in findings)


def test_sm2_signatures_verify_with_openssl(tmp_path: Path) -> None:
    """The anchors' SM2 (gmssl arithmetic, OpenSSL SM3 digest, secrets nonce) is standard SM3withSM2."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl binary to cross-check against")
    pair = Sm2KeyPair.generate()
    message = b"medvoice-audit-anchor/v1|6|" + b"a" * 64
    signature = pair.sign(message)
    assert pair.public.verify(signature, message) and not pair.public.verify(signature, message + b"x")
    spki = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004" + pair.public.public_hex)
    (tmp_path / "pub.pem").write_text(
        "-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(spki).decode() + "-----END PUBLIC KEY-----\n"
    )

    def integer(value: int) -> bytes:
        raw = value.to_bytes(value.bit_length() // 8 + 1, "big")
        return b"\x02" + bytes([len(raw)]) + raw

    body = integer(int(signature[:64], 16)) + integer(int(signature[64:], 16))
    (tmp_path / "sig.der").write_bytes(b"\x30" + bytes([len(body)]) + body)
    (tmp_path / "msg").write_bytes(message)
    done = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg",
         "-sigfile", "sig.der", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    if "unknown" in done.stderr.lower() or "unsupported" in done.stderr.lower():
        pytest.skip(f"this openssl cannot verify SM2: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stdout + done.stderr


def test_anchor_of_an_empty_log_and_append_creates_the_file(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/empty.db", tmp_path / "keys.json", seed=False)
    pair = Sm2KeyPair.generate()
    with store.engine.connect() as conn:
        anchor = make_anchor(conn, pair)
    store.close()
    append_anchor(tmp_path / "deep" / "anchors.jsonl", anchor)
    assert (anchor.seq, anchor.mac) == (0, GENESIS_HASH)
    assert read_anchors(tmp_path / "deep" / "anchors.jsonl")[0] == [anchor]


def test_anchor_files_default_to_the_key_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, key_file = f"sqlite:///{tmp_path}/records.db", tmp_path / "keys" / "keys.json"
    store = open_store(url, key_file, seed=False)
    asyncio.run(store.create(SERVICE, patient()))
    store.close()
    assert cli(["audit", "anchor", "--database-url", url, "--key-file", str(key_file)]) == 0
    folder = key_file.parent
    assert {p.name for p in folder.iterdir()} == {"keys.json", "audit-sm2.json", "audit-sm2.json.pub", "audit-anchors.jsonl"}
    assert mode_of(folder / "audit-sm2.json") == 0o600
    anchors = str(folder / "audit-anchors.jsonl")
    assert cli(["audit", "verify", "--database-url", url, "--key-file", str(key_file), "--anchors", anchors]) == 0
    assert "1 anchors" in capsys.readouterr().out


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_verifying_with_another_key_file_says_so(anchored: tuple[str, Path, Path, Path]) -> None:
    url, _, _, _ = anchored
    engine = make_engine(url)
    with engine.connect() as conn:
        report = verify_chain(conn, KeyRing.generate().audit_key)
    engine.dispose()
    assert report.first_broken_seq == 1 and "the key file is not this database's" in report.reason
