"""Alembic migrations of the embedded store (run by ``backends.embedded.open_store``)."""
