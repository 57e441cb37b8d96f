"""The concept layer's value types: a clinical :class:`Concept` and a :class:`Mention` of it in text."""

from __future__ import annotations

from dataclasses import dataclass, field

CATEGORIES = (
    "site", "symptom", "sign", "diagnosis", "descriptor", "duration", "substance", "event", "device", "reading",
    "person", "pregnancy", "history", "intent",
)
"""Concept categories; a concept id starts with its category's short prefix (``sym.pain``, ``site.chest``)."""


@dataclass(frozen=True)
class Concept:
    """One clinical concept and its surface forms.

    Parameters:
        id: Stable id, ``<prefix>.<name>`` (``sign.apnea``); rules and flows refer to it.
        category: One of :data:`CATEGORIES`.
        label: Short Mandarin label for nurses and logs.
        forms: Literal surface forms (lay, colloquial, regional, metaphorical).
        patterns: Regex surface forms, for forms with a gap (``嘴~歪``: ``~`` is a short gap with no
            negation or punctuation).
        not_in: Words that contain a form but do not mean the concept (头 in 头孢, 骨头).
        pinyin: Whether forms of three or more characters also match by toneless pinyin (misheard
            spellings: 心口沃 for 心口窝); ``pinyin_forms`` adds two-character forms that do.
        event: A one-off event (a faint, a seizure, a fall): "现在好了" afterwards does not undo it.
        source: Where the forms come from.
    """

    id: str
    category: str
    label: str
    forms: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    not_in: tuple[str, ...] = ()
    pinyin: bool = True
    pinyin_forms: tuple[str, ...] = ()
    event: bool = False
    source: str = ""


@dataclass(frozen=True)
class Mention:
    """One concept found in a caller's text.

    Parameters:
        concept: Concept id (``sym.pain``).
        category: The concept's category.
        start: Index of the first character in the text passed to ``find``.
        end: Index after the last character.
        surface: The caller's words (patient data: never log).
        negated: Said to be absent ("没有出冷汗" negates only the sweating).
        resolved: Said to be over now ("一会儿就好了", "血已经止住了").
        past: Said of the past ("以前", "去年", "上个月"): history, not the current complaint.
        uncertain: Hedged ("好像", "可能", "是不是"); still counts, over-triage being the safe side.
        subject: Who it is about, as the nearest person concept before it (``person.parent``), or
            ``None`` when nobody was named.
        via: How it matched: ``form``, ``pattern``, ``pinyin`` (misheard) or ``reader`` (a value).
        value: The value a reader found (minutes of a duration, a device reading), else ``None``.
    """

    concept: str
    category: str
    start: int
    end: int
    surface: str
    negated: bool = False
    resolved: bool = False
    past: bool = False
    uncertain: bool = False
    subject: str | None = None
    via: str = "form"
    value: float | None = field(default=None, compare=False)

    @property
    def current(self) -> bool:
        """Present now: not negated, not resolved and not past."""
        return not (self.negated or self.resolved or self.past)
