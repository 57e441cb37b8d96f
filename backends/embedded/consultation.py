"""Consultation operations of the embedded store: departments, slots, booking, cancellation, hand-off queue.

Booking is a conditional UPDATE of the slot row (free -> this appointment): exactly one of any number
of concurrent transactions can win it, on SQLite (database write lock) and PostgreSQL (row lock).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from backends import access, fhir
from backends.embedded.core import Outcome, StoreCore, as_utc, new_id, now_utc
from backends.embedded.schema import departments, doctors, handoffs, resources, slots
from backends.interfaces import (
    AccessDeniedError,
    HandoffRequest,
    HandoffTicket,
    NotFoundError,
    Principal,
    Slot,
    SlotUnavailableError,
)


class ConsultationOperations(StoreCore):
    """Consultation half of the store (blocking; run on a thread)."""

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
        department_id: str = row.id
        return department_id

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
                    slots.c.start > now_utc(),
                )
                .order_by(slots.c.start, slots.c.id)
                .limit(limit)
            ).all()
        return [
            Slot(row.id, row.department_name, row.doctor_name, as_utc(row.start), as_utc(row.end))
            for row in rows
        ]

    def _book_sync(self, principal: Principal, slot_id: str, patient_id: str) -> str:
        appointment_id = new_id()

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
                    slots.c.start > now_utc(),
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
                    "start": as_utc(slot.start).isoformat(),
                    "end": as_utc(slot.end).isoformat(),
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
            now = now_utc()
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

        return self._run(principal, Outcome("book", f"Appointment/{appointment_id}"), work)

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
            now = now_utc()
            appointment["meta"].update(versionId=str(row.version + 1), lastUpdated=now.isoformat())
            values = {
                column: getattr(row, column)
                for column in ("id", "resource_type", "hospital_id", "department_id", "patient_id", "author")
            }
            values.update(version=row.version + 1, last_updated=now)
            self._write_row(conn, values, appointment, insert=False)

        self._run(principal, Outcome("cancel", f"Appointment/{appointment_id}"), work)

    def _handoff_department(self, conn: sa.Connection, principal: Principal, request: HandoffRequest) -> str | None:
        """Staff queue into their own department; the voice agent into the department the call was
        routed to (``extra["department"]``, a name or id), or none when it was not routed."""
        if principal.role in ("department", "doctor"):
            return principal.department_id
        named = request.extra.get("department") if isinstance(request.extra, dict) else None
        if not isinstance(named, str) or not named:
            return None
        row = conn.execute(
            sa.select(departments.c.id).where(
                departments.c.hospital_id == principal.hospital_id,
                sa.or_(departments.c.name == named, departments.c.id == named),
            )
        ).first()
        return str(row.id) if row is not None else None

    def _request_handoff_sync(self, principal: Principal, request: HandoffRequest) -> str:
        ticket_id = new_id()

        def work(conn: sa.Connection) -> str:
            access.check_consultation(principal, "handoff")
            department_id = self._handoff_department(conn, principal, request)
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
                    created_at=now_utc(),
                    key_id=key_id,
                    detail_blob=blob,
                    department_id=department_id,
                )
            )
            return ticket_id

        return self._run(principal, Outcome("handoff", f"Handoff/{ticket_id}"), work)

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
        return HandoffTicket(
            row.id,
            request,
            row.status,
            as_utc(row.created_at),
            row.claimed_by,
            row.department_id,
            tuple(detail.get("history", [])),
        )

    @staticmethod
    def _handoff_scope(principal: Principal) -> Any:
        """Rule 3 for hand-offs: department and doctor roles see their department's tickets and the
        unrouted ones; hospital-wide roles see the hospital's."""
        where = handoffs.c.hospital_id == principal.hospital_id
        if principal.role in access.HOSPITAL_WIDE_ROLES:
            return where
        return sa.and_(
            where,
            sa.or_(handoffs.c.department_id.is_(None), handoffs.c.department_id == principal.department_id),
        )

    def _visible_handoff(self, conn: sa.Connection, principal: Principal, ticket_id: str) -> Any:
        row = conn.execute(
            sa.select(handoffs).where(handoffs.c.id == ticket_id, handoffs.c.hospital_id == principal.hospital_id)
        ).first()
        if row is None:
            raise NotFoundError(f"hand-off {ticket_id!r} does not exist in hospital {principal.hospital_id!r}")
        if conn.execute(sa.select(handoffs.c.id).where(handoffs.c.id == ticket_id, self._handoff_scope(principal))).first() is None:
            raise AccessDeniedError(
                f"hand-off {ticket_id!r} was routed to another department; department "
                f"{principal.department_id!r} may not see or act on it"
            )
        return row

    def _handoff_sync(self, principal: Principal, ticket_id: str) -> HandoffTicket:
        def work(conn: sa.Connection) -> HandoffTicket:
            access.check_consultation(principal, "handoff_queue")
            return self._ticket(self._visible_handoff(conn, principal, ticket_id))

        return self._run(principal, Outcome("handoff_read", f"Handoff/{ticket_id}"), work)

    def _work_handoff_sync(self, principal: Principal, ticket_id: str, action: str, note: str) -> HandoffTicket:
        if action not in ("callback", "close"):
            raise ValueError(f"hand-off action {action!r} is unknown; use 'callback' or 'close'")

        def work(conn: sa.Connection) -> HandoffTicket:
            access.check_consultation(principal, "handoff_queue")
            row = self._visible_handoff(conn, principal, ticket_id)
            if row.status != "claimed" or row.claimed_by != principal.subject:
                raise AccessDeniedError(
                    f"hand-off {ticket_id!r} is {row.status} by {row.claimed_by!r}; only its claimant may "
                    f"{'record a call-back on' if action == 'callback' else 'close'} it"
                )
            binding = self._handoff_binding(row.id, row.hospital_id)
            detail = json.loads(self.codec.open(row.key_id, row.detail_blob, binding))
            now = now_utc()
            detail.setdefault("history", []).append(
                {"at": now.isoformat(), "by": principal.subject, "action": action, "note": note}
            )
            key_id, blob = self.codec.seal(json.dumps(detail, ensure_ascii=False, default=str).encode(), binding)
            conn.execute(
                handoffs.update()
                .where(handoffs.c.id == ticket_id)
                .values(
                    key_id=key_id,
                    detail_blob=blob,
                    updated_at=now,
                    status="closed" if action == "close" else row.status,
                )
            )
            return self._ticket(conn.execute(sa.select(handoffs).where(handoffs.c.id == ticket_id)).one())

        return self._run(principal, Outcome(f"handoff_{action}", f"Handoff/{ticket_id}"), work)

    def _handoff_queue_sync(self, principal: Principal, status: str) -> list[HandoffTicket]:
        def work(conn: sa.Connection) -> list[HandoffTicket]:
            access.check_consultation(principal, "handoff_queue")
            rows = conn.execute(
                sa.select(handoffs)
                .where(self._handoff_scope(principal), handoffs.c.status == status)
                .order_by(sa.func.coalesce(handoffs.c.level, 99), handoffs.c.created_at)
                .limit(200)
            ).all()
            return [self._ticket(row) for row in rows]

        return self._run(principal, Outcome("handoff_queue", f"Handoff?status={status}"), work)

    def _claim_handoff_sync(self, principal: Principal, ticket_id: str) -> HandoffTicket:
        def work(conn: sa.Connection) -> HandoffTicket:
            access.check_consultation(principal, "handoff_queue")
            exists = conn.execute(
                sa.select(handoffs.c.id).where(
                    handoffs.c.id == ticket_id, handoffs.c.hospital_id == principal.hospital_id
                )
            ).first()
            if exists is not None:
                self._visible_handoff(conn, principal, ticket_id)
            claimed = conn.execute(
                handoffs.update()
                .where(
                    handoffs.c.id == ticket_id,
                    self._handoff_scope(principal),
                    handoffs.c.status == "queued",
                )
                .values(status="claimed", claimed_by=principal.subject, updated_at=now_utc())
            )
            if claimed.rowcount != 1:
                raise NotFoundError(
                    f"hand-off {ticket_id!r} is not queued in hospital {principal.hospital_id!r}"
                )
            return self._ticket(conn.execute(sa.select(handoffs).where(handoffs.c.id == ticket_id)).one())

        return self._run(principal, Outcome("handoff_claim", f"Handoff/{ticket_id}"), work)
