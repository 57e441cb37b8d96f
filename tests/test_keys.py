"""Key files and SM4 data-key rotation: files are private (0600) and refused when others can read them;
``keys rotate`` re-seals every encrypted column in one transaction on SQLite and PostgreSQL, loses
nothing when interrupted, keeps the audit chain verifying, and a service already running reads the
re-sealed rows."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from backends.crypto import KeyFileError, KeyRing
from backends.embedded import EmbeddedStore, open_store, verify_audit_log
from backends.embedded.schema import audit_log, handoffs, resources
from backends.embedded.sealed import rotate_data_key
from backends.interfaces import HandoffRequest, Principal
from backends.signing import Sm2KeyPair
from evals.records.resources import patient

SERVICE = Principal("voice-agent", "service", "demo-hospital")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("loose", [0o640, 0o604, 0o660, 0o644])
def test_key_files_readable_by_others_are_refused(tmp_path: Path, loose: int) -> None:
    key_file = tmp_path / "keys.json"
    KeyRing.generate().save(key_file)
    key_file.chmod(loose)
    with pytest.raises(KeyFileError, match=f"mode {loose:04o}.*chmod 600"):
        KeyRing.load_or_create(key_file)
    with pytest.raises(KeyFileError):
        open_store(f"sqlite:///{tmp_path}/r.db", key_file, seed=False)
    signing = tmp_path / "sm2.json"
    Sm2KeyPair.load_or_create(signing)
    signing.chmod(loose)
    with pytest.raises(KeyFileError, match="chmod 600"):
        Sm2KeyPair.load_or_create(signing)
    key_file.chmod(0o400)  # owner read-only is fine
    assert KeyRing.load_or_create(key_file).active_key_id == "k1"


def test_key_files_are_created_0600_even_over_a_stale_temporary(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "keys.json"
    key_file.parent.mkdir()
    stale = key_file.with_name("keys.json.tmp")
    stale.write_text("left by a crash")
    stale.chmod(0o644)
    KeyRing.load_or_create(key_file)
    assert mode(key_file) == 0o600
    Sm2KeyPair.load_or_create(tmp_path / "var" / "sm2.json")
    assert mode(tmp_path / "var" / "sm2.json") == 0o600


def test_a_key_ring_written_before_the_audit_key_keeps_a_stable_one(tmp_path: Path) -> None:
    """Key files from before the keyed chain have no audit_key: it is derived, the same every time."""
    doc = json.loads(KeyRing.generate().to_json())
    del doc["audit_key"]
    first, second = KeyRing.from_json(json.dumps(doc)), KeyRing.from_json(json.dumps(doc))
    assert first.audit_key == second.audit_key and len(first.audit_key) == 32
    assert first.audit_key not in (first.index_key, first.token_key)
    assert "audit_key" not in repr(first) and first.audit_key.hex() not in repr(first)


async def _populate(store: EmbeddedStore) -> list[str]:
    ids = [(await store.create(SERVICE, patient(name=name)))["id"] for name in ("旋转前", "李四", "王五")]
    await store.request_handoff(SERVICE, HandoffRequest("call-1", "triage", "胸痛", 1, patient_id=ids[0]))
    return ids


def _key_ids(store: EmbeddedStore) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(resources.c.key_id)).scalars()) | set(
            conn.execute(sa.select(handoffs.c.key_id)).scalars()
        )


async def test_keys_rotate_reencrypts_everything_and_a_running_store_follows(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    store = open_store(database_url, key_file, seed_days=1)
    ids = await _populate(store)
    running = open_store(database_url, key_file, seed=False)  # a service started before the rotation
    ring, report = rotate_data_key(store.engine, store.ring, key_file)
    assert report.new_key_id == "k2"
    assert report.moved == {"resources.body_blob": 3, "handoffs.detail_blob": 1, "campaign_calls.result_blob": 0}
    assert _key_ids(store) == {"k2"} and KeyRing.load_or_create(key_file) == ring
    assert mode(key_file) == 0o600
    # The running service has only k1 in memory: it re-reads the key file and carries on.
    assert (await running.read(SERVICE, "Patient", ids[0]))["name"] == [{"text": "旋转前"}]
    later = await running.create(SERVICE, patient(name="旋转后"))
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(resources.c.key_id).where(resources.c.id == later["id"])).scalar_one() == "k2"
        actions = list(conn.execute(sa.select(audit_log.c.action).order_by(audit_log.c.seq.desc()).limit(3)).scalars())
    assert actions == ["create", "read", "rotate-key"]  # the rotation is audited in its own transaction
    running.close()
    store.close()
    # Data written before the rotation opens with the new key alone; chain and ciphertexts verify.
    retired = KeyRing({"k2": ring.data_keys["k2"]}, "k2", ring.index_key, ring.token_key, ring.audit_key)
    report_after = verify_audit_log(database_url, retired)
    assert report_after.intact and report_after.ciphertexts == 5, report_after.describe()
    reopened = open_store(database_url, keys_json=retired.to_json(), seed=False)
    assert (await reopened.read(SERVICE, "Patient", ids[1]))["name"] == [{"text": "李四"}]
    reopened.close()


async def test_an_interrupted_rotation_loses_nothing(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    store = open_store(database_url, key_file, seed_days=1)
    await _populate(store)
    with store.engine.connect() as conn:
        entries = conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()

    def power_cut(moved: int) -> None:
        if moved == 2:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        rotate_data_key(store.engine, store.ring, key_file, before_commit=power_cut)
    saved = KeyRing.load_or_create(key_file)
    assert _key_ids(store) == {"k1"} and set(saved.data_keys) == {"k1", "k2"}  # old key kept
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one() == entries
    report = verify_audit_log(database_url, saved)
    assert report.intact and report.ciphertexts == 4, report.describe()
    ring, again = rotate_data_key(store.engine, saved, key_file)
    assert again.new_key_id == "k3" and again.total == 4 and _key_ids(store) == {"k3"}
    store.close()
    assert verify_audit_log(database_url, ring).intact


def test_serve_refuses_a_readable_key_file_in_one_line(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    KeyRing.generate().save(key_file)
    key_file.chmod(0o644)
    env = {
        **os.environ,
        "MEDVOICE_KEY_FILE": str(key_file),
        "MEDVOICE_DATABASE_URL": f"sqlite:///{tmp_path}/r.db",
    }
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "serve"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "chmod 600" in done.stderr and "Traceback" not in done.stderr
