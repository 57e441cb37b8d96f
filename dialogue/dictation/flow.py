"""Doctor dictation on the flow engine: one open state; each utterance is dictation text, commands, or both.

The note is saved as a FHIR Composition (``composition``) by the doctor's own principal (role
``doctor``: the store enforces that only the author amends it and keeps the audit trail).

Red flags: the engine runs the red-flag rules on every dictated utterance, as in every flow. The speaker
is a doctor describing a patient, not a caller at risk, so the rule here is: a red flag is **recorded,
never acted on** — it goes into the reply's ``meta["red_flags"]`` and into the saved Composition as a
``dictation-red-flag`` extension for the doctor's review; no crisis script, no 120 instruction, no
hand-off, and the dictation goes on uninterrupted.
"""

from __future__ import annotations

import html
import json
import logging
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from backends.interfaces import Principal, RecordsBackend
from dialogue.dictation.commands import Command, split_commands
from dialogue.dictation.note import Note
from dialogue.dictation.review import ReviewMark, review_marks
from dialogue.engine import FlowDialogue, FlowSpec, StateSpec, Turn
from dialogue.phrasebook import Phrasebook
from dialogue.safety import RedFlagHit
from dialogue.safety_floor import SafetyFloor

logger = logging.getLogger("dialogue")
LOINC = "http://loinc.org"
NOTE_TYPE = {"system": LOINC, "code": "11488-4", "display": "Consult note"}


class DictationDialogue(FlowDialogue):
    """One dictation session.

    Args:
        records: Where the note is saved (``None``: 保存病历 only reads back that nothing can be saved).
        principal: The dictating doctor (role ``doctor``, required with ``records``); the Composition's author.
        patient_id: The Patient the note is about (required with ``records``).
        encounter_id: The visit the note belongs to (optional).
        status: Composition status on save; ``preliminary`` keeps the AI-organised note a draft until the
            doctor signs it in the EMR (互联网诊疗监管细则).
        call_id: Seeds prompt variety.
        safety: The red-flag floor (default: the packaged rules); its findings are recorded, not acted on.
    """

    def __init__(
        self,
        *,
        records: RecordsBackend | None = None,
        principal: Principal | None = None,
        patient_id: str | None = None,
        encounter_id: str | None = None,
        status: str = "preliminary",
        call_id: str = "dictation",
        safety: SafetyFloor | None = None,
    ) -> None:
        if records is not None and (principal is None or principal.role != "doctor" or not patient_id):
            raise ValueError(
                "dictation saves a note authored by the doctor: pass principal with role 'doctor' and patient_id; "
                f"got role={getattr(principal, 'role', None)!r}, patient_id={patient_id!r}"
            )
        spec = FlowSpec("dictation", "dictate", {
            "dictate": StateSpec("dictate", None, (), ("dictate", "done")),
            "done": StateSpec("done", None, (), ("done",)),
        })
        super().__init__(spec, Phrasebook({**_prompts("common"), **_prompts("dictation")}, seed=call_id),
                         safety=safety, seed=call_id)
        self.records, self.principal = records, principal
        self.patient_id, self.encounter_id, self.status = patient_id, encounter_id, status
        self.note = Note()
        self.composition_id: str | None = None
        self.review: list[ReviewMark] = []
        """Words of the note the doctor must check (unsure or corrected; see ``review``)."""
        self.transcript: list[str] = []
        """What the doctor said, utterance by utterance (saved with the note for review)."""

    def opening(self) -> Turn:
        return Turn([self.phrases.say("greeting")], "dictate")

    def reask(self) -> str | None:
        return None

    def meta(self) -> dict[str, Any]:
        return {"state": self.state, "sections": self.note.sections(), "warnings": self.note.warnings(),
                "current_section": self.note.cursor.section, "composition": self.composition_id,
                "red_flags": [hit.code for hit in self.hits], "review": [m.describe() for m in self.open_review()]}

    def open_review(self) -> list[ReviewMark]:
        """The review marks whose words are still in the note (a deleted sentence takes its marks)."""
        whole = "".join(self.note.sections().values())
        return [mark for mark in self.review if mark.text in whole]

    speaker_is_clinician = True

    async def on_red_flag(self, new: list[RedFlagHit]) -> None:
        """Recorded for the doctor's review (see the module docstring); the utterance is dictated as usual."""
        return None

    async def on_dictate(self, text: str) -> Turn:
        say: list[str] = []
        self.transcript.append(text)
        self.review += review_marks(self.confidence)
        for piece in split_commands(text, self.note.rules):
            if isinstance(piece, str):
                self.note.dictate(piece)
                continue
            reply, end = await self._run(piece)
            say.append(reply)
            if end:
                return Turn(say, "done", end_call=True)
        return Turn(say, "dictate")

    async def on_done(self, text: str) -> Turn:
        return Turn([], "done", end_call=True)

    async def _run(self, command: Command) -> tuple[str, bool]:
        if command.name == "delete_last":
            return self.phrases.say("deleted" if self.note.delete_last() else "nothing_to_delete"), False
        if command.name == "undo":
            return self.phrases.say("undone" if self.note.undo() else "nothing_to_undo"), False
        if command.name == "replace" and command.section and command.text:
            self.note.replace_section(command.section, command.text)
            return self.phrases.say("replaced", section=command.section), False
        if command.name == "next_section":
            section = self.note.next_section()
            return (self.phrases.say("next_section", section=section) if section
                    else self.phrases.say("last_section")), False
        if command.name == "read":
            section = command.section or self.note.cursor.section or "现病史"
            text = self.note.sections().get(section)
            key = "read_section" if text else "empty_section"
            return self.phrases.say(key, section=section, text=text or ""), False
        if command.name == "save":
            return await self._save()
        return self.phrases.say("ok"), False

    async def _save(self) -> tuple[str, bool]:
        warnings = [self.phrases.say("no_sections_warning")] if self.note.sentences and not self.note.recognised else []
        if self.records is None or self.principal is None or self.patient_id is None:
            return "".join([*warnings, self.phrases.say("save_failed")]), False
        resource = composition(self.note, self.patient_id, self.principal, self.encounter_id, self.status,
                               red_flags=self.hits, review=self.open_review(), transcript=self.transcript)
        try:
            saved = await (self.records.update(self.principal, {**resource, "id": self.composition_id})
                           if self.composition_id else self.records.create(self.principal, resource))
        except Exception as error:  # keep the note; the doctor can say 保存病历 again
            logger.warning("saving dictated note failed: %s", type(error).__name__)
            return self.phrases.say("save_failed"), False
        self.composition_id = saved["id"]
        return "".join([*warnings, self.phrases.say("saved")]), True


