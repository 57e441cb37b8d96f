"""The embedded store: FHIR records and consultation on SQLAlchemy, encrypted and audited.

:class:`EmbeddedStore` implements :class:`backends.interfaces.RecordsBackend` and
:class:`ConsultationBackend`. The blocking operations live in ``records.py`` and ``consultation.py``
on the shared plumbing of ``core.py``; here each becomes a coroutine run on a worker thread
(``asyncio.to_thread``), plus key rotation and audit verification.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from backends.crypto import Sm4GcmCodec
from backends.embedded.audit import ChainReport, verify_chain
from backends.embedded.consultation import ConsultationOperations
from backends.embedded.records import RecordsOperations
from backends.embedded.schema import handoffs, resources
from backends.interfaces import HandoffRequest, HandoffTicket, Principal, Slot


class EmbeddedStore(RecordsOperations, ConsultationOperations):
    """Records + consultation store. Build it with :func:`backends.embedded.open_store`."""

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
