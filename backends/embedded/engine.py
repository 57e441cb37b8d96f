"""Database engines for the embedded store (SQLite file or PostgreSQL, one code path) and migrations.

SQLite runs in WAL mode with every transaction opened as ``BEGIN IMMEDIATE``: the write lock is
taken up front, so concurrent writers queue on the busy timeout instead of failing on a lock
upgrade, and the audit chain head is read and advanced by one writer at a time.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite

SQLITE_BUSY_TIMEOUT_S = 60
MIGRATION_LOCK_KEY = 0x6D6564766F696365  # "medvoice": the advisory lock serialising migrations


def make_engine(database_url: str) -> sa.Engine:
    """An engine for ``database_url``; creates the SQLite file's folder if needed.

    Raises:
        ValueError: the URL names a backend other than SQLite or PostgreSQL.
    """
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}, pool_size=8
        )
        _configure_sqlite(engine)
        return engine
    if url.get_backend_name() == "postgresql":
        return sa.create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    raise ValueError(
        f"database_url {database_url!r} uses {url.get_backend_name()!r}; expected sqlite:///FILE "
        "or postgresql+psycopg://USER@HOST:PORT/DB"
    )


def _configure_sqlite(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below (pysqlite's own is lazy).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def insert_ignoring_duplicates(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT rows, skipping any whose key already exists (``ON CONFLICT DO NOTHING`` on both databases).

    Concurrent writers (two bookings linking one patient, two workers seeding at start-up) then
    never fail on a duplicate key that the other just inserted.
    """
    if not rows:
        return
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(dialect_insert(table).on_conflict_do_nothing(), rows)


def migrations_dir() -> Path:
    return Path(str(resources.files("backends.migrations")))


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def migrate(engine: sa.Engine, audit_key: bytes | None = None) -> None:
    """Bring the schema to the newest Alembic revision (idempotent).

    ``audit_key`` re-keys an existing plain-SM3 audit chain (revision 0004); an empty one needs none.
    """
    config = alembic_config()
    config.attributes["audit_key"] = audit_key
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several workers starting at once: one migrates, the others wait and find it done.
            # (SQLite transactions already begin with the database write lock.)
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
