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

SQLITE_BUSY_TIMEOUT_S = 60


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


def migrations_dir() -> Path:
    return Path(str(resources.files("backends.migrations")))


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
