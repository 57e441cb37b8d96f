"""Initial schema: encrypted FHIR resources, blind indexes, care links, consultation, SM3 audit chain.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("resource_type", sa.String(40), nullable=False),
        sa.Column("hospital_id", sa.String(64), nullable=False),
        sa.Column("department_id", sa.String(64), nullable=True),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("body_blob", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_resources_hospital_type", "resources", ["hospital_id", "resource_type"])
    op.create_index("ix_resources_patient", "resources", ["patient_id"])
    op.create_table(
        "resource_tokens",
        sa.Column("resource_id", sa.String(64), sa.ForeignKey("resources.id"), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("hospital_id", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(40), nullable=False),
    )
    op.create_index("ix_tokens_lookup", "resource_tokens", ["hospital_id", "resource_type", "kind", "digest"])
    op.create_table(
        "care_links",
        sa.Column("patient_id", sa.String(64), primary_key=True),
        sa.Column("department_id", sa.String(64), primary_key=True),
        sa.Column("hospital_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "departments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("hospital_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.UniqueConstraint("hospital_id", "name", name="uq_departments_hospital_name"),
    )
    op.create_table(
        "doctors",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("hospital_id", sa.String(64), nullable=False),
        sa.Column("department_id", sa.String(64), sa.ForeignKey("departments.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("title", sa.String(64), nullable=False),
    )
    op.create_table(
        "slots",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("hospital_id", sa.String(64), nullable=False),
        sa.Column("department_id", sa.String(64), sa.ForeignKey("departments.id"), nullable=False),
        sa.Column("doctor_id", sa.String(64), sa.ForeignKey("doctors.id"), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("appointment_id", sa.String(64), nullable=True, unique=True),
    )
    op.create_index("ix_slots_free", "slots", ["hospital_id", "department_id", "start"])
    op.create_table(
        "handoffs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("hospital_id", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("level", sa.Integer, nullable=True),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("detail_blob", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_handoffs_queue", "handoffs", ["hospital_id", "status", "level", "created_at"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("hospital_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(160), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])


def downgrade() -> None:
    for table in (
        "audit_head",
        "audit_log",
        "handoffs",
        "slots",
        "doctors",
        "departments",
        "care_links",
        "resource_tokens",
        "resources",
    ):
        op.drop_table(table)
