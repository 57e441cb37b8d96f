"""Embedded store on SQLite and PostgreSQL: FHIR round trips, encryption on disk, search, tamper
detection, key rotation, the HMAC-SM3 audit chain and the Alembic schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from gmssl import func
from gmssl import sm3 as gm_sm3

from backends.crypto import KeyRing
from backends.embedded import EmbeddedStore, open_store
from backends.embedded.audit import AuditEntry, entry_mac
from backends.embedded.engine import alembic_config, migrate
from backends.embedded.schema import audit_head, audit_log, metadata, resources
from backends.interfaces import InvalidResourceError, NotFoundError, Principal, TamperedDataError
from evals.records.resources import examples, patient

HOSPITAL = "demo-hospital"
SERVICE = Principal("voice-agent", "service", HOSPITAL)
DOCTOR = Principal("dr-li", "doctor", HOSPITAL, "dept-cardiology")
ADMIN = Principal("admin", "hospital_admin", HOSPITAL)


async def new_patient(store: EmbeddedStore, **fields: str) -> dict[str, Any]:
    """A patient registered by the voice agent and booked into cardiology (so DOCTOR may read it)."""
    created = await store.create(SERVICE, patient(**fields))
    slot = (await store.find_slots(HOSPITAL, "心血管内科", limit=1))[0]
    await store.book(SERVICE, slot.slot_id, created["id"])
    return created


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in ("meta", "id")}


def raw_bytes(store: EmbeddedStore) -> bytes:
    """Everything the database holds for resources, as stored (ciphertext or plaintext)."""
    with store.engine.connect() as conn:
        return b"".join(bytes(blob) for blob in conn.execute(sa.select(resources.c.body_blob)).scalars())


async def test_every_resource_type_round_trips_encrypted(store: EmbeddedStore, database_url: str) -> None:
    person = await new_patient(store)
    assert await store.read(DOCTOR, "Patient", person["id"]) == person
    for label, resource in examples(person["id"]).items():
        created = await store.create(DOCTOR, resource)
        assert created["meta"]["versionId"] == "1", label
        read_back = await store.read(DOCTOR, resource["resourceType"], created["id"])
        assert read_back == created, label
        expected = {k: v for k, v in resource.items() if k != "meta"}
        assert {k: v for k, v in without_meta(read_back).items() if k in expected} == expected, label
    stored = raw_bytes(store)
    for secret in ("张三丰", "110101199001011234", "13800138000", "头晕三天", "青霉素", "氨氯地平"):
        assert secret.encode() not in stored, secret
    if database_url.startswith("sqlite"):
        path = Path(sa.make_url(database_url).database or "")
        on_disk = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert "张三丰".encode() not in on_disk and b"110101199001011234" not in on_disk


async def test_search_uses_blind_indexes(store: EmbeddedStore) -> None:
    first = await new_patient(store, name="王小明", national_id="110101200001010011", phone="13900000001")
    await new_patient(store, name="李小红", national_id="110101200001010022", phone="13900000002")
    by_id = await store.search(
        SERVICE, "Patient", {"identifier": "urn:oid:2.16.156.10011.1.3|110101200001010011"}
    )
    assert [p["id"] for p in by_id] == [first["id"]]
    assert [
        p["id"] for p in await store.search(SERVICE, "Patient", {"identifier": "110101200001010011"})
    ] == [first["id"]]
    assert [p["id"] for p in await store.search(SERVICE, "Patient", {"phone": "+86 139-0000-0001"})] == [
        first["id"]
    ]
    assert [p["id"] for p in await store.search(DOCTOR, "Patient", {"name": "王小明"})] == [first["id"]]
    assert await store.search(SERVICE, "Patient", {"phone": "13900000009"}) == []
    await store.create(DOCTOR, examples(first["id"])["bp"])
    await store.create(DOCTOR, examples(first["id"])["glucose"])
    bps = await store.search(DOCTOR, "Observation", {"patient": f"Patient/{first['id']}", "code": "85354-9"})
    assert [o["code"]["coding"][0]["code"] for o in bps] == ["85354-9"]
    with store.engine.connect() as conn:
        digests = conn.exec_driver_sql("SELECT digest FROM resource_tokens").scalars().all()
    assert all(len(d) == 64 and "1390000" not in d for d in digests)


async def test_search_rejects_unknown_or_missing_parameters(store: EmbeddedStore) -> None:
    with pytest.raises(InvalidResourceError, match="birthdate") as caught:
        await store.search(ADMIN, "Patient", {"birthdate": "1990"})
    assert caught.value.issues[0].expression == "birthdate"
    with pytest.raises(InvalidResourceError, match="at least one"):
        await store.search(ADMIN, "Patient", {})
    with pytest.raises(InvalidResourceError, match="'Spaceship'"):
        await store.search(ADMIN, "Spaceship", {"identifier": "x"})


async def test_update_versions_and_reindexes(store: EmbeddedStore) -> None:
    person = await new_patient(store, phone="13700000000")
    changed = {**person, "telecom": [{"system": "phone", "value": "13711112222"}]}
    updated = await store.update(DOCTOR, changed)
    assert updated["meta"]["versionId"] == "2"
    assert (await store.read(DOCTOR, "Patient", person["id"]))["telecom"][0]["value"] == "13711112222"
    assert await store.search(SERVICE, "Patient", {"phone": "13700000000"}) == []
    assert len(await store.search(SERVICE, "Patient", {"phone": "13711112222"})) == 1
    with pytest.raises(InvalidResourceError, match="needs the Patient's id"):
        await store.update(DOCTOR, patient())


async def test_invalid_fhir_names_the_field(store: EmbeddedStore) -> None:
    with pytest.raises(InvalidResourceError) as caught:
        await store.create(SERVICE, {"resourceType": "Patient", "name": [{"family": 123}]})
    assert [i.expression for i in caught.value.issues] == ["Patient.name[0].family"]
    with pytest.raises(InvalidResourceError, match="not supported"):
        await store.create(SERVICE, {"resourceType": "Spaceship"})
    person = await new_patient(store)
    broken_bp = examples(person["id"])["bp"]
    broken_bp["component"] = broken_bp["component"][:1]
    with pytest.raises(InvalidResourceError, match="8462-4"):
        await store.create(DOCTOR, broken_bp)
    with pytest.raises(InvalidResourceError, match="Patient/nobody"):
        await store.create(SERVICE, examples("nobody")["encounter"])


async def test_unknown_resource_is_not_found_and_audited(store: EmbeddedStore) -> None:
    with pytest.raises(NotFoundError, match="Patient/missing"):
        await store.read(ADMIN, "Patient", "missing")
    with store.engine.connect() as conn:
        last = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).one()
    assert (last.action, last.target, last.outcome) == ("read", "Patient/missing", "not_found")


def tamper(store: EmbeddedStore, resource_id: str, **values: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(resources.update().where(resources.c.id == resource_id).values(**values))


async def test_tampered_ciphertext_or_row_columns_are_detected(store: EmbeddedStore) -> None:
    person = await new_patient(store)
    other = await new_patient(store, name="赵六")
    with store.engine.connect() as conn:
        blob = bytes(
            conn.execute(sa.select(resources.c.body_blob).where(resources.c.id == person["id"])).scalar_one()
        )
        other_blob = conn.execute(
            sa.select(resources.c.body_blob).where(resources.c.id == other["id"])
        ).scalar_one()
    flipped = bytearray(blob)
    flipped[20] ^= 0x01
    tamper(store, person["id"], body_blob=bytes(flipped))
    with pytest.raises(TamperedDataError, match="authentication failed"):
        await store.read(ADMIN, "Patient", person["id"])
    tamper(store, person["id"], body_blob=other_blob)  # another patient's ciphertext swapped in
    with pytest.raises(TamperedDataError):
        await store.read(ADMIN, "Patient", person["id"])
    tamper(store, person["id"], body_blob=blob)
    assert (await store.read(ADMIN, "Patient", person["id"]))["id"] == person["id"]
    tamper(store, person["id"], author="someone-else")  # access-control column rewritten
    with pytest.raises(TamperedDataError):
        await store.read(ADMIN, "Patient", person["id"])
    with store.engine.connect() as conn:
        outcomes = conn.execute(sa.select(audit_log.c.outcome).where(audit_log.c.outcome == "tampered")).all()
    assert len(outcomes) == 3


async def test_key_rotation_keeps_old_rows_readable_and_reencrypts(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    old = await new_patient(store, name="旧钥匙")
    assert store.rotate_key() == "k2"
    new = await store.create(SERVICE, patient(name="新钥匙"))
    with store.engine.connect() as conn:
        key_ids = dict(conn.execute(sa.select(resources.c.id, resources.c.key_id)).all())
    assert key_ids[old["id"]] == "k1" and key_ids[new["id"]] == "k2"
    assert (await store.read(ADMIN, "Patient", old["id"]))["name"][0]["text"] == "旧钥匙"
    moved = await store.reencrypt(batch=2)
    assert moved >= 2  # the patient and its appointment
    with store.engine.connect() as conn:
        assert set(conn.execute(sa.select(resources.c.key_id)).scalars()) == {"k2"}
    # The rotated key file opens the same data, even with the retired key removed.
    ring = store.ring
    retired = KeyRing({"k2": ring.data_keys["k2"]}, "k2", ring.index_key, ring.token_key, ring.audit_key)
    reopened = open_store(
        str(store.engine.url.render_as_string(hide_password=False)), keys_json=retired.to_json(), seed=False
    )
    assert (await reopened.read(ADMIN, "Patient", old["id"]))["name"][0]["text"] == "旧钥匙"
    reopened.close()
    assert KeyRing.load_or_create(tmp_path / "keys.json").active_key_id == "k2"


async def test_audit_chain_records_every_access_without_patient_text(store: EmbeddedStore) -> None:
    person = await new_patient(store)
    await store.read(DOCTOR, "Patient", person["id"])
    await store.search(SERVICE, "Patient", {"phone": "13800138000"})
    report = await store.verify_audit()
    assert report.intact and report.entries == 5  # create, book, read, one per search hit, the search
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).all()
    assert [(r.action, r.role, r.outcome) for r in rows] == [
        ("create", "service", "success"),
        ("book", "service", "success"),
        ("read", "doctor", "success"),
        ("search", "service", "success"),
        ("search", "service", "success"),
    ]
    assert rows[3].target == f"Patient/{person['id']}" and rows[4].target == "Patient?phone"
    assert rows[2].target == f"Patient/{person['id']}" and rows[2].purpose == "treatment"
    flat = " ".join(str(value) for row in rows for value in row)
    assert "张三丰" not in flat and "13800138000" not in flat
    # The chain hash is HMAC-SM3 under the key file's audit key, as computed by pure-Python gmssl too.
    row = rows[1]
    entry = AuditEntry(
        row.subject, row.role, row.hospital_id, row.action, row.target, row.purpose, row.outcome
    )
    recomputed = entry_mac(store.ring.audit_key, row.prev_hash, row.seq, row.at, entry)
    canonical = (
        f'[{row.seq},"{row.at}","{row.subject}","{row.role}","{row.hospital_id}","{row.action}",'
        f'"{row.target}","{row.purpose}","{row.outcome}"]'
    )
    key = store.ring.audit_key.ljust(64, b"\0")  # RFC 2104 with SM3's 64-byte block
    message = row.prev_hash.encode() + b"\n" + canonical.encode()
    inner = bytes.fromhex(gm_sm3.sm3_hash(func.bytes_to_list(bytes(k ^ 0x36 for k in key) + message)))
    by_gmssl = gm_sm3.sm3_hash(func.bytes_to_list(bytes(k ^ 0x5C for k in key) + inner))
    assert recomputed == row.hash == by_gmssl
    assert rows[0].prev_hash == "0" * 64 and rows[1].prev_hash == rows[0].hash


async def test_audit_tampering_names_the_first_broken_entry(store: EmbeddedStore) -> None:
    person = await new_patient(store)
    for _ in range(4):
        await store.read(DOCTOR, "Patient", person["id"])
    assert (await store.verify_audit()).entries == 6
    with store.engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 3).values(subject="intruder"))
    report = await store.verify_audit()
    assert report.first_broken_seq == 3 and "edited" in report.reason
    assert "BROKEN at entry 3" in report.describe()
    with store.engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 3).values(subject="dr-li"))
        conn.execute(audit_log.delete().where(audit_log.c.seq == 4))
    report = await store.verify_audit()
    assert report.first_broken_seq == 4 and "deleted" in report.reason


async def test_audit_truncation_of_the_tail_is_detected(store: EmbeddedStore) -> None:
    person = await new_patient(store)
    await store.read(DOCTOR, "Patient", person["id"])
    with store.engine.begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq == 3))
    report = await store.verify_audit()
    assert report.first_broken_seq == 3 and "deleted from the end" in report.reason
    with store.engine.begin() as conn:
        conn.execute(audit_head.update().values(seq=2, hash="f" * 64))
    assert (await store.verify_audit()).first_broken_seq == 3


def test_migrations_match_the_schema_and_reopen_is_idempotent(database_url: str, tmp_path: Path) -> None:
    first = open_store(database_url, tmp_path / "keys.json", seed_days=2)
    with first.engine.connect() as conn:
        slots_before = conn.exec_driver_sql("SELECT count(*) FROM slots").scalar_one()
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    first.close()
    # the newest migration (each adds one, so the number is the head's, not a constant)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert diff == [] and revision == head
    second = open_store(database_url, tmp_path / "keys.json", seed_days=2)
    with second.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM slots").scalar_one() == slots_before
    second.close()


def test_migration_downgrades_to_empty_and_upgrades_again(database_url: str, tmp_path: Path) -> None:
    store = open_store(database_url, tmp_path / "keys.json", seed=False)
    config = alembic_config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    with store.engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    migrate(store.engine)
    with store.engine.connect() as conn:
        assert set(metadata.tables) <= set(sa.inspect(conn).get_table_names())
    store.close()


def test_open_store_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of key_file"):
        open_store(f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(ValueError, match="'mysql'"):
        open_store("mysql://localhost/x", tmp_path / "keys.json")
