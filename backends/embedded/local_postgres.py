"""The local development PostgreSQL used by tests and benchmarks, and throw-away databases on it.

The server is the one ``scripts/postgres.sh start`` runs (Debian's binaries, 127.0.0.1:55432); its
URL comes from ``MEDVOICE_TEST_PG_URL`` when set, otherwise from running the script (idempotent).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

URL_ENV = "MEDVOICE_TEST_PG_URL"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres.sh"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be started or reached; the message carries the reason."""


def server_url(environ: dict[str, str] | None = None) -> str:
    """URL of a running server: from ``MEDVOICE_TEST_PG_URL`` or by starting it with the script."""
    env = os.environ if environ is None else environ
    if env.get(URL_ENV):
        url = env[URL_ENV]
    else:
        if not SCRIPT.is_file():
            raise PostgresUnavailable(f"{SCRIPT} is missing and {URL_ENV} is not set")
        result = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"scripts/postgres.sh start failed (exit {result.returncode}): {result.stderr.strip()[-500:]}"
            )
        url = result.stdout.strip().splitlines()[-1]
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except sa.exc.SQLAlchemyError as error:
        raise PostgresUnavailable(f"PostgreSQL at {url} does not answer: {error}") from error
    return url


@contextmanager
def temporary_database(base_url: str, prefix: str = "medvoice_tmp") -> Iterator[str]:
    """Create an empty database next to ``base_url``'s, yield its URL, drop it afterwards."""
    url = sa.make_url(base_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
