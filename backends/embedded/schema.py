"""Tables of the embedded store (SQLAlchemy Core). Alembic migrations in ``backends/migrations`` create them.

Personal and clinical content only ever sits in ``*_blob`` columns (SM4-GCM ciphertext with the
key id beside it); the plain columns hold opaque ids, hospital/department scoping, timestamps
and HMAC-SM3 blind indexes.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

resources = sa.Table(
    "resources",
    metadata,
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
    sa.Index("ix_resources_hospital_type", "hospital_id", "resource_type"),
    sa.Index("ix_resources_patient", "patient_id"),
)

resource_tokens = sa.Table(
    "resource_tokens",
    metadata,
    sa.Column("resource_id", sa.String(64), sa.ForeignKey("resources.id"), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("hospital_id", sa.String(64), nullable=False),
    sa.Column("resource_type", sa.String(40), nullable=False),
    sa.Index("ix_tokens_lookup", "hospital_id", "resource_type", "kind", "digest"),
)

care_links = sa.Table(
    "care_links",
    metadata,
    sa.Column("patient_id", sa.String(64), primary_key=True),
    sa.Column("department_id", sa.String(64), primary_key=True),
    sa.Column("hospital_id", sa.String(64), nullable=False),
)

departments = sa.Table(
    "departments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("hospital_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.UniqueConstraint("hospital_id", "name", name="uq_departments_hospital_name"),
)

doctors = sa.Table(
    "doctors",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("hospital_id", sa.String(64), nullable=False),
    sa.Column("department_id", sa.String(64), sa.ForeignKey("departments.id"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("title", sa.String(64), nullable=False),
)

slots = sa.Table(
    "slots",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("hospital_id", sa.String(64), nullable=False),
    sa.Column("department_id", sa.String(64), sa.ForeignKey("departments.id"), nullable=False),
    sa.Column("doctor_id", sa.String(64), sa.ForeignKey("doctors.id"), nullable=False),
    sa.Column("start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("appointment_id", sa.String(64), nullable=True, unique=True),
    sa.Index("ix_slots_free", "hospital_id", "department_id", "start"),
)

handoffs = sa.Table(
    "handoffs",
    metadata,
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
    # the department the call was routed to (None: not routed, seen by every department of the hospital)
    sa.Column("department_id", sa.String(64), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_handoffs_queue", "hospital_id", "status", "level", "created_at"),
)

staff_users = sa.Table(
    "staff_users",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("hospital_id", sa.String(64), nullable=False),
    sa.Column("department_id", sa.String(64), nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("display_name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("hospital_id", "username", name="uq_staff_users_hospital_username"),
)
"""Staff console accounts (argon2id hashes only); ``role`` is the console role: nurse, doctor or lead."""

staff_sessions = sa.Table(
    "staff_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), sa.ForeignKey("staff_users.id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_staff_sessions_user", "user_id"),
)
"""Console sessions: only the SM3 hash of the cookie's token is stored, with its CSRF token and expiry."""

audit_log = sa.Table(
    "audit_log",
    metadata,
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

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
