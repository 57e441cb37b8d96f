"""The embedded records + consultation store (SQLite by default, PostgreSQL by URL).

Usage (what the service does at start-up, from ``agent.config.Settings``)::

    store = open_store(database_url=settings.database_url, key_file=settings.key_file)
    ...
    store.close()
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from backends.crypto import KeyRing, PlaintextCodec, Sm4GcmCodec
from backends.embedded.anchors import check_anchors, read_anchors
from backends.embedded.audit import ChainReport, bind_audit_key, verify_chain
from backends.embedded.engine import make_engine, migrate
from backends.embedded.schedule import CampaignSchedule  # also registers its tables on the metadata
from backends.embedded.sealed import check_ciphertexts
from backends.embedded.seed import load_seed, seed_hospital
from backends.embedded.store import EmbeddedStore
from backends.interfaces import CHINA_STANDARD_TIME
from backends.signing import Sm2PublicKey

__all__ = ["CampaignSchedule", "EmbeddedStore", "open_store", "verify_audit_log", "verify_connection"]

DEFAULT_SEED_DAYS = 14


def open_store(
    database_url: str,
    key_file: Path | str | None = None,
    *,
    keys_json: str | None = None,
    seed: bool = True,
    seed_file: Path | None = None,
    seed_days: int = DEFAULT_SEED_DAYS,
    encrypt: bool = True,
) -> EmbeddedStore:
    """Open (migrating and seeding as needed) the store at ``database_url``.

    Args:
        database_url: ``sqlite:///var/medvoice.db`` or ``postgresql+psycopg://user@host:port/db``.
        key_file: Key ring JSON; created with fresh keys (mode 0600) if missing.
        keys_json: The key ring as a JSON string instead of a file (e.g. from a secret store).
        seed: Insert the demo hospital (or ``seed_file``) and top up its slots for ``seed_days`` days.
        encrypt: False only for the benchmark's no-encryption baseline.

    Raises:
        ValueError: neither or both of ``key_file`` and ``keys_json`` given, or a bad URL or key ring.
    """
    if (key_file is None) == (keys_json is None):
        raise ValueError("open_store needs exactly one of key_file (a path) or keys_json (the key ring JSON)")
    ring = (
        KeyRing.load_or_create(Path(key_file)) if key_file is not None else KeyRing.from_json(keys_json or "")
    )
    engine = make_engine(database_url)
    bind_audit_key(engine, ring.audit_key)
    migrate(engine, ring.audit_key)
    if seed:
        today = datetime.now(UTC).astimezone(CHINA_STANDARD_TIME).date()
        with engine.begin() as conn:
            seed_hospital(conn, load_seed(seed_file), today, seed_days)
    reload = (lambda: KeyRing.load_or_create(Path(key_file))) if key_file is not None else None
    codec = Sm4GcmCodec(ring, reload) if encrypt else PlaintextCodec(ring)
    return EmbeddedStore(engine, codec, ring, Path(key_file) if key_file is not None else None)


def verify_audit_log(
    database_url: str,
    ring: KeyRing,
    *,
    anchors_file: Path | None = None,
    anchor_key: Sm2PublicKey | None = None,
    check_data: bool = True,
) -> ChainReport:
    """Check the store at ``database_url`` (nothing is written) and name everything found wrong.

    Checks the HMAC-SM3 audit chain and its head with the ring's audit key, then (``anchors_file``)
    every signed anchor against ``anchor_key``, then (``check_data``) authenticates every SM4-GCM
    ciphertext with the ring's data keys.

    Raises:
        ValueError: the database has no medvoice audit log (wrong URL, or never opened by medvoice),
            or anchors are given without the key to check them, or the anchors file is missing.
    """
    if anchors_file is not None and anchor_key is None:
        raise ValueError("checking anchors needs the SM2 public key they were signed with")
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise ValueError(f"SQLite database {url.database!r} does not exist; check MEDVOICE_DATABASE_URL")
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("audit_log"):
                raise ValueError(
                    f"{database_url} has no audit_log table; is this the medvoice database (MEDVOICE_DATABASE_URL)?"
                )
            _require_keyed_chain(conn, database_url)
            return verify_connection(conn, ring, anchors_file=anchors_file, anchor_key=anchor_key, check_data=check_data)
    finally:
        engine.dispose()


def verify_connection(
    conn: sa.Connection,
    ring: KeyRing,
    *,
    anchors_file: Path | None = None,
    anchor_key: Sm2PublicKey | None = None,
    check_data: bool = True,
) -> ChainReport:
    """:func:`verify_audit_log`'s checks on an open connection (inside the caller's transaction)."""
    report = verify_chain(conn, ring.audit_key)
    if anchors_file is not None and anchor_key is not None:
        anchors, unreadable = read_anchors(anchors_file)
        found = check_anchors(conn, anchors, anchor_key, report.last_seq)
        report = report.with_findings([*unreadable, *found], anchors=len(anchors))
    if check_data:
        checked, tampered = check_ciphertexts(conn, Sm4GcmCodec(ring))
        report = report.with_findings(tampered, ciphertexts=checked)
    return report


KEYED_CHAIN_REVISION = "0004"


def _require_keyed_chain(conn: sa.Connection, database_url: str) -> None:
    """A database not yet migrated to the keyed chain gets a clear error, not a wall of findings."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return
    revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one_or_none()
    if revision is not None and revision < KEYED_CHAIN_REVISION:
        raise ValueError(
            f"{database_url} is at schema revision {revision}: its audit chain is still plain SM3. Open it once "
            "with this medvoice (medvoice serve, or medvoice keys rotate) to migrate and key the chain"
        )
