"""Keyed audit chain: re-chain revision 0001's plain-SM3 audit log with HMAC-SM3 under the key file's audit key.

The schema does not change; every existing entry's ``prev_hash``/``hash`` is recomputed with the
key, after checking the plain chain, and one keyed ``audit-rekey`` entry records how many entries
were re-keyed and whether the plain chain was already broken (and where). An empty log needs no
key. ``open_store`` hands the key in (``config.attributes["audit_key"]``); by hand:
``alembic -c backends/migrations/alembic.ini -x url=URL -x key_file=var/keys.json upgrade head``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08

"""

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

from backends.crypto import KeyRing
from backends.embedded.audit import rekey_legacy_chain, unkey_chain

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _audit_key() -> bytes | None:
    key = context.config.attributes.get("audit_key")
    if key:
        return bytes(key)
    key_file = context.get_x_argument(as_dictionary=True).get("key_file")
    return KeyRing.load_or_create(Path(key_file)).audit_key if key_file else None


def upgrade() -> None:
    conn = op.get_bind()
    entries = conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one()
    if not entries:
        return
    key = _audit_key()
    if key is None:
        raise RuntimeError(
            f"revision 0004 re-keys the {entries} existing audit entries with HMAC-SM3 and needs the audit key: "
            "let medvoice migrate (it opens the key file), or pass -x key_file=PATH to alembic"
        )
    rekey_legacy_chain(conn, key)


def downgrade() -> None:
    unkey_chain(op.get_bind())
