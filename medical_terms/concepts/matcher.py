"""Finding concepts in caller text: literal forms, regex forms, misheard (toneless-pinyin) forms,
and values read by :mod:`medical_terms.concepts.readers`; then each mention's scope.

Speed: forms are indexed by first character and by first syllable once; text is matched clause by
clause and each clause's raw matches are cached, so re-checking a growing call transcript on every
utterance only matches the new clause. Pinyin of a clause is computed once per clause.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache

from medical_terms.concepts.lexicon import load_concepts
from medical_terms.concepts.model import Concept, Mention
from medical_terms.concepts.negation import is_negated
from medical_terms.concepts.readers import (
    ages,
    blood_pressures,
    device_readings,
    durations,
    heart_rates,
    temperatures,
)
from medical_terms.concepts.scope import (
    CLAUSE_BREAK,
    clause_bounds,
    is_denied_after,
    is_experienced,
    is_hedged,
    is_intended,
    is_past,
    is_resolved,
)
from medical_terms.concepts.sounds import WORD, SoundIndex, respell
from medical_terms.concepts.subjects import Named, Subjects
from medical_terms.phonetics import is_hanzi

GAP = r"[^，。,；;！!？?不没无未别]{0,4}"
"""What ``~`` stands for in a regex form: a short gap with no negation or punctuation."""
# Resolution never undoes these: a sign that is itself a stop (心跳停了) or a value.
_NEVER_RESOLVED_CATEGORIES = ("reading", "duration", "history", "substance", "intent", "event", "person",
                              "pregnancy", "device", "descriptor")


# A low glucose treated at once ("三点八，吃了饼干马上就好了") is over; a pressure is not.
_RESOLVABLE_READINGS = ("reading.glucose",)
# Findings that "好多年了" after them makes long-standing (not readings: 血糖十年了 is no value).
_CHRONIC_CATEGORIES = ("symptom", "sign")
_SPAN_PAST_CATEGORIES = ("reading",)
# Findings an earlier day's 过 makes past (前两天胸口疼过, 上周摔过一跤).
_EXPERIENCE_CATEGORIES = ("symptom", "sign", "diagnosis", "event")
# Acts that a modal before them makes only meant, not done ("今晚想全吃了"): not current.
_INTENDED_ACTS = ("sub.ingest",)
# A person word inside these changes no subject (肚子里的宝宝 is the pregnancy, not a child); a value's
# span names its subject on purpose (宝宝两个月).
_SUBJECT_SPAN_CATEGORIES = ("person", "reading", "duration")


@dataclass(frozen=True)
class _Raw:
    concept: int
    start: int
    end: int
    via: str
    value: float | None = None


class ConceptMatcher:
    """All concepts, compiled once; :meth:`find` lists their mentions in a text."""

    def __init__(self, concepts: tuple[Concept, ...]) -> None:
        self.concepts = concepts
        self.by_id = {concept.id: concept for concept in concepts}
        self._index = {concept.id: number for number, concept in enumerate(concepts)}
        self._forms: dict[str, list[tuple[str, int]]] = defaultdict(list)
        self._patterns: list[tuple[int, re.Pattern[str]]] = []
        self._blockers: dict[int, tuple[str, ...]] = {}
        for number, concept in enumerate(concepts):
            for form in concept.forms:
                self._forms[form[0]].append((form, number))
            if concept.patterns:
                joined = "|".join(f"(?:{pattern.replace('~', GAP)})" for pattern in concept.patterns)
                self._patterns.append((number, re.compile(joined)))
            if concept.not_in:
                self._blockers[number] = concept.not_in
        for candidates in self._forms.values():
            candidates.sort(key=lambda item: -len(item[0]))
        self._sounds = SoundIndex(concepts)
        self._person = tuple(number for number, concept in enumerate(concepts) if concept.category == "person")

    @classmethod
    def load(cls) -> ConceptMatcher:
        """The matcher over the packaged concept data (built once per process)."""
        return _matcher()

    def concept(self, concept_id: str) -> Concept:
        """The concept with this id (``KeyError`` if unknown)."""
        return self.by_id[concept_id]

    def find(self, text: str) -> list[Mention]:
        """Every concept mention in ``text``, in text order, with negation, resolution, past,
        hedging and subject filled in."""
        raws: list[_Raw] = []
        offset = 0
        for piece in _clauses(text):
            if piece.strip() and not CLAUSE_BREAK.fullmatch(piece):
                raws.extend(_Raw(r.concept, r.start + offset, r.end + offset, r.via, r.value)
                            for r in self._clause_raws(piece))
            offset += len(piece)
        # Readers see the whole text: a value may sit a clause after what names it (血糖高，测出来十七).
        for concept_id, start, end, value in (*durations(text), *device_readings(text), *blood_pressures(text),
                                              *ages(text), *heart_rates(text), *temperatures(text)):
            raws.append(_Raw(self._index[concept_id], start, end, "reader", value))
        raws.sort(key=lambda r: (r.start, -r.end))
        subjects = _subjects(text, [(self.concepts[r.concept].id, self.concepts[r.concept].category, r.start, r.end)
                                    for r in raws])
        mentions = []
        for raw in raws:
            concept = self.concepts[raw.concept]
            if raw.concept in self._person:
                subject = subjects.at(raw.start)
            else:
                subject = subjects.at(raw.start, raw.end if concept.category == "reading" else None)
            mentions.append(
                Mention(
                    concept=concept.id,
                    category=concept.category,
                    start=raw.start,
                    end=raw.end,
                    surface=text[raw.start:raw.end],
                    negated=(is_negated(text, raw.start) or is_denied_after(text, raw.end)
                             or (concept.id in _INTENDED_ACTS and is_intended(text, raw.start))),
                    resolved=(not concept.event and (concept.category not in _NEVER_RESOLVED_CATEGORIES
                                                     or concept.id in _RESOLVABLE_READINGS)
                              and is_resolved(text, raw.end)),
                    past=_past(text, raw, concept.category),
                    uncertain=is_hedged(text, raw.start),
                    subject=subject,
                    via=raw.via,
                    value=raw.value,
                )
            )
        return _told_for_comparison(text, _negate_lists(text, mentions))

    def subjects(self, text: str, mentions: list[Mention], context: str | None = None) -> Subjects:
        """Who is spoken of where in ``text``, from its ``mentions`` (:meth:`find`); ``context`` is the
        third party of earlier turns, a pronoun's antecedent when this text names nobody before it."""
        return _subjects(text, [(m.concept, m.category, m.start, m.end) for m in mentions], context)

    def _clause_raws(self, clause: str) -> tuple[_Raw, ...]:
        return _cached_raws(self, clause)

    def _match_clause(self, clause: str) -> tuple[_Raw, ...]:
        compact, positions = _without_pauses(clause)
        if compact != clause:  # the recogniser's pause inside a phrase (头痛 欲裂) is no word break
            return tuple(_Raw(r.concept, positions[r.start], positions[r.end - 1] + 1, r.via, r.value)
                         for r in self._match_clause(compact))
        found = self._literal(clause)
        found.extend(self._misheard(clause, found))
        return tuple(_longest_per_concept(found))

    def _literal(self, clause: str) -> list[_Raw]:
        """Literal and regex forms in ``clause``, less those inside a ``not_in`` word."""
        found: list[_Raw] = []
        for position, char in enumerate(clause):
            for form, number in self._forms.get(char, ()):
                if clause.startswith(form, position):
                    found.append(_Raw(number, position, position + len(form), "form"))
        for number, pattern in self._patterns:
            found.extend(_Raw(number, m.start(), m.end(), "pattern") for m in pattern.finditer(clause) if m.end() > m.start())
        return [raw for raw in found if not self._blocked(clause, raw)]

    def _blocked(self, clause: str, raw: _Raw) -> bool:
        for word in self._blockers.get(raw.concept, ()):
            start = clause.find(word, max(0, raw.end - len(word)))
            while start != -1 and start <= raw.start:
                if start + len(word) >= raw.end:
                    return True
                start = clause.find(word, start + 1)
        return False

    def _misheard(self, clause: str, literal: list[_Raw]) -> list[_Raw]:
        """Forms heard as homophones (传不上气 for 喘不上气, 太动 for 胎动), only where nothing literal
        matched (:mod:`medical_terms.concepts.sounds`); then the clause re-spelled with them is matched
        again, so that compound forms and patterns are heard too (嗓子肚的荒 → 嗓子堵得慌)."""
        if not self._sounds:
            return []
        words = [(raw.start, raw.end) for raw in literal if raw.via == "form"]
        heard = self._sounds.find(clause, words)
        sites = [(r.concept, r.end) for r in literal] + [(h.concept, h.end) for h in heard]
        heard += self._sounds.find_after_sites(clause, words, sites)
        respelled, changed = respell(clause, heard)
        # A form heard inside a word that is not it (手抖 is no seizure's 抖得厉害) does not count.
        found = [_Raw(h.concept, h.start, h.end, "pinyin") for h in heard if h.concept != WORD]
        found = [raw for raw in found if not self._blocked(clause, raw) and not self._blocked(respelled, raw)]
        if any(changed):
            known = {(r.concept, r.start, r.end) for r in (*literal, *found)}
            for raw in self._literal(respelled):
                if (any(changed[raw.start:raw.end]) and (raw.concept, raw.start, raw.end) not in known
                        and self.concepts[raw.concept].pinyin):
                    found.append(_Raw(raw.concept, raw.start, raw.end, "pinyin"))
        return found


