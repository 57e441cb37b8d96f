"""The store's encrypted columns: which they are, authenticating every one, and re-sealing them all under a new key.

Every SM4-GCM ciphertext of the store is listed once in :data:`SEALED_COLUMNS` with the binding
(associated data) its rows are sealed with. ``audit verify`` authenticates them all
(:func:`check_ciphertexts`); ``keys rotate`` re-seals them all under a new data key in ONE
transaction (:func:`rotate_data_key`).

Rotation is crash-safe by ordering: the key file gains the new key (keeping every old one) before
any row is touched, and the rows move in one transaction, so an interruption at any point leaves
each row sealed under a key the file still holds. Old keys stay in the file (backups and a running
service's in-flight writes may still use them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from backends.crypto import FieldCodec, KeyRing, Sm4GcmCodec
from backends.embedded.audit import CIPHERTEXT, AuditEntry, Finding, append
from backends.embedded.consultation import ConsultationOperations
from backends.embedded.core import StoreCore
from backends.embedded.schedule import CampaignSchedule, campaign_calls
from backends.embedded.schema import handoffs, resources
from backends.interfaces import TamperedDataError

__all__ = ["SEALED_COLUMNS", "RotationReport", "SealedColumn", "check_ciphertexts", "rotate_data_key"]


@dataclass(frozen=True)
class SealedColumn:
    """One encrypted column: its table, blob column, and the binding each row is sealed with."""

    table: sa.Table
    blob: str
    binding: Callable[[sa.RowMapping], bytes]


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(resources, "body_blob", StoreCore._binding),
    SealedColumn(
        handoffs, "detail_blob", lambda row: ConsultationOperations._handoff_binding(row["id"], row["hospital_id"])
    ),
    SealedColumn(
        campaign_calls, "result_blob", lambda row: CampaignSchedule._visit_binding(row["id"], row["hospital_id"])
    ),
)
"""Every SM4-GCM column of the store (a new sealed column belongs here, or rotation would skip it)."""


def _describe_row(column: SealedColumn, row: sa.RowMapping) -> str:
    kind = f" ({row['resource_type']})" if "resource_type" in row else ""
    return f"{column.table.name}.{column.blob} of row {row['id']}{kind}"


def check_ciphertexts(conn: sa.Connection, codec: FieldCodec) -> tuple[int, list[Finding]]:
    """Authenticate every sealed value; returns how many were checked and a finding per failure."""
    checked, findings = 0, []
    for column in SEALED_COLUMNS:
        blob = column.table.c[column.blob]
        for row in conn.execute(sa.select(column.table).where(blob.is_not(None))).mappings():
            checked += 1
            try:
                codec.open(row["key_id"], row[column.blob], column.binding(row))
            except TamperedDataError as error:
                findings.append(Finding(CIPHERTEXT, None, f"{_describe_row(column, row)}: {error}"))
    return checked, findings


@dataclass(frozen=True)
class RotationReport:
    """What :func:`rotate_data_key` did: the new active key id and how many values moved per column."""

    new_key_id: str
    moved: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.moved.values())


ROTATION_SUBJECT = "medvoice-keys-rotate"


def reseal(
    conn: sa.Connection,
    codec: FieldCodec,
    active_key_id: str,
    *,
    batch: int = 500,
    before_commit: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Re-seal, in the caller's transaction, every sealed value not under ``active_key_id``.

    Rows are fetched ``batch`` at a time (a re-sealed row no longer matches, so each fetch finds the
    next ones); returns how many values moved per column.
    """
    moved: dict[str, int] = {}
    count = 0
    for column in SEALED_COLUMNS:
        name = f"{column.table.name}.{column.blob}"
        moved[name] = 0
        query = (
            sa.select(column.table)
            .where(column.table.c.key_id != active_key_id, column.table.c[column.blob].is_not(None))
            .limit(batch)
        )
        while rows := conn.execute(query).mappings().all():
            for row in rows:
                binding = column.binding(row)
                key_id, blob = codec.seal(codec.open(row["key_id"], row[column.blob], binding), binding)
                if key_id != active_key_id:
                    raise ValueError(f"the codec seals with {key_id!r}, not the active key {active_key_id!r}")
                conn.execute(
                    column.table.update()
                    .where(column.table.c.id == row["id"])
                    .values({"key_id": key_id, column.blob: blob})
                )
                moved[name] += 1
                count += 1
                if before_commit is not None:
                    before_commit(count)
    return moved


def rotate_data_key(
    engine: sa.Engine,
    ring: KeyRing,
    key_file: Path | None,
    *,
    before_commit: Callable[[int], None] | None = None,
) -> tuple[KeyRing, RotationReport]:
    """Make a new SM4 data key active and re-seal every encrypted value with it, in one transaction.

    Args:
        engine: The store's engine (its audit key bound: the rotation is audited in the same
            transaction).
        ring: The current key ring.
        key_file: Where the ring lives; the new ring (old keys kept) is saved there before any row
            changes. None only when the ring came from a string (then the caller must persist it).
        before_commit: Called with each re-sealed value's running count (tests interrupt here).

    Returns:
        The new ring and what moved. On any error the transaction rolls back: rows keep their old
        key ids, which the saved ring still holds.
    """
    rotated = ring.rotated()
    if key_file is not None:
        rotated.save(key_file)
    with engine.begin() as conn:
        moved = reseal(conn, Sm4GcmCodec(rotated), rotated.active_key_id, before_commit=before_commit)
        append(
            conn,
            AuditEntry(ROTATION_SUBJECT, "system", "-", "rotate-key", f"keys/{rotated.active_key_id}", "security", "success"),
        )
    return rotated, RotationReport(rotated.active_key_id, moved)
