"""Ask like a triage nurse: high-risk presentations, their discriminators and the level floor they set.

The table (``dialogue/triage/data/discriminators.json``) lists presentations a caller's words can touch
(chest, breathing, consciousness, neuro deficit, bleeding, poisoning, self-harm, pregnancy, young
infants) and, for each, the discriminators that decide its urgency. An :class:`Assessment` follows one
call: it reads every caller turn, records each discriminator as present, absent or unknown, picks the
next one short question to ask, and gives the level floor. Manchester-style: a discriminator that is
present, or asked and not known, or never ruled out, keeps the presentation's level; only answers that
rule the discriminators out let it go down. A discriminator confirmed present raises its red-flag code
(add-only: nothing here clears a flag). Nothing here logs patient text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import product
from typing import Any

from dialogue.negation import is_negated
from dialogue.people import Person, infant_fever_age_days
from medical_terms import NUMERAL, parse_number
from medical_terms.concepts import ConceptMatcher, Mention
from medical_terms.concepts.scope import clause_bounds, is_experienced, is_over_since_earlier_day, is_past

PRESENT, ABSENT, UNKNOWN = "present", "absent", "unknown"

_MINUTES = re.compile(
    rf"(?P<num>{NUMERAL}|几|十几|二十几|半)\s*(?P<more>多)?\s*(?:个)?\s*多?\s*(?P<half>半)?\s*(?P<unit>分钟|分|小时|钟头|个钟|钟)"
)
_RANGE = re.compile(r"([一二三四五六七八九])([两二三四五六七八九])(?=\s*(?:个|多|分|小|钟))")
_PART_OF_DAY = re.compile(r"一上午|一下午|一晚上|一整晚|一宿|一整天|一早上|一夜|大半天|半天|一刻钟|好几个(?:小时|钟头)")
_PART_MINUTES = {"一刻钟": 15, "半天": 240, "大半天": 360}
_DENIAL = "不没无未"
_RULE_SPAN = 12  # characters one concept rule may span, within one clause
_CLAUSE_BREAK = re.compile(r"[，,。；;！!？?]")
_EPISODE_MINUTES_LT = 24 * 60  # "这两周开始的" dates a pattern of episodes, not how long this one lasts
# A clause that asks: 这算发烧吗, 算不算高 (是不是 is a hedge and still counts).
_QUESTION = re.compile(r"(?:吗|(?<![怎这那什多])么)\s*[？?]?$|算不算|[？?]$")
_VAGUE = {"几": 5, "十几": 15, "二十几": 25, "半": 30}


@dataclass(frozen=True)
class Discriminator:
    """One discriminator of a presentation (see the table's ``_about`` for the fields)."""

    id: str
    name: str
    presentation: str
    question: str | None
    yes_means: str
    present: tuple[re.Pattern[str], ...]
    absent: tuple[re.Pattern[str], ...]
    level: int
    unknown_level: int
    minutes_gte: int | None
    flag: str | None
    present_concepts: tuple[tuple[str, ...], ...] = ()
    context: bool = False
    absent_first: bool = False


@dataclass(frozen=True)
class Presentation:
    """A high-risk presentation: the words that open it, the context that makes it low-risk, its level."""

    id: str
    name: str
    level: int
    flag: str
    requires: str | None
    who: re.Pattern[str] | None
    touch: tuple[re.Pattern[str], ...]
    low_risk: tuple[re.Pattern[str], ...]
    discriminators: tuple[Discriminator, ...]
    touch_concepts: tuple[tuple[str, ...], ...] = ()
    who_concepts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Floor:
    """The level a call cannot go below, why (Mandarin, for the nurse), and whether a nurse should take over."""

    level: int
    reasons: tuple[str, ...]
    nurse: bool


@dataclass
class Assessment:
    """Discriminator state of one call. Feed every caller turn to :meth:`observe` (or :meth:`answer` for
    the reply to a discriminator question); ask :meth:`next_question`; read :meth:`floor` and :meth:`flags`."""

    states: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    touched: list[str] = field(default_factory=list)
    low_risk: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    def observe(self, text: str, person: Person | None = None) -> None:
        """Fold one caller turn in: presentations touched, low-risk context, discriminators said."""
        person = person or Person()
        mentions = _mentions(text)
        for presentation in table():
            if (presentation.id not in self.touched and _applies(presentation, person, text, mentions)
                    and (_positive(presentation.touch, text) is not None
                         or _concept_rule(presentation.touch_concepts, mentions, text) is not None)):
                self.touched.append(presentation.id)
            if presentation.id in self.touched and _positive(presentation.low_risk, text) is not None:
                self.low_risk.add(presentation.id)
            for discriminator in presentation.discriminators:
                self._read(discriminator, text, mentions, reply=False)

    def suspect(self, code: str, person: Person | None = None) -> list[str]:
        """A second opinion (the learned detector) sees red flag ``code`` that no rule raised: open the
        presentations that lead to it, so their discriminators are asked (add-only: nothing is raised or
        cleared here). Returns the presentations newly opened."""
        person = person or Person()
        opened = []
        for presentation in table():
            leads = presentation.flag == code or any(d.flag == code for d in presentation.discriminators)
            if leads and presentation.id not in self.touched and _applies(presentation, person, "", []):
                self.touched.append(presentation.id)
                opened.append(presentation.id)
        return opened

    def answer(self, discriminator_id: str, text: str, person: Person | None = None) -> str:
        """Read the reply to the question about ``discriminator_id``; returns the state recorded.

        An unclear reply counts as unknown: a discriminator that was asked and not ruled out stays open.
        """
        discriminator = by_id(discriminator_id)
        state = self._read(discriminator, text, _mentions(text), reply=True) or UNKNOWN
        if self.states.get(discriminator.id) != PRESENT:
            self.states[discriminator.id] = state
        self.observe(text, person)
        return self.states[discriminator.id]

    def next_question(self) -> Discriminator | None:
        """The next discriminator to ask: the first askable, still open one of a touched presentation that
        is neither low-risk nor already settled (a present or unknown discriminator fixes its level)."""
        for presentation in self._active():
            if any(self.states.get(d.id) in (PRESENT, UNKNOWN) for d in presentation.discriminators):
                continue
            for discriminator in presentation.discriminators:
                if discriminator.question and discriminator.id not in self.states:
                    return discriminator
        return None

    def mark_asked(self, discriminator_id: str) -> None:
        self.asked.append(discriminator_id)

    def floor(self) -> Floor | None:
        """The most urgent level the discriminators keep, or ``None`` when nothing high-risk is open."""
        candidates: list[tuple[int, str]] = []
        nurse = False
        presentations = {p.id: p for p in table()}
        for presentation_id in self.touched:
            presentation = presentations[presentation_id]
            open_ones = []
            for discriminator in presentation.discriminators:
                state = self.states.get(discriminator.id)
                if discriminator.context and presentation_id in self.low_risk:
                    continue
                if state == PRESENT:
                    candidates.append((discriminator.level, f"{presentation.name}：{discriminator.name}"))
                elif state == UNKNOWN:
                    nurse = nurse or discriminator.unknown_level > discriminator.level
                    candidates.append((discriminator.unknown_level,
                                       f"{presentation.name}：无法排除{discriminator.name}，按有处理"))
                elif state is None and discriminator.question:
                    open_ones.append(discriminator)
            if open_ones and presentation_id not in self.low_risk:
                names = "、".join(d.name for d in open_ones)
                candidates.append((presentation.level, f"{presentation.name}：尚未排除{names}，不降低紧急程度"))
        if not candidates:
            return None
        level = min(level for level, _ in candidates)
        reasons = tuple(reason for lvl, reason in sorted(candidates) if lvl == level)
        return Floor(level, reasons, nurse)

    def flags(self) -> list[tuple[str, int, str]]:
        """(red-flag code, level, evidence) for each discriminator confirmed present in a touched presentation."""
        found: dict[str, tuple[str, int, str]] = {}
        for presentation in table():
            if presentation.id not in self.touched:
                continue
            for discriminator in presentation.discriminators:
                if discriminator.context and presentation.id in self.low_risk:
                    continue
                if self.states.get(discriminator.id) == PRESENT and discriminator.flag:
                    code = discriminator.flag
                    evidence = self.evidence.get(discriminator.id, discriminator.name)
                    if code not in found or discriminator.level < found[code][1]:
                        found[code] = (code, discriminator.level, evidence)
        return sorted(found.values(), key=lambda item: item[1])

    def _active(self) -> list[Presentation]:
        return [p for p in table() if p.id in self.touched and p.id not in self.low_risk]

    def _read(self, discriminator: Discriminator, text: str, mentions: list[Mention], reply: bool) -> str | None:
        """Present/absent from ``text`` (regexes and concept rules); with ``reply`` also a bare
        yes/no/unknown to its own question."""
        if self.states.get(discriminator.id) == PRESENT:
            return PRESENT
        if discriminator.absent_first and _positive(discriminator.absent, text) is not None:
            self.states[discriminator.id] = ABSENT  # a measurement outranks a touch or a word
            return ABSENT
        said = _positive(discriminator.present, text)
        concept = _concept_rule(discriminator.present_concepts, mentions, text)
        minutes = _spoken_minutes(text, mentions) if discriminator.minutes_gte is not None else None
        if said is not None or concept is not None or (
                minutes is not None and minutes >= (discriminator.minutes_gte or 0)):
            self.states[discriminator.id] = PRESENT
            words = said.group() if said is not None else concept.surface if concept is not None else text.strip()
            self.evidence[discriminator.id] = words[:12]
            return PRESENT
        if (_positive(discriminator.absent, text) is not None or minutes is not None
                or _denied(discriminator.present_concepts, mentions)):
            self.states[discriminator.id] = ABSENT
            return ABSENT
        if not reply:
            return None
        answers = _answers()
        stripped = text.strip("，。！？,.!? ")
        if answers["unknown"].search(stripped):
            return UNKNOWN
        if answers["no"].match(stripped):
            return "absent" if discriminator.yes_means == PRESENT else PRESENT
        if answers["yes"].match(stripped):
            state = discriminator.yes_means
            if state == PRESENT:
                self.evidence[discriminator.id] = f"问{discriminator.name}，答“{stripped[:8]}”"
            return state
        return None


def _spoken_minutes(text: str, mentions: list[Mention]) -> float | None:
    """The longest duration under a day the concept layer read, else this module's reader."""
    values = [m.value for m in mentions if m.concept == "dur.minutes" and m.value is not None and not m.negated
              and m.value < _EPISODE_MINUTES_LT]
    return max(values) if values else read_minutes(text)


def read_minutes(text: str) -> float | None:
    """How long it has lasted, in minutes, from "半个多小时", "快半个钟头了", "二十分钟", "一上午"
    ("三四分钟": the longer)."""
    match = _MINUTES.search(_RANGE.sub(r"\2", text))
    if match:
        number = match.group("num")
        value = _VAGUE.get(number) if number in _VAGUE else parse_number(number)
        if value is not None:
            if match.group("unit") in ("小时", "钟头", "个钟") or (match.group("unit") == "钟" and number == "半"):
                value = 30 if number == "半" else value * 60 + (30 if match.group("half") else 0)
            return float(value)
    part = _PART_OF_DAY.search(text)
    if part:
        return float(_PART_MINUTES.get(part.group(), 180))
    return None


def table() -> tuple[Presentation, ...]:
    """The packaged presentations, in the order they are asked about."""
    return _load()[0]


def by_id(discriminator_id: str) -> Discriminator:
    """The discriminator ``discriminator_id``.

    Raises:
        KeyError: no such discriminator (names the known ids).
    """
    for presentation in table():
        for discriminator in presentation.discriminators:
            if discriminator.id == discriminator_id:
                return discriminator
    known = [d.id for p in table() for d in p.discriminators]
    raise KeyError(f"discriminator {discriminator_id!r} unknown; known: {known}")


def _applies(presentation: Presentation, person: Person, text: str, mentions: list[Mention]) -> bool:
    said = (presentation.who is not None and presentation.who.search(text) is not None) or any(
        m.concept in presentation.who_concepts and not m.negated for m in mentions)
    if presentation.requires == "pregnant":
        # a pregnancy said of someone other than the patient (我老婆怀孕了，我肚子疼) is not the patient's
        said = said and not (person.named and all(m.subject not in (None, person.patient) for m in mentions
                                                  if m.concept in presentation.who_concepts and not m.negated))
        return person.pregnant is True or (person.pregnant is None and said)
    if presentation.requires == "young_infant":
        if person.age_days is not None:
            return person.age_days < infant_fever_age_days()
        return said and not person.adult  # 宝宝两个月，我自己发烧: the mother is the patient
    return True


def _positive(patterns: tuple[re.Pattern[str], ...], text: str) -> re.Match[str] | None:
    for pattern in patterns:
        for match in pattern.finditer(text):
            directly_denied = match.start() > 0 and text[match.start() - 1] in _DENIAL  # 不出血 ("不出" is no cue)
            if not (directly_denied or is_negated(text, match.start()) or _asked(text, match.start())
                    or is_past(text, match.start()) or _earlier_episode(text, match)):
                return match
    return None


def _earlier_episode(text: str, match: re.Match[str]) -> bool:
    """The words tell an episode of an earlier day that is over now (前天胸口疼…今天也不疼了) or was
    lived through (前两天胸口疼过): history, no presentation to ask about."""
    return (is_over_since_earlier_day(text, match.end())
            or is_experienced(text, match.start(), match.end()))


def _asked(text: str, start: int) -> bool:
    """The words stand in the caller's own question ("体温三十七度三，这算发烧吗"): asked about, not said."""
    clause_start, clause_end = clause_bounds(text, start)
    clause = text[clause_start:clause_end + 1]
    return _QUESTION.search(clause) is not None


def concept_mentions(text: str) -> list[Mention]:
    """The shared concept layer's mentions in ``text`` (one matcher per process)."""
    return _mentions(text)


def concept_rule(rules: tuple[tuple[str, ...], ...], mentions: list[Mention], text: str) -> Mention | None:
    """A mention of the first rule (concept ids, all said as present now, close together in one clause)."""
    return _concept_rule(rules, mentions, text)


def _mentions(text: str) -> list[Mention]:
    return _matcher().find(text) if text.strip() else []


def _said_now(mention: Mention, wanted: str) -> bool:
    """``mention`` is ``wanted`` (an id or ``prefix.*``) and said as present now (history: whenever said)."""
    hit = mention.concept.startswith(wanted[:-1]) if wanted.endswith("*") else mention.concept == wanted
    return hit and (mention.current or (mention.category == "history" and not mention.negated))


def _concept_rule(rules: tuple[tuple[str, ...], ...], mentions: list[Mention], text: str) -> Mention | None:
    """A mention of the first rule whose concepts are all said as present now, close together (胸 of
    "没有胸痛" and 心脏 of "想查查心脏" are not one chest pain), else ``None``."""
    for rule in rules:
        candidates = [[m for m in mentions if _said_now(m, wanted)] for wanted in rule]
        for combination in product(*candidates):
            start, end = min(m.start for m in combination), max(m.end for m in combination)
            if end - start <= _RULE_SPAN and not _CLAUSE_BREAK.search(text, start, end):
                return combination[-1]
    return None


def _denied(rules: tuple[tuple[str, ...], ...], mentions: list[Mention]) -> bool:
    """A single-concept rule said negated ("没有出冷汗") and none said present."""
    singles = {rule[0] for rule in rules if len(rule) == 1}
    return (any(m.negated and m.concept in singles for m in mentions)
            and not any(_said_now(m, concept) for m in mentions for concept in singles))


@cache
def _matcher() -> ConceptMatcher:
    return ConceptMatcher.load()


def _answers() -> dict[str, re.Pattern[str]]:
    return _load()[1]


@cache
def _load() -> tuple[tuple[Presentation, ...], dict[str, re.Pattern[str]]]:
    data: dict[str, Any] = json.loads(
        resources.files("dialogue.triage.data").joinpath("discriminators.json").read_text("utf-8")
    )
    presentations = []
    for raw in data["presentations"]:
        discriminators = tuple(
            Discriminator(
                id=d["id"], name=d["name"], presentation=raw["id"], question=d.get("question"),
                yes_means=d.get("yes_means", PRESENT), present=_compile(d["present"]), absent=_compile(d["absent"]),
                level=d["level"], unknown_level=d.get("unknown_level", d["level"]),
                minutes_gte=d.get("minutes_gte"), flag=d.get("flag"),
                present_concepts=tuple(tuple(rule) for rule in d.get("present_concepts", [])),
                context=d.get("context", False),
                absent_first=d.get("absent_first", False),
            )
            for d in raw["discriminators"]
        )
        who = re.compile(raw["who_words"]) if "who_words" in raw else None
        presentations.append(Presentation(raw["id"], raw["name"], raw["level"], raw["flag"], raw.get("requires"), who,
                                          _compile(raw["touch"]), _compile(raw["low_risk"]), discriminators,
                                          tuple(tuple(rule) for rule in raw.get("touch_concepts", [])),
                                          tuple(raw.get("who_concepts", []))))
    answers = {key: re.compile(data[key]) for key in ("unknown", "yes", "no")}
    return tuple(presentations), answers


def _compile(patterns: list[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in patterns)