_FINDINGS = ("symptom", "sign")
_LIST_JOINER = re.compile(r"[、和或及与跟/]*")


def _negate_lists(text: str, mentions: list[Mention]) -> list[Mention]:
    """One negation covers a list: "没有胸闷、胸痛", "没有胸闷胸痛" (the second finding names the same
    site inside the first). Without a joiner or a shared site it does not ("没发烧头疼" is a headache)."""
    result = list(mentions)
    previous: Mention | None = None
    for index, mention in enumerate(result):
        if mention.category not in _FINDINGS:
            continue
        if previous is not None and previous.negated and not mention.negated and previous.end <= mention.start:
            between = text[previous.end:mention.start]
            sites = [m for m in result if m.category == "site" and previous.end <= m.start and m.end <= mention.start]
            shared = bool(sites) and all(
                any(s.concept == inner.concept and previous.start <= inner.start and inner.end <= previous.end
                    for inner in result if inner.category == "site")
                for s in sites
            )
            joiner = between
            for site in sorted(sites, key=lambda m: -m.start):
                joiner = joiner[:site.start - previous.end] + joiner[site.end - previous.end:]
            if _LIST_JOINER.fullmatch(joiner) and (joiner or shared or not sites):
                result[index] = replace(mention, negated=True)
                for site in sites:
                    result[result.index(site)] = replace(site, negated=True)
        previous = result[index]
    return result


