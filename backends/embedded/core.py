"""Plumbing shared by the embedded store's parts: transactions, audit wrapping, sealed rows, row scope.

Every public operation runs through :meth:`StoreCore._run`: one database transaction in which the
access rules are checked, the data is read or written and the audit entry is chained, so an access
is audited exactly when it commits. Denied, missing, invalid and tampered accesses are audited in
their own transaction before the error is raised.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from backends import access, fhir
from backends.crypto import FieldCodec, KeyRing
from backends.embedded.audit import AuditEntry, append
from backends.embedded.engine import insert_ignoring_duplicates
from backends.embedded.schema import care_links, departments, resource_tokens, resources
from backends.interfaces import (
    AccessDeniedError,
    BackendError,
    InvalidResourceError,
    NotFoundError,
    Principal,
    SlotUnavailableError,
    TamperedDataError,
    VersionConflictError,
)
from backends.tokens import TokenSigner

T = TypeVar("T")


def now_utc() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def new_id() -> str:
    return uuid.uuid4().hex


FAILURE_OUTCOMES: dict[type[BackendError], str] = {
    AccessDeniedError: "denied",
    NotFoundError: "not_found",
    TamperedDataError: "tampered",
    SlotUnavailableError: "conflict",
    InvalidResourceError: "invalid",
    VersionConflictError: "conflict",
}
"""Audit outcome recorded for each failure, in its own transaction (the access itself rolled back)."""


@dataclass
class Outcome:
    """What a unit of work reports for its audit entry (target may be known only inside it)."""

    action: str
    target: str


class StoreCore:
    """Engine, codec and key ring, and the helpers every part of the store uses.

    Args:
        engine: SQLAlchemy engine (already migrated).
        codec: Field codec (SM4-GCM; the plaintext codec only for the benchmark baseline).
        ring: Key ring (data keys, blind-index key, token key).
        key_file: Where the ring lives, so key rotation can persist a new key.
    """

    def __init__(
        self, engine: sa.Engine, codec: FieldCodec, ring: KeyRing, key_file: Path | None = None
    ) -> None:
        self.engine = engine
        self.codec = codec
        self.ring = ring
        self.key_file = key_file
        self.tokens = TokenSigner(ring.token_key)
        # SQLite has one writer at a time and every access writes an audit entry; queueing this
        # process's threads on a lock avoids SQLite's sleeping busy-retry. PostgreSQL needs no gate.
        self._gate: AbstractContextManager[Any] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        """One committed-or-rolled-back transaction (behind the SQLite gate)."""
        with self._gate, self.engine.begin() as conn:
            yield conn

    def _run(self, principal: Principal, outcome: Outcome, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` and its success audit entry in one transaction; audit failures separately."""
        try:
            with self._transaction() as conn:
                result = work(conn)
                append(conn, AuditEntry.of(principal, outcome.action, outcome.target))
                return result
        except BackendError as error:
            self._audit_alone(principal, outcome, FAILURE_OUTCOMES.get(type(error), "failed"))
            raise

    def _audit_alone(self, principal: Principal, outcome: Outcome, result: str) -> None:
        with self._transaction() as conn:
            append(conn, AuditEntry.of(principal, outcome.action, outcome.target, result))

    @staticmethod
    def _binding(values: Mapping[str, Any] | sa.RowMapping) -> bytes:
        """Associated data tying a ciphertext to its row and to the columns access control reads."""
        return (
            f"resources|{values['id']}|{values['resource_type']}|{values['hospital_id']}|"
            f"{values['department_id'] or ''}|{values['patient_id'] or ''}|{values['author']}|{values['version']}"
        ).encode()

    def _decode(self, row: Any) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.codec.open(row.key_id, row.body_blob, self._binding(row._mapping)))
        return decoded

    def _scope(
        self, conn: sa.Connection, row: Any, resource: dict[str, Any] | None = None
    ) -> access.RowScope:
        patient_id = row.id if row.resource_type == "Patient" else row.patient_id
        linked: set[str] = set()
        if patient_id:
            linked = set(
                conn.execute(
                    sa.select(care_links.c.department_id).where(care_links.c.patient_id == patient_id)
                ).scalars()
            )
        return access.RowScope(
            hospital_id=row.hospital_id,
            department_id=row.department_id,
            patient_departments=linked,
            author=row.author,
            status=fhir.status_of(resource) if resource else None,
        )

    def _link(self, conn: sa.Connection, hospital_id: str, patient_id: str, department_id: str) -> None:
        link = {"patient_id": patient_id, "department_id": department_id, "hospital_id": hospital_id}
        insert_ignoring_duplicates(conn, care_links, [link])

    def _write_row(
        self, conn: sa.Connection, values: dict[str, Any], resource: dict[str, Any], *, insert: bool
    ) -> None:
        """Seal ``resource`` for the row described by ``values`` and (re)write its blind indexes."""
        key_id, blob = self.codec.seal(
            json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode(), self._binding(values)
        )
        stored = {**values, "key_id": key_id, "body_blob": blob}
        if insert:
            conn.execute(resources.insert().values(**stored))
        else:
            conn.execute(resources.update().where(resources.c.id == values["id"]).values(**stored))
            conn.execute(resource_tokens.delete().where(resource_tokens.c.resource_id == values["id"]))
        tokens = [
            {
                "resource_id": values["id"],
                "kind": kind,
                "digest": self.codec.blind_index(kind, value),
                "hospital_id": values["hospital_id"],
                "resource_type": values["resource_type"],
            }
            for kind, value in fhir.search_tokens(resource)
        ]
        if tokens:
            conn.execute(resource_tokens.insert(), tokens)

    def _department_exists(self, conn: sa.Connection, hospital_id: str, department_id: str) -> bool:
        return (
            conn.execute(
                sa.select(departments.c.id).where(
                    departments.c.id == department_id, departments.c.hospital_id == hospital_id
                )
            ).first()
            is not None
        )

    def _resource_row(self, conn: sa.Connection, resource_type: str, resource_id: str) -> Any:
        row = conn.execute(
            sa.select(resources).where(
                resources.c.id == resource_id, resources.c.resource_type == resource_type
            )
        ).first()
        if row is None:
            raise NotFoundError(f"{resource_type}/{resource_id} does not exist")
        return row
