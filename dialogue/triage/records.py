"""A triage call in the records: one FHIR Encounter (class VR) written by the voice agent as the call
goes, read back by the staff console (``TriageCall.of``).

The call id is the Encounter's identifier; level, red flags and the caller's and agent's words ride as
extensions; the department the call was routed to is ``serviceType`` (and the store's department tag,
which is what access control scopes on).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

EXT = "https://medvoice.local/fhir/StructureDefinition/triage-"
CALL_ID_SYSTEM = "https://medvoice.local/fhir/triage-call"
MAX_LINE_CHARS = 2000
"""A single utterance longer than this is cut (a 10-minute monologue stays readable and bounded)."""

__all__ = ["CALL_ID_SYSTEM", "TriageCall", "is_triage_call", "triage_encounter"]


def triage_encounter(
    call_id: str,
    started: datetime,
    *,
    level: int | None,
    department: str | None,
    reason: str | None,
    red_flags: list[str],
    transcript: list[tuple[str, str]],
    handoff: str | None = None,
    ended: datetime | None = None,
) -> dict[str, Any]:
    """The call so far as an Encounter (``in-progress`` until ``ended``).

    Args:
        transcript: (role, text) lines, role ``caller`` or ``agent``, in order.
    """
    extensions: list[dict[str, Any]] = []
    if level is not None:
        extensions.append({"url": EXT + "level", "valueInteger": int(level)})
    extensions += [{"url": EXT + "red-flag", "valueCode": code} for code in red_flags]
    extensions += [
        {
            "url": EXT + "utterance",
            "extension": [
                {"url": "role", "valueCode": role},
                {"url": "text", "valueString": text[:MAX_LINE_CHARS]},
            ],
        }
        for role, text in transcript
        if text.strip()
    ]
    if handoff:
        extensions.append({"url": EXT + "handoff", "valueString": handoff})
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": "finished" if ended else "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR", "display": "virtual"},
        "identifier": [{"system": CALL_ID_SYSTEM, "value": call_id}],
        "type": [{"text": "分诊热线"}],
        "period": {"start": started.isoformat(), **({"end": ended.isoformat()} if ended else {})},
    }
    if department:
        resource["serviceType"] = {"text": department}
    if reason:
        resource["reasonCode"] = [{"text": reason}]
    if extensions:
        resource["extension"] = extensions
    return resource


def is_triage_call(resource: dict[str, Any]) -> bool:
    return resource.get("resourceType") == "Encounter" and any(
        i.get("system") == CALL_ID_SYSTEM for i in resource.get("identifier", [])
    )


@dataclass(frozen=True)
class TriageCall:
    """A triage call as staff see it (read back from its Encounter).

    Parameters:
        encounter_id: The Encounter's id (what the console links to).
        live: The call is still going.
        transcript: (role, text) lines in order.
    """

    encounter_id: str
    call_id: str
    live: bool
    started: datetime
    ended: datetime | None
    level: int | None
    department: str | None
    reason: str | None
    red_flags: tuple[str, ...]
    transcript: tuple[tuple[str, str], ...]
    handoff: str | None

    @classmethod
    def of(cls, resource: dict[str, Any]) -> TriageCall:
        level: int | None = None
        flags: list[str] = []
        lines: list[tuple[str, str]] = []
        handoff = None
        for extension in resource.get("extension", []):
            url = extension.get("url", "")
            if url == EXT + "level":
                level = int(extension["valueInteger"])
            elif url == EXT + "red-flag":
                flags.append(str(extension["valueCode"]))
            elif url == EXT + "handoff":
                handoff = str(extension["valueString"])
            elif url == EXT + "utterance":
                parts = {e.get("url"): e for e in extension.get("extension", [])}
                lines.append((str(parts["role"]["valueCode"]), str(parts["text"]["valueString"])))
        period = resource.get("period", {})
        call_id = next(i["value"] for i in resource.get("identifier", []) if i.get("system") == CALL_ID_SYSTEM)
        reasons = resource.get("reasonCode") or [{}]
        return cls(
            encounter_id=str(resource["id"]),
            call_id=str(call_id),
            live=resource.get("status") == "in-progress",
            started=datetime.fromisoformat(period["start"]),
            ended=datetime.fromisoformat(period["end"]) if period.get("end") else None,
            level=level,
            department=(resource.get("serviceType") or {}).get("text"),
            reason=reasons[0].get("text"),
            red_flags=tuple(flags),
            transcript=tuple(lines),
            handoff=handoff,
        )

    def last(self, role: str) -> str:
        """The last line said by ``role`` (``caller`` or ``agent``), or ''."""
        return next((text for who, text in reversed(self.transcript) if who == role), "")
