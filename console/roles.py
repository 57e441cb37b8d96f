"""Console roles (nurse, doctor, care-team lead): which records principal each acts as, and what each may do.

The records' three-level access control (``backends.access``) decides what a person may see and change;
the console role only narrows it further (a nurse's console shows no note editor), never widens it.
"""

from __future__ import annotations

from dataclasses import dataclass

from backends import Principal

CONSOLE_ROLES = ("nurse", "doctor", "lead")

PRINCIPAL_ROLE = {"nurse": "department", "doctor": "doctor", "lead": "department"}
"""Console role -> records role (``backends.access.PERMISSIONS``)."""

ROLE_NAMES = {"nurse": "护士", "doctor": "医生", "lead": "随访组长"}

CAPABILITIES: dict[str, frozenset[str]] = {
    "nurse": frozenset({"queue", "work_handoffs", "followup"}),
    "doctor": frozenset({"queue", "work_handoffs", "notes", "sign_notes", "followup"}),
    "lead": frozenset({"queue", "followup", "act_on_alerts", "notes"}),
}
"""What each console role may do: ``queue`` see the triage queue; ``work_handoffs`` claim, call back and
close hand-offs; ``notes`` read dictated notes; ``sign_notes`` edit, sign and return their own notes;
``followup`` see campaigns, alerts and trends; ``act_on_alerts`` record the action taken on an alert."""


@dataclass(frozen=True)
class StaffUser:
    """A signed-in member of staff.

    Parameters:
        id: Stable id; the records' subject (a doctor's id is the author of their notes).
        hospital_id: The hospital (never crossed).
        department_id: Their department.
        username: What they type to sign in.
        display_name: Shown in the console.
        role: ``nurse``, ``doctor`` or ``lead``.
    """

    id: str
    hospital_id: str
    department_id: str
    username: str
    display_name: str
    role: str

    def __post_init__(self) -> None:
        if self.role not in CONSOLE_ROLES:
            raise ValueError(f"console role {self.role!r} is unknown; use one of {', '.join(CONSOLE_ROLES)}")

    @property
    def principal(self) -> Principal:
        """Who the records see: this user, in their department, for treatment."""
        return Principal(self.id, PRINCIPAL_ROLE[self.role], self.hospital_id, self.department_id, "treatment")

    def can(self, capability: str) -> bool:
        return capability in CAPABILITIES[self.role]

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]
