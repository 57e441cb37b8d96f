"""The embedded store: FHIR records and consultation on SQLAlchemy, encrypted and audited.

Implements :class:`backends.interfaces.RecordsBackend` and :class:`ConsultationBackend`. Each public
coroutine runs one database transaction on a worker thread (``asyncio.to_thread``); inside it the
access rules are checked, the data is read or written, and the audit entry is chained, so an
access is audited exactly when it commits. Denied, missing and tampered accesses are audited
in their own transaction before the error is raised.
"""

from __future__ import annotations

import asyncio
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
from backends.crypto import FieldCodec, KeyRing, Sm4GcmCodec
from backends.embedded.audit import AuditEntry, ChainReport, append, verify_chain
from backends.embedded.schema import (
    care_links,
    departments,
    doctors,
    handoffs,
    resource_tokens,
    resources,
    slots,
)
from backends.interfaces import (
    AccessDeniedError,
    BackendError,
    HandoffRequest,
    HandoffTicket,
    InvalidResourceError,
    NotFoundError,
    Principal,
    ResourceIssue,
    Slot,
    SlotUnavailableError,
    TamperedDataError,
)
from backends.tokens import TokenSigner

T = TypeVar("T")

SEARCH_PARAMS = {
    "identifier": "identifier",
    "phone": "phone",
    "telecom": "phone",
    "name": "name",
    "code": "code",
}
"""Search parameter -> blind-index kind. ``patient``/``subject`` filter on the plain patient id."""
PATIENT_PARAMS = ("patient", "subject")
MAX_SEARCH_RESULTS = 100


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


_FAILURE_OUTCOMES: dict[type[BackendError], str] = {
    AccessDeniedError: "denied",
    NotFoundError: "not_found",
    TamperedDataError: "tampered",
    SlotUnavailableError: "conflict",
    InvalidResourceError: "invalid",
}
"""Audit outcome recorded for each failure, in its own transaction (the access itself rolled back)."""


@dataclass
class _Outcome:
    """What a unit of work reports for its audit entry (target may be known only inside it)."""

    action: str
    target: str