def _subjects(text: str, found: list[tuple[str, str, int, int]], context: str | None = None) -> Subjects:
    """The subject model over ``(concept, category, start, end)`` of every mention: people not inside a
    longer person word, and the findings a person word inside changes no subject in."""
    people = [f for f in found if f[1] == "person"]
    people = [p for p in people if not any(o is not p and o[2] <= p[2] and p[3] <= o[3] and o[3] - o[2] > p[3] - p[2]
                                           for o in people)]
    inside = [(f[2], f[3]) for f in found if f[1] not in _SUBJECT_SPAN_CATEGORIES]
    return Subjects(text, [Named(p[0], p[2], p[3], text[p[2]:p[3]]) for p in people], inside, context)


_NAMED = ("sign.stroke_named",)
_DENIAL = re.compile(r"不|没")
# The caller asks about their own health (a check-up), not for help with the other person.
_OWN_CHECK = re.compile(r"检查|查查|查一下|查一查|体检|看看我|我会不会|我要不要|我也要|预防")
_HELP = re.compile(r"怎么办|咋办|咋整|咋弄|快来|快点|救命|赶紧|120|来人|急死")
_NAMED_CATEGORIES = ("diagnosis",)


def _told_for_comparison(text: str, mentions: list[Mention]) -> list[Mention]:
    """Someone else's named illness told as the reason for the caller's own worry: the caller then denies
    findings of their own and asks about their own health ("邻居老头中风了，我嘴不歪手也有劲，想做个检查").
    The illness is told about, like 电视里讲的, not happening here. Signs described of that person
    ("邻居嘴歪了") stay current, and so does any call for help (怎么办, 快来, 120)."""
    result = list(mentions)
    for index, mention in enumerate(result):
        if not ((mention.concept in _NAMED or mention.category in _NAMED_CATEGORIES)
                and mention.subject not in (None, "person.self") and mention.current):
            continue
        later = [m for m in result if m.start >= mention.end]
        described = any(m.subject == mention.subject and not m.negated and m.category in _FINDINGS
                        and m.concept != mention.concept for m in later)
        denied_by_caller = any(m.subject == "person.self" and m.category in (*_FINDINGS, "site")
                               and (m.negated or _DENIAL.search(text, *clause_bounds(text, m.start)))
                               for m in later)
        rest = text[mention.end:]
        if denied_by_caller and not described and _OWN_CHECK.search(rest) and not _HELP.search(rest):
            result[index] = replace(mention, past=True)
    return result


