"""Alembic environment: runs migrations on the connection ``open_store`` hands in, or on ``sqlalchemy.url``.

From a shell: ``alembic -c backends/migrations/alembic.ini -x url=sqlite:///var/medvoice.db upgrade head``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from backends.embedded.schema import metadata

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url in alembic.ini")
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