class EmbeddedStore:
    """Records + consultation store. Build it with :func:`backends.embedded.open_store`.

    Args:
        engine: SQLAlchemy engine (already migrated).
        codec: Field codec (SM4-GCM; the plaintext codec only for the benchmark baseline).
        ring: Key ring (data keys, blind-index key, token key).
        key_file: Where the ring lives, so :meth:`rotate_key` can persist a new key.
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

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        """One committed-or-rolled-back transaction (behind the SQLite gate)."""
        with self._gate, self.engine.begin() as conn:
            yield conn

    def _run(self, principal: Principal, outcome: _Outcome, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` and its success audit entry in one transaction; audit failures separately."""
        try:
            with self._transaction() as conn:
                result = work(conn)
                append(conn, AuditEntry.of(principal, outcome.action, outcome.target))
                return result
        except BackendError as error:
            self._audit_alone(principal, outcome, _FAILURE_OUTCOMES.get(type(error), "failed"))
            raise

    def _audit_alone(self, principal: Principal, outcome: _Outcome, result: str) -> None:
        with self._transaction() as conn:
            append(conn, AuditEntry.of(principal, outcome.action, outcome.target, result))

    @staticmethod
    def _binding(values: Mapping[str, Any]) -> bytes:
        """Associated data tying a ciphertext to its row and to the columns access control reads."""
        return (
            f"resources|{values['id']}|{values['resource_type']}|{values['hospital_id']}|"
            f"{values['department_id'] or ''}|{values['patient_id'] or ''}|{values['author']}|{values['version']}"
        ).encode()

    def _decode(self, row: Any) -> dict[str, Any]:
        return json.loads(self.codec.open(row.key_id, row.body_blob, self._binding(row._mapping)))

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
        exists = conn.execute(
            sa.select(care_links.c.patient_id).where(
                care_links.c.patient_id == patient_id, care_links.c.department_id == department_id
            )
        ).first()
        if not exists:
            conn.execute(
                care_links.insert().values(
                    patient_id=patient_id, department_id=department_id, hospital_id=hospital_id
                )
            )

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

    # ------------------------------------------------------------------ records (sync)

    def _read_sync(self, principal: Principal, resource_type: str, resource_id: str) -> dict[str, Any]:
        def work(conn: sa.Connection) -> dict[str, Any]:
            access.check_type(principal, "read", resource_type)
            row = self._resource_row(conn, resource_type, resource_id)
            access.check_row(principal, "read", resource_type, self._scope(conn, row))
            return self._decode(row)

        return self._run(principal, _Outcome("read", f"{resource_type}/{resource_id}"), work)

    def _create_sync(self, principal: Principal, resource: dict[str, Any]) -> dict[str, Any]:
        validated = fhir.validate(resource)
        resource_type = validated["resourceType"]
        resource_id = _new_id()

        def work(conn: sa.Connection) -> dict[str, Any]:
            access.check_type(principal, "create", resource_type)
            access.check_new_status(principal, resource_type, fhir.status_of(validated))
            department_id = self._department_for(conn, principal, validated)
            patient_id = fhir.patient_of(validated)
            if patient_id:
                self._check_patient_reference(conn, principal, resource_type, patient_id)
            now = _now()
            validated["id"] = resource_id
            fhir.set_department_tag(validated, department_id)
            validated.setdefault("meta", {}).update(versionId="1", lastUpdated=now.isoformat())
            values = {
                "id": resource_id,
                "resource_type": resource_type,
                "hospital_id": principal.hospital_id,
                "department_id": department_id,
                "patient_id": patient_id,
                "author": principal.subject,
                "version": 1,
                "last_updated": now,
            }
            self._write_row(conn, values, validated, insert=True)
            if department_id:
                self._link(conn, principal.hospital_id, patient_id or resource_id, department_id)
            return validated

        return self._run(principal, _Outcome("create", f"{resource_type}/{resource_id}"), work)

    def _department_for(
        self, conn: sa.Connection, principal: Principal, resource: dict[str, Any]
    ) -> str | None:
        """Department and doctor users write into their own department; others may tag one."""
        if principal.role in ("department", "doctor"):
            return principal.department_id
        tagged = fhir.department_tag(resource)
        if tagged and not self._department_exists(conn, principal.hospital_id, tagged):
            raise InvalidResourceError(
                f"meta.tag names department {tagged!r}, which hospital {principal.hospital_id!r} does not have",
                (ResourceIssue(f"{resource['resourceType']}.meta.tag", f"unknown department {tagged!r}"),),
            )
        return tagged

    def _check_patient_reference(
        self, conn: sa.Connection, principal: Principal, resource_type: str, patient_id: str
    ) -> None:
        row = conn.execute(
            sa.select(resources).where(resources.c.id == patient_id, resources.c.resource_type == "Patient")
        ).first()
        if row is None or row.hospital_id != principal.hospital_id:
            raise InvalidResourceError(
                f"{resource_type} refers to Patient/{patient_id}, which does not exist in this hospital",
                (ResourceIssue(f"{resource_type}.subject", f"unknown Patient/{patient_id}"),),
            )
        if not access.in_scope(principal, self._scope(conn, row)):
            raise AccessDeniedError(
                f"department {principal.department_id!r} has no care relationship with Patient/{patient_id}; "
                "book or route the patient to this department first"
            )

    def _update_sync(self, principal: Principal, resource: dict[str, Any]) -> dict[str, Any]:
        validated = fhir.validate(resource)
        resource_type = validated["resourceType"]
        resource_id = validated.get("id")
        if not resource_id:
            raise InvalidResourceError(
                f"an update needs the {resource_type}'s id",
                (ResourceIssue(f"{resource_type}.id", "missing id"),),
            )

        def work(conn: sa.Connection) -> dict[str, Any]:
            access.check_type(principal, "update", resource_type)
            row = self._resource_row(conn, resource_type, resource_id)
            current = self._decode(row)
            access.check_row(principal, "update", resource_type, self._scope(conn, row, current))
            access.check_new_status(principal, resource_type, fhir.status_of(validated))
            if fhir.patient_of(validated) != row.patient_id:
                raise InvalidResourceError(
                    f"an update may not move {resource_type}/{resource_id} to another patient",
                    (ResourceIssue(f"{resource_type}.subject", f"must stay Patient/{row.patient_id}"),),
                )
            now = _now()
            version = row.version + 1
            fhir.set_department_tag(validated, row.department_id)
            validated.setdefault("meta", {}).update(versionId=str(version), lastUpdated=now.isoformat())
            values = {
                "id": row.id,
                "resource_type": resource_type,
                "hospital_id": row.hospital_id,
                "department_id": row.department_id,
                "patient_id": row.patient_id,
                "author": row.author,
                "version": version,
                "last_updated": now,
            }
            self._write_row(conn, values, validated, insert=False)
            return validated

        return self._run(principal, _Outcome("update", f"{resource_type}/{resource_id}"), work)

    def _search_sync(
        self, principal: Principal, resource_type: str, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        unknown = [p for p in params if p not in SEARCH_PARAMS and p not in PATIENT_PARAMS]
        if resource_type not in fhir.RESOURCE_TYPES:
            raise InvalidResourceError(
                f"resourceType {resource_type!r} is not supported; use one of {', '.join(fhir.RESOURCE_TYPES)}",
                (ResourceIssue("resourceType", f"unsupported {resource_type!r}"),),
            )
        if unknown or not params:
            supported = ", ".join([*SEARCH_PARAMS, *PATIENT_PARAMS])
            raise InvalidResourceError(
                f"search parameters {unknown or '(none)'} are not supported; use at least one of {supported}",
                tuple(ResourceIssue(p, "unsupported search parameter") for p in unknown or ["(none)"]),
            )
        target = f"{resource_type}?{','.join(sorted(params))}"
        returned: list[str] = []

        def work(conn: sa.Connection) -> list[dict[str, Any]]:
            access.check_type(principal, "search", resource_type)
            query = sa.select(resources).where(
                resources.c.resource_type == resource_type, resources.c.hospital_id == principal.hospital_id
            )
            for name, value in params.items():
                if name in PATIENT_PARAMS:
                    query = query.where(resources.c.patient_id == value.removeprefix("Patient/"))
                    continue
                kind = SEARCH_PARAMS[name]
                if kind == "phone":
                    value = fhir.normalise_phone(value)
                digest = self.codec.blind_index(kind, value)
                matching = sa.select(resource_tokens.c.resource_id).where(
                    resource_tokens.c.hospital_id == principal.hospital_id,
                    resource_tokens.c.resource_type == resource_type,
                    resource_tokens.c.kind == kind,
                    resource_tokens.c.digest == digest,
                )
                query = query.where(resources.c.id.in_(matching))
            found = []
            for row in conn.execute(query.order_by(resources.c.last_updated).limit(MAX_SEARCH_RESULTS)):
                if access.in_scope(principal, self._scope(conn, row)):
                    found.append(self._decode(row))
                    returned.append(row.id)
            for resource_id in returned:
                append(conn, AuditEntry.of(principal, "search", f"{resource_type}/{resource_id}"))
            return found

        return self._run(principal, _Outcome("search", target), work)

    # ------------------------------------------------------------------ consultation (sync)

    def _departments_sync(self, hospital_id: str) -> list[str]:
        with self._transaction() as conn:
            return list(
                conn.execute(
                    sa.select(departments.c.name)
                    .where(departments.c.hospital_id == hospital_id)
                    .order_by(departments.c.id)
                ).scalars()
            )

    def _department_id(self, conn: sa.Connection, hospital_id: str, department: str) -> str:
        row = conn.execute(
            sa.select(departments.c.id).where(
                departments.c.hospital_id == hospital_id,
                sa.or_(departments.c.name == department, departments.c.id == department),
            )
        ).first()
        if row is None:
            known = conn.execute(
                sa.select(departments.c.name).where(departments.c.hospital_id == hospital_id)
            ).scalars()
            raise NotFoundError(
                f"hospital {hospital_id!r} has no department {department!r}; known: {', '.join(known)}"
            )
        return row.id

    def _find_slots_sync(self, hospital_id: str, department: str, limit: int) -> list[Slot]:
        with self._transaction() as conn:
            department_id = self._department_id(conn, hospital_id, department)
            rows = conn.execute(
                sa.select(
                    slots, doctors.c.name.label("doctor_name"), departments.c.name.label("department_name")
                )
                .join(doctors, doctors.c.id == slots.c.doctor_id)
                .join(departments, departments.c.id == slots.c.department_id)
                .where(
                    slots.c.hospital_id == hospital_id,
                    slots.c.department_id == department_id,
                    slots.c.appointment_id.is_(None),
                    slots.c.start > _now(),
                )
                .order_by(slots.c.start, slots.c.id)
                .limit(limit)
            ).all()
        return [
            Slot(row.id, row.department_name, row.doctor_name, _utc(row.start), _utc(row.end)) for row in rows
        ]

    def _book_sync(self, principal: Principal, slot_id: str, patient_id: str) -> str:
        appointment_id = _new_id()

        def work(conn: sa.Connection) -> str:
            access.check_consultation(principal, "book")
            patient = conn.execute(
                sa.select(resources.c.id).where(
                    resources.c.id == patient_id,
                    resources.c.resource_type == "Patient",
                    resources.c.hospital_id == principal.hospital_id,
                )
            ).first()
            if patient is None:
                raise NotFoundError(
                    f"Patient/{patient_id} does not exist in hospital {principal.hospital_id!r}"
                )
            # The conditional UPDATE is the booking: exactly one concurrent transaction can move the
            # slot from free to taken (row lock on PostgreSQL, database write lock on SQLite).
            taken = conn.execute(
                slots.update()
                .where(
                    slots.c.id == slot_id,
                    slots.c.hospital_id == principal.hospital_id,
                    slots.c.appointment_id.is_(None),
                    slots.c.start > _now(),
                )
                .values(appointment_id=appointment_id)
            )
            if taken.rowcount != 1:
                raise SlotUnavailableError(
                    f"slot {slot_id!r} is already booked, in the past or unknown; call find_slots for a free one"
                )
            slot = conn.execute(
                sa.select(
                    slots, doctors.c.name.label("doctor_name"), departments.c.name.label("department_name")
                )
                .join(doctors, doctors.c.id == slots.c.doctor_id)
                .join(departments, departments.c.id == slots.c.department_id)
                .where(slots.c.id == slot_id)
            ).one()
            appointment = fhir.validate(
                {
                    "resourceType": "Appointment",
                    "status": "booked",
                    "serviceType": [{"text": slot.department_name}],
                    "start": _utc(slot.start).isoformat(),
                    "end": _utc(slot.end).isoformat(),
                    "slot": [{"reference": f"Slot/{slot_id}"}],
                    "participant": [
                        {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
                        {
                            "actor": {
                                "reference": f"Practitioner/{slot.doctor_id}",
                                "display": slot.doctor_name,
                            },
                            "status": "accepted",
                        },
                    ],
                }
            )
            now = _now()
            appointment["id"] = appointment_id
            fhir.set_department_tag(appointment, slot.department_id)
            appointment.setdefault("meta", {}).update(versionId="1", lastUpdated=now.isoformat())
            values = {
                "id": appointment_id,
                "resource_type": "Appointment",
                "hospital_id": principal.hospital_id,
                "department_id": slot.department_id,
                "patient_id": patient_id,
                "author": principal.subject,
                "version": 1,
                "last_updated": now,
            }
            self._write_row(conn, values, appointment, insert=True)
            self._link(conn, principal.hospital_id, patient_id, slot.department_id)
            return appointment_id

        return self._run(principal, _Outcome("book", f"Appointment/{appointment_id}"), work)

    def _cancel_sync(self, principal: Principal, appointment_id: str) -> None:
        def work(conn: sa.Connection) -> None:
            access.check_consultation(principal, "cancel")
            row = self._resource_row(conn, "Appointment", appointment_id)
            access.check_hospital(principal, row.hospital_id)
            if not access.in_scope(principal, self._scope(conn, row)):
                raise AccessDeniedError(
                    f"department {principal.department_id!r} may not cancel appointments of another department"
                )
            appointment = self._decode(row)
            conn.execute(
                slots.update().where(slots.c.appointment_id == appointment_id).values(appointment_id=None)
            )
            if appointment.get("status") == "cancelled":
                return
            appointment["status"] = "cancelled"
            now = _now()
            appointment["meta"].update(versionId=str(row.version + 1), lastUpdated=now.isoformat())
            values = {
                column: getattr(row, column)
                for column in ("id", "resource_type", "hospital_id", "department_id", "patient_id", "author")
            }
            values.update(version=row.version + 1, last_updated=now)
            self._write_row(conn, values, appointment, insert=False)

        self._run(principal, _Outcome("cancel", f"Appointment/{appointment_id}"), work)

    def _request_handoff_sync(self, principal: Principal, request: HandoffRequest) -> str:
        ticket_id = _new_id()

        def work(conn: sa.Connection) -> str:
            access.check_consultation(principal, "handoff")
            detail = {
                "summary": request.summary,
                "red_flags": list(request.red_flags),
                "extra": request.extra,
            }
            key_id, blob = self.codec.seal(
                json.dumps(detail, ensure_ascii=False, default=str).encode(),
                self._handoff_binding(ticket_id, principal.hospital_id),
            )
            conn.execute(
                handoffs.insert().values(
                    id=ticket_id,
                    hospital_id=principal.hospital_id,
                    call_id=request.call_id,
                    flow=request.flow,
                    level=request.level,
                    patient_id=request.patient_id,
                    status="queued",
                    created_at=_now(),
                    key_id=key_id,
                    detail_blob=blob,
                )
            )
            return ticket_id

        return self._run(principal, _Outcome("handoff", f"Handoff/{ticket_id}"), work)

    @staticmethod
    def _handoff_binding(ticket_id: str, hospital_id: str) -> bytes:
        return f"handoffs|{ticket_id}|{hospital_id}".encode()

    def _ticket(self, row: Any) -> HandoffTicket:
        detail = json.loads(
            self.codec.open(row.key_id, row.detail_blob, self._handoff_binding(row.id, row.hospital_id))
        )
        request = HandoffRequest(
            call_id=row.call_id,
            flow=row.flow,
            summary=detail["summary"],
            level=row.level,
            red_flags=tuple(detail["red_flags"]),
            patient_id=row.patient_id,
            extra=detail["extra"],
        )
        return HandoffTicket(row.id, request, row.status, _utc(row.created_at), row.claimed_by)

    def _handoff_queue_sync(self, principal: Principal, status: str) -> list[HandoffTicket]:
        def work(conn: sa.Connection) -> list[HandoffTicket]:
            access.check_consultation(principal, "handoff_queue")
            rows = conn.execute(
                sa.select(handoffs)
                .where(handoffs.c.hospital_id == principal.hospital_id, handoffs.c.status == status)
                .order_by(sa.func.coalesce(handoffs.c.level, 99), handoffs.c.created_at)
            ).all()
            return [self._ticket(row) for row in rows]

        return self._run(principal, _Outcome("handoff_queue", f"Handoff?status={status}"), work)

    def _claim_handoff_sync(self, principal: Principal, ticket_id: str) -> HandoffTicket:
        def work(conn: sa.Connection) -> HandoffTicket:
            access.check_consultation(principal, "handoff_queue")
            claimed = conn.execute(
                handoffs.update()
                .where(
                    handoffs.c.id == ticket_id,
                    handoffs.c.hospital_id == principal.hospital_id,
                    handoffs.c.status == "queued",
                )
                .values(status="claimed", claimed_by=principal.subject)
            )
            if claimed.rowcount != 1:
                raise NotFoundError(
                    f"hand-off {ticket_id!r} is not queued in hospital {principal.hospital_id!r}"
                )
            return self._ticket(conn.execute(sa.select(handoffs).where(handoffs.c.id == ticket_id)).one())

        return self._run(principal, _Outcome("handoff_claim", f"Handoff/{ticket_id}"), work)

    # ------------------------------------------------------------------ keys and audit

    def rotate_key(self) -> str:
        """Make a new SM4 data key active (persisted to the key file); returns its id.

        Existing rows stay readable under their old key ids; :meth:`reencrypt` moves them over.
        """
        self.ring = self.ring.rotated()
        if self.key_file is not None:
            self.ring.save(self.key_file)
        self.codec = Sm4GcmCodec(self.ring)
        return self.ring.active_key_id

    def _reencrypt_sync(self, batch: int) -> int:
        active = self.ring.active_key_id
        moved = 0
        while True:
            with self._transaction() as conn:
                rows = conn.execute(
                    sa.select(resources).where(resources.c.key_id != active).limit(batch)
                ).all()
                for row in rows:
                    binding = self._binding(row._mapping)
                    key_id, blob = self.codec.seal(
                        self.codec.open(row.key_id, row.body_blob, binding), binding
                    )
                    conn.execute(
                        resources.update()
                        .where(resources.c.id == row.id)
                        .values(key_id=key_id, body_blob=blob)
                    )
                handoff_rows = conn.execute(
                    sa.select(handoffs).where(handoffs.c.key_id != active).limit(batch)
                ).all()
                for row in handoff_rows:
                    binding = self._handoff_binding(row.id, row.hospital_id)
                    key_id, blob = self.codec.seal(
                        self.codec.open(row.key_id, row.detail_blob, binding), binding
                    )
                    conn.execute(
                        handoffs.update()
                        .where(handoffs.c.id == row.id)
                        .values(key_id=key_id, detail_blob=blob)
                    )
            moved += len(rows) + len(handoff_rows)
            if len(rows) < batch and len(handoff_rows) < batch:
                return moved

    def verify_audit_sync(self) -> ChainReport:
        with self._transaction() as conn:
            return verify_chain(conn)

    # ------------------------------------------------------------------ async API (the Protocols)

    async def create(self, principal: Principal, resource: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self._create_sync, principal, resource)

    async def read(self, principal: Principal, resource_type: str, resource_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(self._read_sync, principal, resource_type, resource_id)

    async def search(
        self, principal: Principal, resource_type: str, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._search_sync, principal, resource_type, dict(params))

    async def update(self, principal: Principal, resource: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self._update_sync, principal, resource)

    async def departments(self, hospital_id: str) -> list[str]:
        return await asyncio.to_thread(self._departments_sync, hospital_id)

    async def find_slots(self, hospital_id: str, department: str, limit: int = 3) -> list[Slot]:
        return await asyncio.to_thread(self._find_slots_sync, hospital_id, department, limit)

    async def book(self, principal: Principal, slot_id: str, patient_id: str) -> str:
        return await asyncio.to_thread(self._book_sync, principal, slot_id, patient_id)

    async def cancel(self, principal: Principal, appointment_id: str) -> None:
        await asyncio.to_thread(self._cancel_sync, principal, appointment_id)

    async def request_handoff(self, principal: Principal, request: HandoffRequest) -> str:
        return await asyncio.to_thread(self._request_handoff_sync, principal, request)

    async def handoff_queue(self, principal: Principal, status: str = "queued") -> list[HandoffTicket]:
        """Tickets in ``status``, most urgent level first (staff roles only)."""
        return await asyncio.to_thread(self._handoff_queue_sync, principal, status)

    async def claim_handoff(self, principal: Principal, ticket_id: str) -> HandoffTicket:
        """Take a queued ticket; only one claimant wins."""
        return await asyncio.to_thread(self._claim_handoff_sync, principal, ticket_id)

    async def reencrypt(self, batch: int = 500) -> int:
        """Re-seal every row not under the active key; returns how many rows moved."""
        return await asyncio.to_thread(self._reencrypt_sync, batch)

    async def verify_audit(self) -> ChainReport:
        return await asyncio.to_thread(self.verify_audit_sync)
