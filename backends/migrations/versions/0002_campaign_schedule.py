"""The follow-up campaign's schedule, its call attempts and shared rate-limit counters.

Everything that outlives a call lives in the database so any worker can take any call: the due
visits of each care team's campaign (one row per patient, programme and due date, which is what
makes a visit impossible to schedule twice), every dial attempt with the worker and transport that
made it, and fixed-window counters that rate limits read across workers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_calls",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("hospital_id", sa.String(64), nullable=False),
        sa.Column("team", sa.String(160), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("program", sa.String(32), nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("next_attempt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lost_attempts", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("result_blob", sa.LargeBinary, nullable=True),
        sa.UniqueConstraint("team", "patient_id", "program", "due", name="uq_campaign_calls_visit"),
    )
    op.create_index("ix_campaign_calls_ready", "campaign_calls", ["team", "status", "next_attempt"])
    op.create_table(
        "campaign_attempts",
        sa.Column("call_id", sa.String(64), sa.ForeignKey("campaign_calls.id"), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("worker", sa.String(128), nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("trunk", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("rate_counters", "campaign_attempts", "campaign_calls"):
        op.drop_table(table)
