"""Dialogue: flow engine, flows, safety rules, LLM plug-in.

The pipeline builds one :class:`Dialogue` per call with :func:`create_dialogue`. The LLM names
(``LLMPlugin``, ``LLMSettings``) load lazily so that importing the flows does not import the HTTP client.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from backends.interfaces import ConsultationBackend, Principal, RecordsBackend
from dialogue.base import Dialogue, Reply
from dialogue.errors import UnknownFlowError
from dialogue.followup.program import PROGRAMS, Program
from dialogue.followup.records import followup_extension
from dialogue.safety_floor import SafetyFloor

if TYPE_CHECKING:
    from dialogue.detector import LearnedRedFlagDetector
    from dialogue.triage.llm import LLMPlugin

FLOWS: tuple[str, ...] = ("triage", "followup", "dictation")
"""Flows this package can build."""

_LAZY = {"LLMPlugin": "dialogue.triage.llm", "LLMSettings": "dialogue.llm",
         "LearnedRedFlagDetector": "dialogue.detector", "TriageCall": "dialogue.triage.records",
         "triage_encounter": "dialogue.triage.records"}

__all__ = [
    "FLOWS",
    "PROGRAMS",
    "Dialogue",
    "LLMPlugin",
    "LLMSettings",
    "LearnedRedFlagDetector",
    "Program",
    "Reply",
    "SafetyFloor",
    "TriageCall",
    "UnknownFlowError",
    "create_dialogue",
    "followup_extension",
    "triage_encounter",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dialogue' has no attribute {name!r}")


def create_dialogue(
    flow: str,
    *,
    consultation: ConsultationBackend | None = None,
    principal: Principal | None = None,
    llm: LLMPlugin | None = None,
    hospital_id: str = "demo",
    call_id: str = "call",
    patient_id: str | None = None,
    records: RecordsBackend | None = None,
    program: str | None = None,
    encounter_id: str | None = None,
    safety: SafetyFloor | None = None,
) -> Dialogue:
    """Build the dialogue for one call.

    Args:
        flow: One of :data:`FLOWS`.
        consultation: Booking / hand-off backend (``None`` = advice only).
        principal: Identity for backend calls (default: the voice-agent service of ``hospital_id``).
        llm: Optional LLM plug-in (:class:`LLMPlugin`, used by triage); ``None`` = rules only.
        hospital_id: Selects the hospital's department catalogue.
        call_id: Identifies the call in hand-offs; seeds the prompt variety.
        patient_id: The caller's Patient id if known (enables direct booking; else a human books).
            Follow-up: the patient called; dictation: the patient the note is about.
        records: Records backend (follow-up results and cross-call state; the dictated note).
        program: Follow-up programme, one of :data:`PROGRAMS` (required for ``followup``).
        encounter_id: Dictation: the visit the note belongs to.
        safety: The red-flag floor every utterance goes through (default: the packaged rules alone); the
            service passes one built once, with the learned detector when it is switched on.

    Raises:
        UnknownFlowError: ``flow`` is not in :data:`FLOWS`.
    """
    if flow == "triage":
        from dialogue.triage.flow import TriageDialogue

        return TriageDialogue(consultation=consultation, principal=principal, hospital_id=hospital_id,
                              call_id=call_id, patient_id=patient_id, llm=llm, safety=safety)
    if flow == "followup":
        from dialogue.followup.flow import FollowupDialogue

        if program is None:
            raise ValueError("the followup flow needs program='hypertension' or program='diabetes'")
        return FollowupDialogue(program=program, records=records, principal=principal, patient_id=patient_id,
                                consultation=consultation, call_id=call_id, safety=safety)
    if flow == "dictation":
        from dialogue.dictation.flow import DictationDialogue

        return DictationDialogue(records=records, principal=principal, patient_id=patient_id,
                                 encounter_id=encounter_id, call_id=call_id, safety=safety)
    raise UnknownFlowError(flow, FLOWS)
