"""What a mention's context says about it: resolved now, in the past, hedged, and about whom.

Negation lives in :mod:`medical_terms.concepts.negation`. Here: a resolution ("一会儿就好了",
"血已经止住了"; not a mere improvement: 好多了, 缓解了) in the same or the next clause marks a symptom as over; a past marker earlier in the
clause ("以前", "去年", "上个月") marks it as history; a hedge ("好像", "可能") marks it uncertain but
keeps it (over-triage is the safe side). Clause boundaries are punctuation; a sentence ends at 。！？.
"""

from __future__ import annotations

import re

CLAUSE_BREAK = re.compile(r"[，,；;：:、。！!？?\n…]+|\s{2,}")
SENTENCE_BREAK = re.compile(r"[。！!？?\n]")

_RESOLVED = re.compile(
    r"(?<![没不未还备攒代说想弄收排])(?:好了|就好|缓过来|没事了|停了|停下来了|止住了|(?<![睡晕昏死厥])过去了|消了|"
    r"消下去了|退了|退下去了|恢复了|正常了|缓过劲|没感觉了)|(?:已经|现在|后来|就|又)(?:不疼了|不痛了|不闷了|不喘了|没那么[疼痛]了)"
)
# 以前/之前 right after a time span is recent ("十分钟以前"), not history.
_PAST = re.compile(
    r"(?<![0-9一二两三四五六七八九十几半钟时天周月年])(?:以前|之前)|去年|前年|小时候|年轻(?:的)?时候|曾经|(?<![睡晕昏死厥抽])过去|那年|"
    r"[几好多两三四五六七八九十]+年前|早年|上个月|上上个月|上次|上回|前几年|老毛病|既往|十几年|好多年|"
    # told about, not happening to the caller: 电视里讲中风要看脸歪不歪, 看新闻说有个小伙子猝死了
    r"电视里|电视上|电视剧|看新闻|新闻里|新闻上|新闻说|网上说|网上看|视频里|书上说|听人说|听别人说|电影里"
)
# Later in the clause: a long-standing finding, not a new one ("嘴有点歪了好多年了，以前中风留下的").
_CHRONIC_AFTER = re.compile(r"(?:好多|好几|十几|几十|多|几|[两三四五六七八九十]+)年了?|老毛病|留下的|后遗症|一直这样|从小就")
# A question echoed and denied: "呕血？没有没有".
_DENIED_AFTER = re.compile(r"\s*[？?]\s*(?:没有|没|不是|不|无|哪有)")
# An act only meant, not done ("今晚想全吃了", "打算把药都喝了"): the intent is a finding of its own.
_INTENDED = re.compile(r"(?:想|要|打算|准备|想着|寻思着?|说要|说想|计划)(?:把[^，。,；;]{0,6})?(?:全|都|就|马上|一下子|一口气)?$")
_HEDGE = re.compile(r"好像|可能|也许|是不是|不知道是不是|怀疑|似乎|像是|说不好|不确定|估计|大概是")


_BREAK_CHARS = frozenset("，,；;：:、。！!？?\n…")


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
_RELAPSE = re.compile(r"还是|又开始|又疼|又痛|又来了|又犯|不管用|没用|不见效|不行了")


# An episode on an earlier day, over now later in the sentence: "前天胸口疼去做了心电图，医生说都没事，今天也不疼了".
_EARLIER_DAY = re.compile(r"昨天|昨晚|昨儿|前天|大前天|前几天|前两天|上周|上个?星期|上个?礼拜|那天")
_OVER_NOW = re.compile(r"(?:今天|现在|目前|这会儿?|眼下)[^，。,；;]{0,3}(?:不疼了|不痛了|不闷了|不喘了|好了|没事了|没感觉了|不难受了)")


def is_resolved(text: str, end: int) -> bool:
    """Whether a resolution follows the mention ending at ``end``, in its clause or the next two of
    its sentence ("胸口有点闷，活动以后更明显，休息一会就好了"), or, for an episode on an earlier day, a
    "now it is over" anywhere later in the sentence ("前天胸口疼…，今天也不疼了")."""
    clause_start = clause_bounds(text, max(end - 1, 0))[0]
    if _EARLIER_DAY.search(text, clause_start, end) is not None:  # an episode on an earlier day…
        sentence_end = SENTENCE_BREAK.search(text, end)
        stop = sentence_end.start() if sentence_end else len(text)
        over_now = _OVER_NOW.search(text, end, stop)  # …that is over today
        if over_now is not None and _RELAPSE.search(text, over_now.end(), stop) is None:
            return True
    limit = clause_bounds(text, max(end - 1, 0))[1]
    for _ in range(_RESOLUTION_CLAUSES):
        following = CLAUSE_BREAK.match(text, limit)
        if following is None or SENTENCE_BREAK.search(following.group()):
            break
        after = CLAUSE_BREAK.search(text, following.end())
        limit = after.start() if after else len(text)
    resolution = _RESOLVED.search(text, end, limit)
    if resolution is None:
        return False
    # "平时含个药就好，今天含了三片都不管用": what usually helps did not help this time.
    return _RELAPSE.search(text, resolution.end(), limit) is None


def is_past(text: str, start: int, end: int | None = None, within_span: bool = False) -> bool:
    """Whether a past marker stands earlier in the mention's clause, or a long-standing one
    ("好多年了", "留下的") later in it or in the next clause; ``within_span``: inside the mention
    (a value read as 血压以前一百八十多)."""
    clause_start, clause_end = clause_bounds(text, start)
    if within_span:
        return end is not None and _PAST.search(text, start, end) is not None
    if _PAST.search(text, clause_start, start) is not None:
        return True
    if end is None:
        return False
    following = CLAUSE_BREAK.match(text, clause_end)
    if following is not None and not SENTENCE_BREAK.search(following.group()):
        after = CLAUSE_BREAK.search(text, following.end())
        clause_end = after.start() if after else len(text)
    return _CHRONIC_AFTER.search(text, end, clause_end) is not None


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
