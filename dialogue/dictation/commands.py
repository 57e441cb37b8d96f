"""Voice commands while dictating: 删除上一句, 撤销, 把主诉改成…, 下一段, 读一遍, 保存病历.

A sentence is a command only when, once polite fillers are removed, nothing else is left in it (so
"患者拒绝撤销医嘱" stays note text). Commands are never written into the note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dialogue.dictation.sections import SectionRules
from medical_terms import toneless

_FILLER = r"(?:好|好的|那个|嗯|请|麻烦|帮我|给我|你|再|一下|吧|了|啊)*"
_SECTION_NAMES = r"主诉|现病史|既往史|既往|过敏史|体格检查|查体|辅助检查|初步诊断|诊断|处理意见|处理"
_SECTION_WORDS = rf"(?P<section>{_SECTION_NAMES})"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rf"^{_FILLER}{body}{_FILLER}$"))
    for name, body in (
        ("delete_last", r"(?:删除|删掉|删去|去掉|删)(?:上一句|上句|刚才(?:那|这)句(?:话)?|最后一句)|上一句(?:删除|删掉|不要了|去掉)"),
        ("undo", r"撤销|撤回|取消上一步|恢复刚才|撤销上一步|撤销操作"),
        ("next_section", r"下一段|下一部分|下一项|下一个部分|写下一段"),
        ("read", rf"(?:把)?({_SECTION_NAMES})?(?:读一遍|念一遍|读一下|念一下|复述一遍|读给我听)({_SECTION_NAMES})?"),
        ("save", r"保存病历|病历保存|保存|保存一下病历|录入完毕保存|结束并保存"),
    )
)
_REPLACE = re.compile(rf"^{_FILLER}(?:把)?{_SECTION_WORDS}(?:改成|改为|修改为|修改成|换成|更正为|纠正为)[:：，,]?(?P<text>.+)$")
_PUNCT = re.compile(r"[，,。.！!？?：:；;\s]")


@dataclass(frozen=True)
class Command:
    """A recognised command: ``name`` and, for read/replace, the ``section`` and new ``text``."""

    name: str
    section: str | None = None
    text: str | None = None


def parse_command(sentence: str, rules: SectionRules | None = None) -> Command | None:
    """The command ``sentence`` is, or ``None`` when it is dictation."""
    rules = rules or SectionRules.load()
    replace = _REPLACE.match(sentence.strip())
    if replace:
        return Command("replace", _section(replace.group("section"), rules), replace.group("text").strip("，,。 "))
    bare = _PUNCT.sub("", sentence)
    if not bare:
        return None
    for name, pattern in _PATTERNS:
        match = pattern.match(bare)
        if match:
            said = next((g for g in match.groups() if g), None) if name == "read" else None
            return Command(name, _section(said, rules) if said else None)
    return _BY_SOUND.get(toneless(bare)) if len(bare) <= 8 else None


def _by_sound() -> dict[str, Command]:
    """Commands as ASR may mis-spell them with the right sounds ("删除上一剧", "保存病例")."""
    phrases = {"删除上一句": Command("delete_last"), "删掉上一句": Command("delete_last"),
               "撤销": Command("undo"), "下一段": Command("next_section"), "读一遍": Command("read"),
               "保存病历": Command("save")}
    for section in ("主诉", "现病史", "既往史", "过敏史", "体格检查", "辅助检查", "初步诊断", "处理意见"):
        phrases[f"读一遍{section}"] = Command("read", section)
    return {toneless(text): command for text, command in phrases.items()}


_BY_SOUND = _by_sound()


def _section(word: str | None, rules: SectionRules) -> str | None:
    return rules.cue_sections.get(word) if word else None


def split_commands(utterance: str, rules: SectionRules | None = None) -> list[str | Command]:
    """The utterance as dictation text pieces and commands, in spoken order."""
    pieces: list[str | Command] = []
    for sentence in re.findall(r"[^。！!？?；;]+[。！!？?；;]?", utterance):
        command = parse_command(sentence, rules)
        if command is not None:
            pieces.append(command)
        elif pieces and isinstance(pieces[-1], str):
            pieces[-1] += sentence
        else:
            pieces.append(sentence)
    return pieces
