"""Role-based access on three levels (hospital, department, doctor) plus the voice agent's service identity.

The rules, in order:

1. Nobody touches another hospital's data, whatever the role.
2. The role must allow the action on the resource type (:data:`PERMISSIONS`).
3. Department and doctor roles see a patient's data only when the patient is linked to their
   department (a booking, an encounter routed there, or registration there) or the row itself
   belongs to their department.
4. The service identity (voice agent) gets only what its flows need: register and find callers,
   write triage/follow-up results and *draft* notes, never read clinical history.
5. A doctor may amend only the notes (Composition) they wrote.
6. A signed note (Composition ``final``) is read-only: nobody edits it in place.

Every check either returns or raises :class:`AccessDeniedError` with the rule that failed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from backends.fhir import RESOURCE_TYPES
from backends.interfaces import ROLES, AccessDeniedError, Principal

ALL = frozenset(RESOURCE_TYPES)

PERMISSIONS: dict[str, dict[str, frozenset[str]]] = {
    "hospital_admin": {
        "read": ALL,
        "search": ALL,
        "create": frozenset({"Patient"}),
        "update": frozenset({"Patient"}),
    },
    "department": {
        "read": ALL,
        "search": ALL,
        "create": ALL - {"Composition"},
        "update": ALL - {"Composition"},
    },
    "doctor": {"read": ALL, "search": ALL, "create": ALL, "update": ALL},
    "service": {
        "read": frozenset({"Patient", "Appointment", "Encounter"}),
        "search": frozenset({"Patient", "Appointment"}),
        "create": frozenset(
            {"Patient", "Encounter", "Observation", "Flag", "QuestionnaireResponse", "Composition"}
        ),
        "update": frozenset({"Encounter", "Composition"}),
    },
}
"""Role -> action -> resource types it may act on (before the row-scope rules)."""

CONSULTATION_PERMISSIONS: dict[str, frozenset[str]] = {
    "hospital_admin": frozenset({"book", "cancel", "handoff", "handoff_queue"}),
    "department": frozenset({"book", "cancel", "handoff", "handoff_queue"}),
    "doctor": frozenset({"book", "cancel", "handoff", "handoff_queue"}),
    "service": frozenset({"book", "cancel", "handoff"}),
}
"""Role -> consultation actions. The voice agent queues hand-offs but does not work the queue."""

HOSPITAL_WIDE_ROLES = frozenset({"hospital_admin", "service"})
SERVICE_NOTE_STATUS = "preliminary"
SIGNED_NOTE_STATUS = "final"


@dataclass(frozen=True)
class RowScope:
    """Where a stored row belongs, for the scope rules.

    Parameters:
        hospital_id: Owning hospital.
        department_id: Department the row was written in (None = hospital level).
        patient_departments: Departments linked to the row's patient.
        author: Subject that created the row.
        status: The stored resource's ``status`` (for note rules).
    """

    hospital_id: str
    department_id: str | None
    patient_departments: Collection[str]
    author: str
    status: str | None = None


def check_principal(principal: Principal) -> None:
    """Reject malformed principals before any rule runs."""
    if principal.role not in ROLES:
        raise AccessDeniedError(f"role {principal.role!r} is unknown; expected one of {', '.join(ROLES)}")
    if principal.role in ("department", "doctor") and not principal.department_id:
        raise AccessDeniedError(
            f"role {principal.role!r} needs a department_id; {principal.subject!r} has none"
        )
    if not principal.hospital_id:
        raise AccessDeniedError(f"principal {principal.subject!r} has no hospital_id")


def check_type(principal: Principal, action: str, resource_type: str) -> None:
    """Rule 2: the role allows ``action`` on ``resource_type``."""
    check_principal(principal)
    allowed = PERMISSIONS[principal.role].get(action, frozenset())
    if resource_type not in allowed:
        raise AccessDeniedError(f"role {principal.role!r} may not {action} {resource_type} resources")


def check_hospital(principal: Principal, hospital_id: str) -> None:
    """Rule 1: same hospital only."""
    if principal.hospital_id != hospital_id:
        raise AccessDeniedError(
            f"{principal.subject!r} belongs to hospital {principal.hospital_id!r} and may not access "
            f"data of hospital {hospital_id!r}"
        )


def in_scope(principal: Principal, scope: RowScope) -> bool:
    """Rules 1 and 3 as a predicate (used to filter search results)."""
    if principal.hospital_id != scope.hospital_id:
        return False
    if principal.role in HOSPITAL_WIDE_ROLES:
        return True
    return (
        scope.department_id == principal.department_id or principal.department_id in scope.patient_departments
    )


def check_row(principal: Principal, action: str, resource_type: str, scope: RowScope) -> None:
    """Rules 1-5 for an existing row."""
    check_type(principal, action, resource_type)
    check_hospital(principal, scope.hospital_id)
    if not in_scope(principal, scope):
        raise AccessDeniedError(
            f"department {principal.department_id!r} has no care relationship with this {resource_type}; "
            "only departments linked to the patient may access it"
        )
    if action == "update" and resource_type == "Composition":
        if principal.role == "doctor" and scope.author != principal.subject:
            raise AccessDeniedError(
                f"doctor {principal.subject!r} may amend only their own notes; this one is by {scope.author!r}"
            )
        if principal.role == "service" and scope.status != SERVICE_NOTE_STATUS:
            raise AccessDeniedError(
                f"the service identity may edit only draft notes (status {SERVICE_NOTE_STATUS!r}), "
                f"this one is {scope.status!r}"
            )
        if scope.status == SIGNED_NOTE_STATUS:
            raise AccessDeniedError("this note is signed (status 'final') and read-only; it cannot be edited")


def check_new_status(principal: Principal, resource_type: str, status: str | None) -> None:
    """Rule 4: the voice agent writes notes only as drafts; a doctor attests them."""
    if principal.role == "service" and resource_type == "Composition" and status != SERVICE_NOTE_STATUS:
        raise AccessDeniedError(
            f"the service identity may save notes only with status {SERVICE_NOTE_STATUS!r}, not {status!r}; "
            "a doctor makes them final"
        )


def check_consultation(principal: Principal, action: str) -> None:
    check_principal(principal)
    if action not in CONSULTATION_PERMISSIONS[principal.role]:
        raise AccessDeniedError(f"role {principal.role!r} may not {action.replace('_', ' ')}")
