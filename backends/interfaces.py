"""Interfaces the flows use to reach records and consultation systems.

A flow depends only on these Protocols, so a hospital can plug in its HIS. The embedded store
(``backends.embedded``) implements both. All methods are async; implementations run blocking
database work off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")
"""The clinics' local time: slots are spoken, patients are called and "today" is reckoned in it."""


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user or a service identity, with a role on one of three levels.

    Parameters:
        subject: User id or service name (e.g. ``"voice-agent"``).
        role: ``"hospital_admin"``, ``"department"``, ``"doctor"`` or ``"service"``.
        hospital_id: The hospital the principal belongs to (no cross-hospital access, ever).
        department_id: For department and doctor roles.
        purpose: Why the access happens (written to the audit log).
    """

    subject: str
    role: str
    hospital_id: str
    department_id: str | None = None
    purpose: str = "treatment"


@dataclass(frozen=True)
class Slot:
    """A bookable appointment slot."""

    slot_id: str
    department: str
    doctor: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class HandoffRequest:
    """A warm-transfer request to a human, carrying what they need to pick up the call."""

    call_id: str
    flow: str
    summary: str
    level: int | None = None
    red_flags: tuple[str, ...] = ()
    patient_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ConsultationBackend(Protocol):
    """Departments, slots, bookings and the human hand-off queue."""

    async def departments(self, hospital_id: str) -> list[str]: ...

    async def find_slots(self, hospital_id: str, department: str, limit: int = 3) -> list[Slot]: ...

    async def book(self, principal: Principal, slot_id: str, patient_id: str) -> str:
        """Book a slot; returns the Appointment id. Raises if the slot is taken."""
        ...

    async def cancel(self, principal: Principal, appointment_id: str) -> None: ...

    async def request_handoff(self, principal: Principal, request: HandoffRequest) -> str:
        """Queue a warm transfer; returns the queue entry id."""
        ...


class RecordsBackend(Protocol):
    """FHIR R4 resources as JSON dicts (validated by the backend)."""

    async def create(self, principal: Principal, resource: dict[str, Any]) -> dict[str, Any]: ...

    async def read(self, principal: Principal, resource_type: str, resource_id: str) -> dict[str, Any]: ...

    async def search(
        self, principal: Principal, resource_type: str, params: dict[str, str]
    ) -> list[dict[str, Any]]: ...

    async def update(self, principal: Principal, resource: dict[str, Any]) -> dict[str, Any]: ...


ROLES = ("hospital_admin", "department", "doctor", "service")
"""The three human levels (hospital, department, doctor) plus the voice agent's service identity."""


class BackendError(Exception):
    """Base of every error a records or consultation backend raises.

    Hierarchy::

        BackendError
        ├── NotFoundError          the resource, slot or appointment does not exist (for this hospital)
        ├── AccessDeniedError      the principal's role does not allow the action
        ├── InvalidResourceError   the FHIR JSON failed validation (``issues`` name the fields)
        ├── SlotUnavailableError   the slot is already booked or does not exist
        ├── VersionConflictError   someone saved a newer version since the caller read it
        └── TamperedDataError      a ciphertext or audit entry failed its integrity check

    Attributes:
        retryable: Whether the same call may succeed if repeated unchanged.
    """

    retryable: bool = False


class NotFoundError(BackendError):
    """The requested item does not exist, or exists only in another hospital."""


class AccessDeniedError(BackendError):
    """The principal may not perform this action on this item."""


@dataclass(frozen=True)
class ResourceIssue:
    """One validation problem: a FHIRPath-like location (``Patient.name[0].family``) and a message."""

    expression: str
    message: str


class InvalidResourceError(BackendError):
    """A FHIR resource failed validation; ``issues`` lists every field at fault."""

    def __init__(self, message: str, issues: tuple[ResourceIssue, ...] = ()) -> None:
        super().__init__(message)
        self.issues = issues


class SlotUnavailableError(BackendError):
    """The slot was booked by someone else (or never existed); offer another slot."""


class VersionConflictError(BackendError):
    """An update named the version it was based on, and the stored resource has moved past it: read
    the current version and apply the change again (nothing was written)."""


class TamperedDataError(BackendError):
    """Stored data failed its SM4-GCM tag or SM3 chain check: it was modified outside the store."""


@dataclass(frozen=True)
class HandoffTicket:
    """A queued warm-transfer request as staff see it (decrypted), with its queue state."""

    ticket_id: str
    request: HandoffRequest
    status: str
    created_at: datetime
    claimed_by: str | None = None
    department_id: str | None = None
    history: tuple[dict[str, Any], ...] = ()
    """What staff did with the ticket, oldest first: ``{"at", "by", "action", "note"}`` (callback, close)."""
