"""What a mention's context says about it: resolved now, in the past, hedged, and about whom.

Negation lives in :mod:`medical_terms.concepts.negation`. The time and trend words are descriptor
concepts of ``data/time.json`` (``desc.time_past``, ``desc.since``, ``desc.time_recent``,
``desc.earlier_day``, ``desc.chronic``, ``desc.resolved``, ``desc.over_now``, ``desc.relapse``,
``desc.told_about``), read here as regexes over their forms. A resolution ("一会儿就好了", "血已经止住了";
not a mere improvement: 好多了, 缓解了) in the same or the next clause marks a symptom as over; a past
marker earlier in the clause ("以前", "去年", "上周") marks it as history unless a since follows the marker
(上周开始头疼 is a current complaint); an episode of an earlier day that is over now, or told with the
experiential 过 (前两天胸口疼过) and nothing recent in its clause (刚才晕过一次 is now), is past; a hedge
("好像", "可能") marks it uncertain but keeps it (over-triage is the safe side). Clause boundaries are
punctuation; a sentence ends at 。！？.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

CLAUSE_BREAK = re.compile(r"[，,；;：:、。！!？?\n…]+|\s{2,}")
SENTENCE_BREAK = re.compile(r"[。！!？?\n]")

# Time and trend words are data (``data/time.json``, descriptor concepts): see :func:`_words`.
# A question echoed and denied: "呕血？没有没有".
_DENIED_AFTER = re.compile(r"\s*[？?]\s*(?:没有|没|不是|不|无|哪有)")
# An act only meant, not done ("今晚想全吃了", "打算把药都喝了"): the intent is a finding of its own.
_INTENDED = re.compile(r"(?:想|要|打算|准备|想着|寻思着?|说要|说想|计划)(?:把[^，。,；;]{0,6})?(?:全|都|就|马上|一下子|一口气)?$")
_HEDGE = re.compile(r"好像|可能|也许|是不是|不知道是不是|怀疑|似乎|像是|说不好|不确定|估计|大概是")


_BREAK_CHARS = frozenset("，,；;：:、。！!？?\n…")
# The experiential aspect: 疼过, 晕过一回, 低血糖过 (not 过去 passing out, 过来, 过敏, 过量, 过度, 过头, 过了 beyond).
_SINCE_WITHIN = 4  # 上周就开始, 去年起: a since this close after a past marker dates an onset
_EXPERIENCED = re.compile(r"(?:了)?过(?![去来敏量度劳头了分])")


def clause_bounds(text: str, index: int) -> tuple[int, int]:
    """(start, end) of the clause holding ``text[index]`` (a scan of that clause only)."""
    start = index
    while start > 0 and text[start - 1] not in _BREAK_CHARS:
        start -= 1
    end = index
    while end < len(text) and text[end] not in _BREAK_CHARS:
        end += 1
    return start, end


_RESOLUTION_CLAUSES = 2


@cache
def _words(concept_id: str) -> re.Pattern[str]:
    """One time or trend descriptor of ``data/time.json`` as a regex over its forms and patterns."""
    data = json.loads(resources.files("medical_terms.concepts.data").joinpath("time.json").read_text("utf-8"))
    for concept in data["concepts"]:
        if concept["id"] == concept_id:
            forms = sorted(concept.get("forms", ()), key=len, reverse=True)
            return re.compile("|".join([*(re.escape(form) for form in forms), *concept.get("patterns", ())]))
    raise KeyError(f"time descriptor {concept_id!r} not in data/time.json")


def _past_marker(text: str, start: int, end: int) -> re.Match[str] | None:
    """A past or told-about marker in ``text[start:end]`` that dates no current complaint (上周开始头疼
    is a complaint that began last week, not history)."""
    since = _words("desc.since")
    for match in _words("desc.time_past").finditer(text, start, end):
        if since.search(text, match.end(), min(end, match.end() + _SINCE_WITHIN)) is None:
            return match
    return _words("desc.told_about").search(text, start, end)


def is_experienced(text: str, start: int, end: int) -> bool:
    """Whether a finding is told as an experience of an earlier day, over since: the aspect 过 right
    after it (疼过, 低血糖过一回) with an earlier day or the past before it in its clause, and nothing
    recent there (刚才晕过一次 is now)."""
    if _EXPERIENCED.match(text, end) is None:
        return False
    clause_start, clause_end = clause_bounds(text, start)
    if _words("desc.time_recent").search(text, clause_start, clause_end) is not None:
        return False
    return (_words("desc.earlier_day").search(text, clause_start, start) is not None
            or _past_marker(text, clause_start, start) is not None)


def is_over_since_earlier_day(text: str, end: int) -> bool:
    """Whether the finding ending at ``end`` is an episode on an earlier day (前天, 上周) that is over
    now, said later in its sentence with no relapse after ("前天胸口疼…医生说没事，今天也不疼了")."""
    clause_start = clause_bounds(text, max(end - 1, 0))[0]
    if _words("desc.earlier_day").search(text, clause_start, end) is None:
        return False
    sentence_end = SENTENCE_BREAK.search(text, end)
    stop = sentence_end.start() if sentence_end else len(text)
    over_now = _words("desc.over_now").search(text, end, stop)
    return over_now is not None and _words("desc.relapse").search(text, over_now.end(), stop) is None


def is_resolved(text: str, end: int) -> bool:
    """Whether a resolution follows the mention ending at ``end``, in its clause or the next two of
    its sentence ("胸口有点闷，活动以后更明显，休息一会就好了"), or, for an episode on an earlier day, a
    "now it is over" anywhere later in the sentence ("前天胸口疼…，今天也不疼了")."""
    if is_over_since_earlier_day(text, end):
        return True
    limit = clause_bounds(text, max(end - 1, 0))[1]
    for _ in range(_RESOLUTION_CLAUSES):
        following = CLAUSE_BREAK.match(text, limit)
        if following is None or SENTENCE_BREAK.search(following.group()):
            break
        after = CLAUSE_BREAK.search(text, following.end())
        limit = after.start() if after else len(text)
    resolution = _words("desc.resolved").search(text, end, limit)
    if resolution is None:
        return False
    # "平时含个药就好，今天含了三片都不管用": what usually helps did not help this time.
    return _words("desc.relapse").search(text, resolution.end(), limit) is None


def is_past(text: str, start: int, end: int | None = None, within_span: bool = False) -> bool:
    """Whether a past marker stands earlier in the mention's clause, or a long-standing one
    ("好多年了", "留下的") later in it or in the next clause; ``within_span``: inside the mention
    (a value read as 血压以前一百八十多)."""
    clause_start, clause_end = clause_bounds(text, start)
    if within_span:
        return end is not None and _past_marker(text, start, end) is not None
    if _past_marker(text, clause_start, start) is not None:
        return True
    if end is None:
        return False
    following = CLAUSE_BREAK.match(text, clause_end)
    if following is not None and not SENTENCE_BREAK.search(following.group()):
        after = CLAUSE_BREAK.search(text, following.end())
        clause_end = after.start() if after else len(text)
    return _words("desc.chronic").search(text, end, clause_end) is not None


def is_denied_after(text: str, end: int) -> bool:
    """Whether the mention is a question the caller answers no to at once ("呕血？没有")."""
    return _DENIED_AFTER.match(text, end) is not None


def is_hedged(text: str, start: int) -> bool:
    """Whether a hedge stands shortly before the mention, in its clause."""
    clause_start = max(clause_bounds(text, start)[0], start - 8)
    return _HEDGE.search(text, clause_start, start) is not None


def is_intended(text: str, start: int) -> bool:
    """Whether the act matched at ``start`` is only intended ("想全吃了", "准备把药都喝了"), in its clause."""
    clause_start = max(clause_bounds(text, start)[0], start - 12)
    return _INTENDED.search(text[clause_start:start]) is not None
