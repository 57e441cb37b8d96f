"""Dictated notes to review: the 8 sections beside what the doctor said (words the recogniser was unsure
of or term correction wrote are marked), edit a section, sign (the Composition becomes ``final``,
attested by the doctor) or return the draft; a signed note is read-only and keeps its history.

Every save names the version it was based on: a second editor's save is refused (409) with their text
kept on the page, nothing overwritten.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape

from backends import VersionConflictError
from console.roles import StaffUser
from console.web import Console, Refused, checked_id
from dialogue.dictation.flow import TRANSCRIPT_EXTENSION
from dialogue.dictation.sections import SectionRules

SD = "https://medvoice.local/fhir/StructureDefinition/"
REVIEW_EXTENSION = SD + "dictation-review"
EDIT_EXTENSION = SD + "console-edit"
RETURN_EXTENSION = SD + "console-returned"
MAX_SECTION_CHARS = 5000
_MARKED = re.compile(r"“(?P<text>[^”]+)”（(?P<why>[^）]+)）")
_DIV = re.compile(r"^<div[^>]*>(?P<body>.*)</div>$", re.S)


@dataclass(frozen=True)
class NoteView:
    """A dictated note as the review page shows it."""

    id: str
    version: int
    status: str
    author: str
    patient_id: str
    date: str
    sections: dict[str, str]
    transcript: tuple[str, ...]
    marks: tuple[tuple[str, str], ...]
    history: tuple[dict[str, str], ...]
    returned: str | None
    attester: str | None

    @property
    def signed(self) -> bool:
        return self.status == "final"

    @classmethod
    def of(cls, resource: dict[str, Any]) -> NoteView:
        sections = {}
        for section in resource.get("section", []):
            match = _DIV.match((section.get("text") or {}).get("div", ""))
            sections[section.get("title", "")] = html.unescape(match.group("body")) if match else ""
        transcript, marks, history, returned = [], [], [], None
        for ext in resource.get("extension", []):
            url = ext.get("url")
            if url == TRANSCRIPT_EXTENSION:
                transcript.append(str(ext.get("valueString", "")))
            elif url == REVIEW_EXTENSION and (found := _MARKED.search(str(ext.get("valueString", "")))):
                marks.append((found.group("text"), found.group("why")))
            elif url == EDIT_EXTENSION:
                history.append({e["url"]: next(v for k, v in e.items() if k.startswith("value"))
                                for e in ext.get("extension", [])})
            elif url == RETURN_EXTENSION:
                returned = str(ext.get("valueString", ""))
        attesters = resource.get("attester") or []
        author = (resource.get("author") or [{}])[0].get("reference", "").removeprefix("Practitioner/")
        return cls(
            id=str(resource["id"]),
            version=int(resource.get("meta", {}).get("versionId", "1")),
            status=str(resource.get("status")),
            author=author,
            patient_id=str((resource.get("subject") or {}).get("reference", "")).removeprefix("Patient/"),
            date=str(resource.get("date", "")),
            sections=sections,
            transcript=tuple(transcript),
            marks=tuple(marks),
            history=tuple(history),
            returned=returned,
            attester=(attesters[0].get("party") or {}).get("display") if attesters else None,
        )


def marked(text: str, marks: tuple[tuple[str, str], ...]) -> Markup:
    """``text`` escaped, with each marked word wrapped in ``<mark>`` (the words are escaped too)."""
    escaped = str(escape(text))
    words = sorted({str(escape(word)) for word, _ in marks if word}, key=len, reverse=True)
    if not words:
        return Markup(escaped)
    pattern = re.compile("|".join(map(re.escape, words)))
    return Markup(pattern.sub(lambda m: f'<mark class="corrected">{m.group(0)}</mark>', escaped))


def _edit_record(user: StaffUser, action: str, section: str, previous: str) -> dict[str, Any]:
    parts = [
        {"url": "at", "valueDateTime": datetime.now(UTC).isoformat(timespec="seconds")},
        {"url": "by", "valueString": user.display_name},
        {"url": "action", "valueCode": action},
        *([{"url": "section", "valueString": section}] if section else []),
        *([{"url": "previous", "valueString": previous}] if previous.strip() else []),  # FHIR strings are non-empty
    ]
    return {"url": EDIT_EXTENSION, "extension": parts}


def with_section(resource: dict[str, Any], name: str, text: str) -> dict[str, Any]:
    """The Composition with section ``name`` set to ``text`` (added in record order if it was empty)."""
    rules = SectionRules.load()
    div = f'<div xmlns="http://www.w3.org/1999/xhtml">{html.escape(text)}</div>'
    sections = [s for s in resource.get("section", []) if s.get("title") != name]
    if text.strip():
        sections.append({"title": name, "code": {"coding": [{"system": "http://loinc.org", "code": rules.codes[name]}],
                                                 "text": name},
                         "text": {"status": "additional", "div": div}})
    order = {title: index for index, title in enumerate(rules.order)}
    sections.sort(key=lambda s: order.get(s.get("title", ""), len(order)))
    updated = {**resource, "section": sections}
    if not sections:
        updated.pop("section")
    return updated


def add_routes(router: APIRouter, console: Console) -> None:
    async def note_page(request: Request, user: StaffUser, resource: dict[str, Any], status: int = 200,
                        **extra: Any) -> Response:
        note = NoteView.of(resource)
        patient = await console.store.read(user.principal, "Patient", note.patient_id) if note.patient_id else {}
        await console.audit(user.principal, "console_view", f"Composition/{note.id}")
        return await console.page(
            "note.html", request, user, status, note=note, patient=patient, order=SectionRules.load().order,
            marked=marked, may_sign=user.can("sign_notes") and note.author == user.id and not note.signed, **extra)

    @router.get("/notes")
    async def notes_page(request: Request) -> Response:
        user = await console.staff(request, "notes", "console/notes")
        notes = [NoteView.of(r) for r in await console.store.list_recent(user.principal, "Composition", 100)]
        await console.audit(user.principal, "console_view", "console/notes")
        waiting = [n for n in notes if not n.signed and not n.returned]
        waiting.sort(key=lambda n: (n.author != user.id, n.date))
        return await console.page("notes.html", request, user, waiting=waiting,
                                  returned=[n for n in notes if n.returned and not n.signed],
                                  signed=[n for n in notes if n.signed])

    @router.get("/notes/{note_id}")
    async def note(request: Request, note_id: str) -> Response:
        user = await console.staff(request, "notes", f"Composition/{note_id}"[:160])
        resource = await console.store.read(user.principal, "Composition", checked_id(note_id))
        return await note_page(request, user, resource)

    async def save(request: Request, note_id: str, action: str) -> Response:
        user = await console.staff(request, "sign_notes", f"Composition/{note_id}"[:160])
        form = dict(await request.form())
        await console.check_csrf(request, form)
        note_id = checked_id(note_id)
        version = str(form.get("version") or "")
        if not version.isdigit():
            raise Refused(400, "缺少病历版本号，请刷新页面后重试")
        current = await console.store.read(user.principal, "Composition", note_id)
        draft = ""
        if action == "edit":
            section = str(form.get("section") or "")
            if section not in SectionRules.load().order:
                raise Refused(400, "没有这个病历段落")
            draft = str(form.get("text") or "")[:MAX_SECTION_CHARS]
            previous = NoteView.of(current).sections.get(section, "")
            updated = with_section(current, section, draft)
            updated["extension"] = [*current.get("extension", []), _edit_record(user, "edit", section, previous)]
        elif action == "sign":
            updated = {**current, "status": "final", "attester": [{
                "mode": "legal", "time": datetime.now(UTC).isoformat(timespec="seconds"),
                "party": {"reference": f"Practitioner/{user.id}", "display": user.display_name}}]}
            updated["extension"] = [*current.get("extension", []), _edit_record(user, "sign", "", "")]
        else:
            reason = str(form.get("reason") or "").strip()[:500]
            if not reason:
                raise Refused(400, "退回需要填写原因")
            updated = {**current, "extension": [
                *(e for e in current.get("extension", []) if e.get("url") != RETURN_EXTENSION),
                {"url": RETURN_EXTENSION, "valueString": reason}, _edit_record(user, "return", "", reason)]}
        try:
            await console.store.update(user.principal, updated, expected_version=int(version))
        except VersionConflictError:
            latest = await console.store.read(user.principal, "Composition", note_id)
            return await note_page(
                request, user, latest, 409,
                conflict=f"保存失败：这份病历已被他人修改（现为第 {NoteView.of(latest).version} 版），"
                         "您的修改没有覆盖对方的内容，已保留在下方，请核对后重新保存。",
                kept_section=str(form.get("section") or ""), kept_text=draft)
        return RedirectResponse(f"/console/notes/{note_id}", status_code=303)

    @router.post("/notes/{note_id}/section")
    async def edit_section(request: Request, note_id: str) -> Response:
        return await save(request, note_id, "edit")

    @router.post("/notes/{note_id}/sign")
    async def sign(request: Request, note_id: str) -> Response:
        return await save(request, note_id, "sign")

    @router.post("/notes/{note_id}/return")
    async def give_back(request: Request, note_id: str) -> Response:
        return await save(request, note_id, "return")