TRANSCRIPT_EXTENSION = "https://medvoice.local/fhir/StructureDefinition/dictation-transcript"


def composition(note: Note, patient_id: str, doctor: Principal, encounter_id: str | None,
                status: str = "preliminary", red_flags: list[RedFlagHit] | None = None,
                review: list[ReviewMark] | None = None, transcript: list[str] | None = None) -> dict[str, Any]:
    """The note as a FHIR R4 Composition (one section per non-empty record section, LOINC-coded); red
    flags heard in the dictation, the words to check (``dictation-review``) and what was said
    (``dictation-transcript``, one per utterance) ride along as extensions for the doctor's review."""
    sections = note.sections()
    resource: dict[str, Any] = {
        "resourceType": "Composition",
        "status": status,
        "type": {"coding": [NOTE_TYPE], "text": "门诊病历"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "date": datetime.now(UTC).isoformat(),
        "author": [{"reference": f"Practitioner/{doctor.subject}", "display": doctor.subject}],
        "title": "门诊病历",
        "section": [
            {"title": name, "code": {"coding": [{"system": LOINC, "code": note.rules.codes[name]}], "text": name},
             "text": {"status": "generated",
                      "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{html.escape(text)}</div>'}}
            for name, text in sections.items()
        ],
    }
    extensions = [{"url": "https://medvoice.local/fhir/StructureDefinition/dictation-warning", "valueString": w}
                  for w in note.warnings()]
    extensions += [{"url": "https://medvoice.local/fhir/StructureDefinition/dictation-red-flag",
                    "valueString": f"{hit.name}（{hit.code}）：{hit.evidence}"} for hit in red_flags or []]
    extensions += [{"url": "https://medvoice.local/fhir/StructureDefinition/dictation-review",
                    "valueString": mark.describe()} for mark in review or []]
    extensions += [{"url": TRANSCRIPT_EXTENSION, "valueString": line} for line in transcript or [] if line.strip()]
    if extensions:
        resource["extension"] = extensions
    if encounter_id:
        resource["encounter"] = {"reference": f"Encounter/{encounter_id}"}
    return resource


@cache
def _prompts(name: str) -> dict[str, list[str]]:
    package = "dialogue.data.prompts" if name == "common" else "dialogue.dictation.data"
    filename = f"{name}.json" if name == "common" else "prompts.json"
    data = json.loads(resources.files(package).joinpath(filename).read_text("utf-8"))
    return {key: value for key, value in data.items() if not key.startswith("_")}