def _past(text: str, raw: _Raw, category: str) -> bool:
    if category in _EXPERIENCE_CATEGORIES and is_experienced(text, raw.start, raw.end):
        return True
    if category in _SPAN_PAST_CATEGORIES:
        return is_past(text, raw.start) or is_past(text, raw.start, raw.end, within_span=True)
    return is_past(text, raw.start, raw.end if category in _CHRONIC_CATEGORIES else None)


def _clauses(text: str) -> list[str]:
    """``text`` cut after each clause break, the breaks kept, so offsets add up."""
    pieces = []
    last = 0
    for match in CLAUSE_BREAK.finditer(text):
        pieces.append(text[last:match.end()])
        last = match.end()
    if last < len(text):
        pieces.append(text[last:])
    return pieces


def _without_pauses(clause: str) -> tuple[str, list[int]]:
    """``clause`` without single spaces between two Chinese characters (where the recogniser heard a
    pause), and each remaining character's index in ``clause``."""
    kept = [i for i, char in enumerate(clause)
            if not (char == " " and 0 < i < len(clause) - 1 and is_hanzi(clause[i - 1]) and is_hanzi(clause[i + 1]))]
    return "".join(clause[i] for i in kept), kept


def _longest_per_concept(found: list[_Raw]) -> list[_Raw]:
    """Drop a match inside a longer match of the same concept."""
    found.sort(key=lambda r: (r.concept, r.start, -(r.end - r.start)))
    kept: list[_Raw] = []
    for raw in found:
        previous = kept[-1] if kept else None
        if previous and previous.concept == raw.concept and raw.start < previous.end and raw.via != "reader":
            continue
        kept.append(raw)
    return kept


@lru_cache(maxsize=8192)
def _cached_raws(matcher: ConceptMatcher, clause: str) -> tuple[_Raw, ...]:
    return matcher._match_clause(clause)


@lru_cache(maxsize=1)
def _matcher() -> ConceptMatcher:
    return ConceptMatcher(load_concepts())
