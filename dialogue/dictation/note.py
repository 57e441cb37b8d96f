"""The note being dictated: placed sentences, with an undo history and the voice commands' edits.

A *sentence* is the unit of "删除上一句" (all its clauses go, whichever sections they landed in);
every edit pushes the previous state so "撤销" restores it exactly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from dialogue.dictation.sections import HPI, Cursor, Placed, SectionRules, place


@dataclass
class Sentence:
    clauses: list[Placed]


@dataclass
class Note:
    """Sentences in dictation order, the section cursor, warnings for the doctor."""

    rules: SectionRules = field(default_factory=SectionRules.load)
    sentences: list[Sentence] = field(default_factory=list)
    cursor: Cursor = field(default_factory=Cursor)
    _undo: list[tuple[list[Sentence], Cursor]] = field(default_factory=list)

    def _push(self) -> None:
        self._undo.append((copy.deepcopy(self.sentences), copy.deepcopy(self.cursor)))

    def dictate(self, text: str) -> int:
        """Add dictated text; returns how many sentences were added."""
        placed = place(text, self.cursor, self.rules)
        if placed:
            self._push()
            self.sentences += [Sentence(clauses) for clauses in placed]
        return len(placed)

    def delete_last(self) -> bool:
        if not self.sentences:
            return False
        self._push()
        self.sentences.pop()
        return True

    def undo(self) -> bool:
        if not self._undo:
            return False
        self.sentences, self.cursor = self._undo.pop()
        return True

    def replace_section(self, section: str, text: str) -> None:
        """"把主诉改成…": the section's clauses are replaced by ``text`` (placed as one cued sentence)."""
        self._push()
        kept = []
        for sentence in self.sentences:
            clauses = [c for c in sentence.clauses if c.section != section]
            if clauses:
                kept.append(Sentence(clauses))
        body = "，".join(c for c in (s.strip() for s in text.replace("。", "，").split("，")) if c)
        self.sentences = [*kept, Sentence([Placed(section, body, "cue")])] if body else kept

    def next_section(self) -> str | None:
        """"下一段": move the cursor to the section after the current one (``None`` past the last)."""
        order = self.rules.order
        current = self.cursor.section
        index = order.index(current) + 1 if current in order else 0
        if index >= len(order):
            return None
        self._push()
        self.cursor = Cursor(order[index], cued=True, seen_content=True)
        return order[index]

    def sections(self) -> dict[str, str]:
        """Section -> text, in record order; empty sections are left out."""
        parts: dict[str, list[str]] = {}
        for sentence in self.sentences:
            by_section: dict[str, list[str]] = {}
            for clause in sentence.clauses:
                by_section.setdefault(clause.section, []).append(clause.text)
            for section, clauses in by_section.items():
                parts.setdefault(section, []).append("，".join(clauses) + "。")
        return {s: "".join(parts[s]) for s in self.rules.order if s in parts}

    @property
    def recognised(self) -> bool:
        """Whether any clause was placed by a cue or a content signal (else all is 现病史 by default)."""
        return any(c.by != "default" and c.by != "continued" for s in self.sentences for c in s.clauses)

    def warnings(self) -> list[str]:
        if self.sentences and not self.recognised:
            return [f"未识别到病历分段，全部内容暂放在{HPI}，请核对"]
        missing = [s for s in ("主诉", "现病史", "初步诊断") if s not in self.sections()]
        return [f"缺少{s}" for s in missing] if self.sentences else []
