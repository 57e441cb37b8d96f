"""Append-only audit log chained with HMAC-SM3 under a key kept outside the database, and its verifier.

Every read and write of personal data appends one entry (who, role, hospital, action, target,
purpose, outcome, when) inside the same database transaction as the access itself, so an entry
exists exactly when the access committed. Entry ``n`` stores
``hash_n = HMAC-SM3(audit_key, hash_{n-1} || "\\n" || canonical(n, entry_n))``; the ``audit_head``
row holds the last sequence number and hash. The audit key lives in the key file (never in the
database), so someone who can write the database but lacks the key cannot recompute the chain after
editing, deleting, reordering or rewriting entries: :func:`verify_chain` finds each such change and
names it. A consistent rewrite by someone who holds the key, and a cut-off tail, are caught by the
signed anchors (:mod:`backends.embedded.anchors`).

The key rides on the store's engine (:func:`bind_audit_key`: every pooled connection carries it in
``Connection.info``), so every writer chains with it without each call site passing it along.

Revision 0001 chained with plain SM3 (:func:`legacy_entry_hash`); revision 0003 re-keys such a chain
(:func:`rekey_legacy_chain`) and records that it did in a keyed entry.

Entries hold ids and parameter names only, never patient text.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from backends.crypto import hmac_sm3, sm3
from backends.embedded.schema import audit_head, audit_log
from backends.interfaces import Principal

GENESIS_HASH = "0" * 64
HEAD_ROW_ID = 1
AUDIT_KEY_INFO = "medvoice.audit_key"
"""``Connection.info`` entry holding the audit-chain key (set by :func:`bind_audit_key`)."""
SEARCH_WINDOW = 16
"""How far from its position a failing entry is tried at other sequence numbers (reorder detection)."""
MAX_FINDINGS = 100
MAX_ORIGIN_LOOKUPS = 256
"""Failing entries whose original position is searched for (each search scans for its predecessor):
a rewrite of a long tail stays linear; beyond this, failing entries count as edited or rewritten."""

# Finding kinds, and how a report names them.
EDITED, DELETED, REORDERED, REWRITTEN, TRUNCATED = "edited", "deleted", "reordered", "rewritten", "truncated"
HEAD, CIPHERTEXT, ANCHOR = "head", "ciphertext", "anchor"
KIND_NAMES = {
    EDITED: "tampered row",
    DELETED: "deleted row",
    REORDERED: "reordered rows",
    REWRITTEN: "rewritten tail",
    TRUNCATED: "deleted rows at the end",
    HEAD: "inconsistent chain head",
    CIPHERTEXT: "tampered SM4 ciphertext",
    ANCHOR: "unusable anchor",
}


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

    @classmethod
    def of_row(cls, row: Any) -> AuditEntry:
        return cls(row.subject, row.role, row.hospital_id, row.action, row.target, row.purpose, row.outcome)


def _chained_bytes(prev_hash: str, seq: int, at: str, entry: AuditEntry) -> bytes:
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
    return prev_hash.encode("ascii") + b"\n" + canonical.encode("utf-8")


def entry_mac(key: bytes, prev_hash: str, seq: int, at: str, entry: AuditEntry) -> str:
    """HMAC-SM3 over the previous hash and the canonical JSON of the entry's fields (hex)."""
    return hmac_sm3(key, _chained_bytes(prev_hash, seq, at, entry)).hex()


def legacy_entry_hash(prev_hash: str, seq: int, at: str, entry: AuditEntry) -> str:
    """Plain SM3 of the same bytes: revision 0001's unkeyed chain (anyone could recompute it)."""
    return sm3(_chained_bytes(prev_hash, seq, at, entry)).hex()


def bind_audit_key(engine: sa.Engine, key: bytes) -> None:
    """Make every connection ``engine`` opens carry the audit-chain key (call before first use)."""

    @sa.event.listens_for(engine, "connect")
    def _carry_key(_dbapi_connection: Any, connection_record: Any) -> None:
        connection_record.info[AUDIT_KEY_INFO] = key


def _key_of(conn: sa.Connection, key: bytes | None) -> bytes:
    found = key if key is not None else conn.info.get(AUDIT_KEY_INFO)
    if not found:
        raise RuntimeError(
            "no audit-chain key on this connection: open the store with backends.embedded.open_store "
            "(it binds the key file's audit key to the engine) or pass the key explicitly"
        )
    return bytes(found)


