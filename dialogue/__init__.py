"""Dialogue: flow engine, flows, safety rules, LLM plug-in.

The pipeline builds one :class:`Dialogue` per call with :func:`create_dialogue`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backends.interfaces import ConsultationBackend, Principal
from dialogue.base import Dialogue, Reply
from dialogue.errors import UnknownFlowError

if TYPE_CHECKING:
    from dialogue.llm import LLMPlugin

FLOWS: tuple[str, ...] = ("triage",)
"""Flows this package can build now (follow-up and dictation arrive with their own issue)."""

__all__ = ["FLOWS", "Dialogue", "Reply", "UnknownFlowError", "create_dialogue"]


def create_dialogue(
    flow: str,
    *,
    consultation: ConsultationBackend | None = None,
    principal: Principal | None = None,
    llm: LLMPlugin | None = None,
    hospital_id: str = "demo",
    call_id: str = "call",
    patient_id: str | None = None,
) -> Dialogue:
    """Build the dialogue for one call.

    Args:
        flow: One of :data:`FLOWS`.
        consultation: Booking / hand-off backend (``None`` = advice only).
        principal: Identity for backend calls (default: the voice-agent service of ``hospital_id``).
        llm: Optional LLM plug-in (``dialogue.llm.LLMPlugin``); ``None`` = rules only.
        hospital_id: Selects the hospital's department catalogue.
        call_id: Identifies the call in hand-offs; seeds the prompt variety.
        patient_id: The caller's Patient id if known (enables direct booking; else a human books).

    Raises:
        UnknownFlowError: ``flow`` is not in :data:`FLOWS`.
    """
    if flow == "triage":
        from dialogue.triage.flow import TriageDialogue

        return TriageDialogue(consultation=consultation, principal=principal, hospital_id=hospital_id,
                              call_id=call_id, patient_id=patient_id, llm=llm)
    raise UnknownFlowError(flow, FLOWS)
