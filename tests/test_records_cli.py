"""``audit verify``, ``records token``, ``keys rotate`` and its old name ``records rotate-key`` as the
medvoice CLI registers them."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.audit_cli import add_audit_commands
from backends.crypto import KeyRing
from backends.embedded import open_store
from backends.embedded.schema import audit_log, resources
from backends.interfaces import Principal
from evals.records.resources import patient

SERVICE = Principal("voice-agent", "service", "demo-hospital")


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="medvoice")
    add_audit_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.fixture
def populated(tmp_path: Path) -> tuple[str, Path, str]:
    url, key_file = f"sqlite:///{tmp_path}/records.db", tmp_path / "keys.json"
    store = open_store(url, key_file, seed_days=1)
    created = asyncio.run(store.create(SERVICE, patient()))
    for _ in range(3):
        asyncio.run(store.read(SERVICE, "Patient", created["id"]))
    store.close()
    return url, key_file, created["id"]


def test_audit_verify_reports_intact_then_names_the_broken_entry(
    populated: tuple[str, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, key_file, _ = populated
    verify = ["audit", "verify", "--database-url", url, "--key-file", str(key_file)]
    assert run(verify) == 0
    assert "intact: 4 entries" in capsys.readouterr().out
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 2).values(purpose="marketing"))
    engine.dispose()
    assert run(verify) == 1
    out = capsys.readouterr().out
    assert "BROKEN at entry 2" in out and "tampered row: entry 2 was edited" in out
    # Without the key file's audit key the chain cannot be checked: a clear error, not a verdict.
    assert run([*verify[:-1], str(key_file.with_name("absent.json"))]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_audit_verify_on_a_wrong_database_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path / "keys.json"
    KeyRing.generate().save(key_file)
    assert run(["audit", "verify", "--database-url", f"sqlite:///{tmp_path}/nothing.db", "--key-file", str(key_file)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nothing.db").exists()


def test_token_command_issues_a_token_the_store_accepts(
    populated: tuple[str, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, key_file, _ = populated
    argv = ["records", "token", "--subject", "dr-li", "--role", "doctor", "--hospital", "demo-hospital"]
    assert run([*argv, "--department", "dept-cardiology", "--key-file", str(key_file)]) == 0
    token = capsys.readouterr().out.strip()
    store = open_store(url, key_file, seed=False)
    assert store.tokens.verify(token) == Principal("dr-li", "doctor", "demo-hospital", "dept-cardiology")
    store.close()
    assert run([*argv, "--key-file", str(key_file)]) == 2
    assert "needs --department" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["keys", "rotate"], ["records", "rotate-key"]])
def test_rotate_key_reencrypts_every_row(
    populated: tuple[str, Path, str], capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    url, key_file, patient_id = populated
    assert run([*command, "--database-url", url, "--key-file", str(key_file)]) == 0
    assert "now k2; re-encrypted 1 rows" in capsys.readouterr().out
    store = open_store(url, key_file, seed=False)
    with store.engine.connect() as conn:
        assert set(conn.execute(sa.select(resources.c.key_id)).scalars()) == {"k2"}
    assert asyncio.run(store.read(SERVICE, "Patient", patient_id))["name"] == [{"text": "张三丰"}]
    store.close()
