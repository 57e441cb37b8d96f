"""Append-only audit log chained with SM3, and its verifier.

Every read and write of personal data appends one entry (who, role, hospital, action, target,
purpose, outcome, when) inside the same database transaction as the access itself, so an entry
exists exactly when the access committed. Entry ``n`` stores ``hash_n = SM3(hash_{n-1} || entry_n)``;
the ``audit_head`` row holds the last sequence number and hash, so editing, deleting, reordering
or truncating entries breaks the chain and :func:`verify_chain` names the first broken entry.

Entries hold ids and parameter names only, never patient text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from backends.crypto import sm3
from backends.embedded.schema import audit_head, audit_log
from backends.interfaces import Principal

GENESIS_HASH = "0" * 64
HEAD_ROW_ID = 1


@dataclass(frozen=True)
class AuditEntry:
    """One audited event (before it is chained).

    Parameters:
        action: ``read``, ``search``, ``create``, ``update``, ``book``, ``cancel``, ``handoff`` ...
        target: ``Type/id`` or ``Type?param,param`` for searches (names only, no values).
        outcome: ``success``, ``denied``, ``not_found`` or ``tampered``.
    """

    subject: str
    role: str
    hospital_id: str
    action: str
    target: str
    purpose: str
    outcome: str

    @classmethod
    def of(cls, principal: Principal, action: str, target: str, outcome: str = "success") -> AuditEntry:
        return cls(
            subject=principal.subject,
            role=principal.role,
            hospital_id=principal.hospital_id,
            action=action,
            target=target,
            purpose=principal.purpose,
            outcome=outcome,
        )


def entry_hash(prev_hash: str, seq: int, at: str, entry: AuditEntry) -> str:
    """SM3 over the previous hash and the canonical JSON of the entry's fields."""
    fields = [
        seq,
        at,
        entry.subject,
        entry.role,
        entry.hospital_id,
        entry.action,
        entry.target,
        entry.purpose,
        entry.outcome,
    ]
    canonical = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return sm3(prev_hash.encode("ascii") + b"\n" + canonical.encode("utf-8")).hex()


def append(conn: sa.Connection, entry: AuditEntry) -> int:
    """Chain ``entry`` after the current head inside the caller's transaction; returns its seq.

    The head row is locked (``FOR UPDATE`` on PostgreSQL; SQLite transactions already hold the
    database write lock), so concurrent writers are serialised into one unbroken chain.
    """
    head = conn.execute(
        sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ROW_ID).with_for_update()
    ).one()
    seq: int = head.seq + 1
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    digest = entry_hash(head.hash, seq, at, entry)
    conn.execute(
        audit_log.insert().values(
            seq=seq,
            at=at,
            subject=entry.subject,
            role=entry.role,
            hospital_id=entry.hospital_id,
            action=entry.action,
            target=entry.target,
            purpose=entry.purpose,
            outcome=entry.outcome,
            prev_hash=head.hash,
            hash=digest,
        )
    )
    conn.execute(audit_head.update().where(audit_head.c.id == HEAD_ROW_ID).values(seq=seq, hash=digest))
    return seq


@dataclass(frozen=True)
class ChainReport:
    """Result of :func:`verify_chain`.

    Parameters:
        entries: How many entries were checked.
        first_broken_seq: Sequence number of the first entry that fails, or None when intact.
        reason: Why that entry fails (empty when intact).
    """

    entries: int
    first_broken_seq: int | None
    reason: str

    @property
    def intact(self) -> bool:
        return self.first_broken_seq is None

    def describe(self) -> str:
        if self.intact:
            return f"audit chain intact: {self.entries} entries verified"
        return f"audit chain BROKEN at entry {self.first_broken_seq}: {self.reason}"


def verify_chain(conn: sa.Connection, batch: int = 5000) -> ChainReport:
    """Recompute the chain from the first entry and compare it with the stored hashes and head."""
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    last_seq = 0
    while True:
        rows = conn.execute(
            sa.select(audit_log).where(audit_log.c.seq >= expected_seq).order_by(audit_log.c.seq).limit(batch)
        ).all()
        for row in rows:
            if row.seq != expected_seq:
                return ChainReport(checked, expected_seq, f"entry {expected_seq} is missing (deleted)")
            if row.prev_hash != prev_hash:
                return ChainReport(checked, row.seq, "prev_hash does not match the previous entry's hash")
            entry = AuditEntry(
                row.subject, row.role, row.hospital_id, row.action, row.target, row.purpose, row.outcome
            )
            if entry_hash(prev_hash, row.seq, row.at, entry) != row.hash:
                return ChainReport(
                    checked, row.seq, "stored hash does not match the entry's content (edited)"
                )
            prev_hash, last_seq, expected_seq, checked = row.hash, row.seq, row.seq + 1, checked + 1
        if len(rows) < batch:
            break
    head = conn.execute(sa.select(audit_head).where(audit_head.c.id == HEAD_ROW_ID)).one_or_none()
    if head is None:
        return ChainReport(checked, last_seq + 1, "the audit_head row is missing")
    if head.seq != last_seq or head.hash != prev_hash:
        return ChainReport(
            checked,
            last_seq + 1,
            f"head records entry {head.seq} but the log ends at {last_seq} (entries deleted from the end)",
        )
    return ChainReport(checked, None, "")