def append(conn: sa.Connection, entry: AuditEntry, key: bytes | None = None) -> int:
    """Chain ``entry`` after the current head inside the caller's transaction; returns its seq.

    The head row is locked (``FOR UPDATE`` on PostgreSQL; SQLite transactions already hold the
    database write lock), so concurrent writers are serialised into one unbroken chain.
    """
    chain_key = _key_of(conn, key)
    head = conn.execute(
        sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ROW_ID).with_for_update()
    ).one()
    seq: int = head.seq + 1
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    digest = entry_mac(chain_key, head.hash, seq, at, entry)
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
class Finding:
    """One thing the verifier found wrong.

    Parameters:
        kind: ``edited``, ``deleted``, ``reordered``, ``rewritten``, ``truncated``, ``head``,
            ``ciphertext`` or ``anchor`` (:data:`KIND_NAMES` says how each is named).
        seq: First audit entry concerned (None for a ciphertext or an anchor-file problem).
        last: Last entry of a range (None for a single entry).
        detail: What exactly, in words (ids only, never patient text).
    """

    kind: str
    seq: int | None
    detail: str
    last: int | None = None

    def covers(self, seq: int) -> bool:
        """Whether ``seq`` lies in this finding's entry range."""
        if self.seq is None:
            return False
        return self.seq <= seq <= (self.last if self.last is not None else self.seq)

    def describe(self) -> str:
        return f"{KIND_NAMES.get(self.kind, self.kind)}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    """Result of :func:`verify_chain` (and of the anchor and ciphertext checks added to it).

    Parameters:
        entries: How many entries were checked.
        findings: Everything found wrong, chain order first; empty when intact.
        last_seq: Sequence number of the log's last entry (0 when empty).
        last_hash: Its chain hash (the genesis hash when empty).
        anchors: How many signed anchors were checked.
        ciphertexts: How many SM4 ciphertexts were authenticated.
    """

    entries: int
    findings: tuple[Finding, ...] = ()
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    anchors: int = 0
    ciphertexts: int = 0

    @property
    def intact(self) -> bool:
        return not self.findings

    @property
    def first_broken_seq(self) -> int | None:
        """The lowest entry any finding names, or None when no finding names one."""
        seqs = [f.seq for f in self.findings if f.seq is not None]
        return min(seqs) if seqs else None

    @property
    def reason(self) -> str:
        """The detail of the finding at :attr:`first_broken_seq` (of the first finding otherwise)."""
        if not self.findings:
            return ""
        first = self.first_broken_seq
        chosen = next((f for f in self.findings if f.seq == first), self.findings[0])
        return chosen.detail

    def kinds(self) -> set[str]:
        return {finding.kind for finding in self.findings}

    def with_findings(self, more: list[Finding], *, anchors: int = 0, ciphertexts: int = 0) -> ChainReport:
        return ChainReport(
            self.entries,
            (*self.findings, *more),
            self.last_seq,
            self.last_hash,
            self.anchors + anchors,
            self.ciphertexts + ciphertexts,
        )

    def describe(self) -> str:
        extras = "".join(
            f", {count} {name}" for count, name in ((self.anchors, "anchors"), (self.ciphertexts, "ciphertexts"))
            if count
        )
        if self.intact:
            return f"audit chain intact: {self.entries} entries verified{extras}"
        first = self.first_broken_seq
        if first is None:
            header = f"audit chain intact: {self.entries} entries verified{extras}; but TAMPERING FOUND"
        else:
            header = f"audit chain BROKEN at entry {first}: {self.reason}"
        return "\n".join([header, *(f"  - {finding.describe()}" for finding in self.findings)])


def _rows(conn: sa.Connection, batch: int) -> Iterator[Any]:
    after = -1
    while True:
        rows = conn.execute(
            sa.select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(batch)
        ).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq


def _mac_matches(key: bytes, row: Any, entry: AuditEntry, seq: int) -> bool:
    return hmac.compare_digest(entry_mac(key, row.prev_hash, seq, row.at, entry), str(row.hash))


def _origin(conn: sa.Connection, key: bytes, row: Any, entry: AuditEntry) -> int | None:
    """The sequence number this entry was chained at, when it is intact but sits elsewhere now."""
    candidates: list[int] = []
    if row.prev_hash == GENESIS_HASH:
        candidates.append(1)
    predecessor = conn.execute(
        sa.select(audit_log.c.seq).where(audit_log.c.hash == row.prev_hash).limit(1)
    ).scalar_one_or_none()
    if predecessor is not None:
        candidates.append(predecessor + 1)
    candidates.extend(s for d in range(1, SEARCH_WINDOW + 1) for s in (row.seq + d, row.seq - d) if s > 0)
    return next((s for s in candidates if s != row.seq and _mac_matches(key, row, entry, s)), None)


@dataclass
class _Walk:
    """State of one pass over the chain."""

    key: bytes
    findings: list[Finding] = field(default_factory=list)
    failed: list[tuple[int, bool, bool]] = field(default_factory=list)
    """Entries failing their MAC at every position: (seq, linked to the previous entry, plain SM3)."""
    displaced: list[tuple[int, int]] = field(default_factory=list)
    """Intact entries found away from their position: (position now, position chained at)."""
    lookups: int = 0


def verify_chain(conn: sa.Connection, key: bytes | None = None, batch: int = 5000) -> ChainReport:
    """Recompute the keyed chain from the first entry; find and name every break, and check the head.

    Args:
        conn: A connection to the store's database (nothing is written).
        key: The audit key; by default the one :func:`bind_audit_key` put on the connection.
    """
    walk = _Walk(_key_of(conn, key))
    prev_hash, expected, checked, last_seq = GENESIS_HASH, 1, 0, 0
    for row in _rows(conn, batch):
        entry = AuditEntry.of_row(row)
        linked = row.prev_hash == prev_hash
        if _mac_matches(walk.key, row, entry, row.seq):
            if row.seq != expected:
                walk.findings.append(
                    Finding(
                        DELETED,
                        expected,
                        f"entries {expected}..{row.seq - 1} are missing (deleted)"
                        if row.seq - 1 > expected
                        else f"entry {expected} is missing (deleted)",
                        row.seq - 1 if row.seq - 1 > expected else None,
                    )
                )
            elif not linked and not _named(walk, row.seq - 1):
                walk.findings.append(
                    Finding(EDITED, row.seq - 1, f"entry {row.seq - 1}'s hash no longer matches the link entry "
                            f"{row.seq} carries (edited)")
                )
        else:
            origin = _origin(conn, walk.key, row, entry) if walk.lookups < MAX_ORIGIN_LOOKUPS else None
            walk.lookups += 1
            if origin is None:
                plain = legacy_entry_hash(row.prev_hash, row.seq, row.at, entry) == row.hash
                walk.failed.append((row.seq, linked, plain))
            else:
                walk.displaced.append((row.seq, origin))
        prev_hash, last_seq, expected, checked = row.hash, row.seq, row.seq + 1, checked + 1
    _name_failures(walk, checked)
    _name_displacements(walk)
    _check_head(conn, walk, last_seq, prev_hash)
    walk.findings.sort(key=lambda f: (f.seq if f.seq is not None else 1 << 62))
    return ChainReport(checked, tuple(walk.findings[:MAX_FINDINGS]), last_seq, prev_hash)


def _named(walk: _Walk, seq: int) -> bool:
    return (
        any(f.covers(seq) for f in walk.findings)
        or any(s == seq for s, _, _ in walk.failed)
        or any(s == seq for s, _ in walk.displaced)
    )


def _name_failures(walk: _Walk, checked: int) -> None:
    """One failing entry is a tampered row; a run whose links agree with each other is a rewrite."""
    runs: list[list[tuple[int, bool, bool]]] = []
    for item in walk.failed:
        if runs and item[0] == runs[-1][-1][0] + 1 and item[1]:
            runs[-1].append(item)
        else:
            runs.append([item])
    for run in runs:
        first, last = run[0][0], run[-1][0]
        if len(run) == 1:
            walk.findings.append(
                Finding(EDITED, first, f"entry {first} was edited: its content no longer matches its HMAC-SM3")
            )
            continue
        plain = all(plain for _, _, plain in run)
        how = "as plain SM3, " if plain else ""
        hint = (
            "; every entry fails: if nobody rewrote the log, the key file is not this database's"
            if len(run) == checked and not plain
            else ""
        )
        walk.findings.append(
            Finding(
                REWRITTEN,
                first,
                f"entries {first}..{last} were rewritten: their links agree with each other but none carries "
                f"a valid HMAC-SM3 (recomputed {how}without the audit key){hint}",
                last,
            )
        )


def _name_displacements(walk: _Walk) -> None:
    """Intact entries all shifted down by the same amount to the end are deletions closed up by
    renumbering; any other displacement is a reordering."""
    if not walk.displaced:
        return
    shifts = {origin - position for position, origin in walk.displaced}
    positions = [position for position, _ in walk.displaced]
    if len(shifts) == 1 and (shift := shifts.pop()) > 0 and positions == list(
        range(positions[0], positions[0] + len(positions))
    ):
        start = positions[0]
        walk.findings.append(
            Finding(
                DELETED,
                start,
                f"entries {start}..{start + shift - 1} were deleted and the later entries renumbered to close "
                "the gap"
                if shift > 1
                else f"entry {start} was deleted and the later entries renumbered to close the gap",
                start + shift - 1 if shift > 1 else None,
            )
        )
        return
    moved = ", ".join(f"entry {origin} sits at {position}" for position, origin in walk.displaced[:10])
    walk.findings.append(
        Finding(
            REORDERED,
            min(positions),
            f"entries {min(positions)}..{max(positions)} were reordered ({moved})",
            max(positions) if max(positions) != min(positions) else None,
        )
    )


def _check_head(conn: sa.Connection, walk: _Walk, last_seq: int, last_hash: str) -> None:
    head = conn.execute(sa.select(audit_head).where(audit_head.c.id == HEAD_ROW_ID)).one_or_none()
    if head is None:
        walk.findings.append(Finding(HEAD, last_seq + 1, "the audit_head row is missing"))
    elif head.seq > last_seq:
        walk.findings.append(
            Finding(
                TRUNCATED,
                last_seq + 1,
                f"head records entry {head.seq} but the log ends at {last_seq} (entries deleted from the end)",
                head.seq if head.seq > last_seq + 1 else None,
            )
        )
    elif head.seq != last_seq or head.hash != last_hash:
        walk.findings.append(
            Finding(
                HEAD,
                last_seq + 1,
                f"the audit_head row (entry {head.seq}) disagrees with the log's last entry {last_seq}: the head "
                "or the log's end was edited",
            )
        )


def rekey_legacy_chain(conn: sa.Connection, key: bytes) -> int:
    """Re-chain a plain-SM3 (revision 0001) log with HMAC-SM3, in the caller's transaction.

    The plain chain is checked first; a keyed entry then records how many entries were re-keyed and
    whether (and where) the plain chain was already broken, so the re-keying cannot hide an earlier
    tampering. Returns how many entries were re-keyed.
    """
    prev_plain, prev_keyed, broken_at, count = GENESIS_HASH, GENESIS_HASH, None, 0
    expected = 1
    for row in _rows(conn, 5000):
        entry = AuditEntry.of_row(row)
        if broken_at is None and (
            row.seq != expected
            or row.prev_hash != prev_plain
            or legacy_entry_hash(prev_plain, row.seq, row.at, entry) != row.hash
        ):
            broken_at = min(row.seq, expected)
        keyed = entry_mac(key, prev_keyed, row.seq, row.at, entry)
        conn.execute(
            audit_log.update().where(audit_log.c.seq == row.seq).values(prev_hash=prev_keyed, hash=keyed)
        )
        prev_plain, prev_keyed, expected, count = row.hash, keyed, row.seq + 1, count + 1
    if count == 0:
        return 0
    conn.execute(audit_head.update().where(audit_head.c.id == HEAD_ROW_ID).values(seq=expected - 1, hash=prev_keyed))
    outcome = "success" if broken_at is None else f"plain-chain-broken-at-{broken_at}"
    append(
        conn,
        AuditEntry("medvoice-migration", "system", "-", "audit-rekey", f"audit_log/1-{expected - 1}", "integrity", outcome),
        key,
    )
    return count


def unkey_chain(conn: sa.Connection) -> None:
    """Recompute the chain as plain SM3 (revision 0003's downgrade: the chain loses its key)."""
    prev = GENESIS_HASH
    for row in _rows(conn, 5000):
        digest = legacy_entry_hash(prev, row.seq, row.at, AuditEntry.of_row(row))
        conn.execute(audit_log.update().where(audit_log.c.seq == row.seq).values(prev_hash=prev, hash=digest))
        prev = digest
    conn.execute(audit_head.update().where(audit_head.c.id == HEAD_ROW_ID).values(hash=prev))
