"""Who each mention is about: the subject model of caller speech.

A caller often speaks of someone else ("我妈胸口疼", "邻居老王嘴歪了"), or of two people at once ("宝宝两个
月，我自己发烧三十八度五"). A finding belongs to the person named last before it (topic continuation:
"孩子两个月，发烧了" is the child's fever), with four refinements:

- a person named inside a value's span is that value's subject ("宝宝两个月" is the baby's age);
- the caller acting on someone is an observer, not the subject ("我给孩子量了", "我摸着他额头烫");
- the caller's role ("我是他女儿") names the caller, not a patient;
- a pronoun (他/她) is the last third party named, or someone else when nobody was;
- a person word inside a finding's own words (肚子里的宝宝, 刚生完孩子) changes no subject.

Subjects are person concept ids (``person.child``…), or ``None`` when nobody was named.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Named", "Subjects"]

SELF = "person.self"
OTHER = "person.other"
_PRONOUNS = frozenset({"他", "她", "它", "他俩", "她俩"})
# The caller doing something to or for the patient: 我给孩子…, 我摸着他…, 我发现她…
_OBSERVER_AFTER = re.compile(
    r"(?:这边|那边|这儿|这里|在家|刚才|刚刚|早上|晚上|用[^，。,；;]{0,4}|拿[^，。,；;]{0,4}){0,2}"
    r"(?:就|也|都|刚|刚才|刚刚|赶紧|马上|一|这|那)?(?:给|帮|替|带|抱|喂|摸|量|测|扶|背|送|看(?!东西|不清|不见|不到|着?模糊|书|手机|电视)|瞧|守|陪|叫|喊|"
    r"发现|听|问|掐|按|拍|打电话|推|拉)"
)
# The caller's family, not the caller: 我家是八十五天, 我家的孩子, 我们家老人.
_POSSESSIVE_AFTER = re.compile(r"们?家|的|屋里")
# A person word right before another (or before 的 and another) only qualifies it: 满月的娃儿, 我家宝宝.
_MODIFIER_GAP = re.compile(r"(?:们?家)?(?:的|那个|这个)?")
# The caller's role: 我是他女儿, 我是病人家属, 我是她的邻居.
_ROLE_BEFORE = re.compile(r"我是(?:他|她)?(?:的)?$")


@dataclass(frozen=True)
class Named:
    """One person concept said in the text: ``concept`` (``person.child``), its span and words."""

    concept: str
    start: int
    end: int
    surface: str


class Subjects:
    """The subject at any position of one text, from the people named in it.

    Args:
        text: The text the people were found in.
        named: Person mentions, in text order, none inside another.
        inside: Spans of non-person findings; a person named inside one changes no subject.
        context: The third party spoken of before this text (a pronoun's antecedent across turns).
    """

    def __init__(self, text: str, named: Sequence[Named], inside: Sequence[tuple[int, int]] = (),
                 context: str | None = None) -> None:
        self.named = tuple(named)
        self._switches: list[tuple[int, str]] = []  # (position, subject) where the topic changes
        self._denotes: dict[int, str] = {}  # whom each person word names, by its start (pronouns resolved)
        third = context
        heads = _heads(text, self.named)
        for person in self.named:
            if any(start <= person.start and person.end <= end and (start, end) != (person.start, person.end)
                   for start, end in inside):
                self._denotes[person.start] = person.concept  # 生完孩子两个月: the child's age, no new topic
                continue
            if _ROLE_BEFORE.search(text, max(0, person.start - 4), person.start):
                continue
            subject = person.concept
            if person.surface in _PRONOUNS:
                subject = third or OTHER
            head = heads.get(person.start)
            if head is not None:  # 满月的娃儿, 我家宝宝: one person, named by the last word
                self._denotes[person.start] = head.concept
                continue
            if subject == SELF and (_OBSERVER_AFTER.match(text, person.end) or _POSSESSIVE_AFTER.match(text, person.end)):
                continue  # the caller acting, or the caller's family: nobody's subject
            self._denotes[person.start] = subject
            if subject != SELF:
                third = subject
            self._switches.append((person.end, subject))
        self.third = third

    def denotes(self, start: int) -> str | None:
        """Whom the person word starting at ``start`` names (a pronoun: its antecedent), or ``None`` for
        a word that names no patient (the caller's role, a word inside a finding's words)."""
        return self._denotes.get(start)

    def at(self, start: int, end: int | None = None) -> str | None:
        """The subject of a mention spanning ``start:end``: a person named inside the span (a value such
        as 宝宝两个月), else the last subject switched to before ``start``."""
        if end is not None:
            for person in self.named:
                inside = start <= person.start and person.end <= end
                if ((inside or person.start < start < person.end) and (person.start, person.end) != (start, end)
                        and person.start in self._denotes):
                    return self._denotes[person.start]
        subject = None
        for position, switched in self._switches:
            if position > start:
                break
            subject = switched
        return subject


def _heads(text: str, named: Sequence[Named]) -> dict[int, Named]:
    """The person word each modifier person word qualifies, by the modifier's start (满月的娃儿: 满月的 →
    娃儿); a pronoun or the caller is nobody's modifier (我妈 is one word; 我家宝宝: 我 stays the caller's)."""
    heads: dict[int, Named] = {}
    for first, second in zip(named, named[1:], strict=False):
        if first.concept == SELF or first.surface in _PRONOUNS or second.surface in _PRONOUNS:
            continue
        gap = _MODIFIER_GAP.fullmatch(text, first.end, second.start)
        if gap is not None:
            heads[first.start] = second
    return heads
