"""The embedded store: FHIR records and consultation on SQLAlchemy, encrypted and audited.

:class:`EmbeddedStore` implements :class:`backends.interfaces.RecordsBackend` and
:class:`ConsultationBackend`. The blocking operations live in ``records.py`` and ``consultation.py``
on the shared plumbing of ``core.py``; here each becomes a coroutine run on a worker thread
(``asyncio.to_thread``), plus key rotation and audit verification.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from backends.crypto import Sm4GcmCodec
from backends.embedded.audit import ChainReport, verify_chain
from backends.embedded.consultation import ConsultationOperations
from backends.embedded.core import Outcome
from backends.embedded.records import RecordsOperations
from backends.embedded.schema import handoffs, resources
from backends.embedded.sealed import reseal
from backends.interfaces import HandoffRequest, HandoffTicket, NotFoundError, Principal, Slot


class EmbeddedStore(RecordsOperations, ConsultationOperations):
    """Records + consultation store. Build it with :func:`backends.embedded.open_store`."""

    # ------------------------------------------------------------------ keys and audit

    def rotate_key(self) -> str:
        """Make a new SM4 data key active (persisted to the key file); returns its id.

        Existing rows stay readable under their old key ids; :meth:`reencrypt` moves them over.
        (``medvoice keys rotate`` does both in one transaction: ``backends.embedded.sealed``.)
        """
        self.ring = self.ring.rotated()
        if self.key_file is not None:
            self.ring.save(self.key_file)
        if isinstance(self.codec, Sm4GcmCodec):
            self.codec.ring = self.ring  # keeps its key-file reload
        else:
            self.codec = Sm4GcmCodec(self.ring)
        return self.ring.active_key_id

    def _reencrypt_sync(self, batch: int) -> int:
        with self._transaction() as conn:
            return sum(reseal(conn, self.codec, self.ring.active_key_id, batch=batch).values())

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

    async def update(
        self, principal: Principal, resource: dict[str, Any], *, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Write a new version; with ``expected_version`` the write is refused
        (``VersionConflictError``) if someone saved another version since."""
        return await asyncio.to_thread(self._update_sync, principal, resource, expected_version)

    async def list_recent(
        self,
        principal: Principal,
        resource_type: str,
        limit: int = 100,
        offset: int = 0,
        since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The most recently updated resources of a type in the principal's scope (updated since
        ``since``), newest first."""
        return await asyncio.to_thread(self._list_recent_sync, principal, resource_type, limit, offset, since)

    async def record_access(self, principal: Principal, action: str, target: str, outcome: str = "success") -> None:
        """Chain an audit entry for an access that happened outside the store (a console page view,
        a refused request); ``target`` names ids only, never patient text."""
        await asyncio.to_thread(self._audit_alone, principal, Outcome(action, target), outcome)

    async def changes(self, hospital_id: str, resource_types: tuple[str, ...] = ("Encounter",)) -> str:
        """An opaque marker that changes whenever a hand-off or a resource of ``resource_types`` of the
        hospital is written (counts and latest times only: nothing personal, nothing audited)."""
        return await asyncio.to_thread(self._changes_sync, hospital_id, resource_types)

    def _changes_sync(self, hospital_id: str, resource_types: tuple[str, ...]) -> str:
        with self.engine.connect() as conn:
            handoff = conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.max(handoffs.c.created_at),
                    sa.func.max(handoffs.c.updated_at),
                ).where(handoffs.c.hospital_id == hospital_id)
            ).one()
            resource = conn.execute(
                sa.select(sa.func.count(), sa.func.max(resources.c.last_updated)).where(
                    resources.c.hospital_id == hospital_id, resources.c.resource_type.in_(resource_types)
                )
            ).one()
        return "|".join(str(v) for v in (*handoff, *resource))

    async def departments(self, hospital_id: str) -> list[str]:
        return await asyncio.to_thread(self._departments_sync, hospital_id)

    async def department_id(self, hospital_id: str, department: str) -> str | None:
        """The id of a department named (or id'd) ``department`` in the hospital, or None."""

        def lookup() -> str | None:
            with self._transaction() as conn:
                try:
                    return self._department_id(conn, hospital_id, department)
                except NotFoundError:
                    return None

        return await asyncio.to_thread(lookup)

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

    async def handoff(self, principal: Principal, ticket_id: str) -> HandoffTicket:
        """One ticket the principal's department may see (``AccessDeniedError`` otherwise)."""
        return await asyncio.to_thread(self._handoff_sync, principal, ticket_id)

    async def work_handoff(self, principal: Principal, ticket_id: str, action: str, note: str) -> HandoffTicket:
        """The claimant records a call-back attempt (``callback``) or closes the ticket with an outcome
        (``close``)."""
        return await asyncio.to_thread(self._work_handoff_sync, principal, ticket_id, action, note)

    async def reencrypt(self, batch: int = 500) -> int:
        """Re-seal every sealed value not under the active key, in one transaction; returns how many moved."""
        return await asyncio.to_thread(self._reencrypt_sync, batch)

    async def verify_audit(self) -> ChainReport:
        return await asyncio.to_thread(self.verify_audit_sync)
