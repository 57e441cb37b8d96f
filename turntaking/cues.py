"""Mandarin text cues for turn-taking, read from an (interim) transcript.

Whisper's punctuation is unreliable on a clause cut at a pause, so the cues look at words: a
turn that ends in a connective (然后, 还有, 就是, 那个 ...) or in a number that can still grow
(一百八十 -> 一百八十五) is unfinished; one that ends in a sentence-final particle (吗, 呢, 吧,
了 ...) is likely finished, and one that ends as a question (吗, 吧, ？) hands the turn over; a
transcript that is only a backchannel (嗯, 对, 好的 ...) is
feedback to the speaker, not a turn.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pypinyin import lazy_pinyin

_PUNCTUATION = re.compile(r"[\s，。！？、,.!?;；:：…~～\"'“”‘’()（）]+")

BACKCHANNELS = frozenset(
    {
        "嗯", "嗯嗯", "嗯嗯嗯", "恩", "唔", "对", "对对", "对对对", "对的", "好", "好的", "好好", "好好好",
        "是", "是的", "是是", "是啊", "哦", "噢", "喔", "哦哦", "啊", "呃", "额", "嗯好", "嗯对", "行",
        "行的", "可以", "明白", "知道了", "好吧", "嗯是的", "对啊", "没错",
        # Thanks mid-reply is feedback too, and Whisper writes a short hum (嗯, 0.26 s) as 谢谢.
        "谢谢", "谢谢你", "谢谢您", "多谢",
    }
)

# Words that announce more to come when they end a turn.
CONTINUATIONS = (
    "然后", "还有", "就是", "那个", "这个", "而且", "但是", "可是", "所以", "因为", "或者", "还是",
    "以及", "另外", "比如", "包括", "如果", "虽然", "不过", "再", "和", "跟", "还", "也", "又", "就",
    "的话", "我想", "我是", "我有", "我要", "就是说", "就说",
)
# A connective the caller trails off on, as Whisper base writes it (by toneless pinyin): 就是 as
# 就熟 / 就数 / 就输, 那个 as 纳肯 / 纳肚. Over Opus smart-turn scored 我想问一下就熟 above its
# "unfinished" line and the agent cut the caller off; no complete sentence ends in these sounds.
_MISHEARD_CONTINUATIONS = frozenset({("jiu", "shu"), ("na", "ken"), ("na", "du")})

# Endings that usually close a Mandarin sentence.
FINAL_PARTICLES = ("吗", "呢", "吧", "了", "啦", "嘛", "呀", "的", "没有", "不是", "可以", "谢谢")
# Of those, the ones that close a question and hardly ever a clause. 了 closes clauses all the
# time (我爸爸七十八岁了，最近老是忘事), 呢 and 嘛 mark a topic (我妈妈呢，…), so they do not count.
QUESTION_PARTICLES = ("吗", "吧", "么")

_DIGITS = "0123456789零一二两三四五六七八九"
# A number ending in a unit word or a decimal point expects more digits (一百八十 -> 一百八十五,
# 三十八点 -> 三十八点五); 一百五 is colloquially complete (150). 一点 after a word is "a little"
# (再开一点, 好一点), not a decimal point. Whisper writes 一百八十 as 180: the same number, as open.
_OPEN_NUMBER = re.compile(
    rf"[{_DIGITS}](十|百|千|万)$|(?:[{_DIGITS}十百]一|[{_DIGITS.replace('一', '')}十])点$|(?<![.\d])[1-9]\d*0$"
)


_TRAILING_NUMBER = re.compile(rf"[{_DIGITS}十百千万点]+$")
# Words before the last number that make it the second of a pair.
_PAIR_CLOSERS = ("比", "/", "低压", "舒张压", "到")


def core(text: str) -> str:
    """The transcript without punctuation and spaces."""
    return _PUNCTUATION.sub("", text)


# 好的 / 是的 / 对的 / 行的 end in a short neutral-tone 的 that Whisper base, above all after Opus,
# hears with a nasal coda: 好灯, 适等 (2 of 6 backchannels over WebRTC interrupted the agent).
_DE_BACKCHANNEL_HEADS = frozenset({"hao", "shi", "dui", "xing"})
_REDUCED_DE = frozenset({"de", "deng", "den"})


def is_backchannel(text: str) -> bool:
    """True when the whole transcript is feedback (嗯, 对, 好的 ...), possibly repeated."""
    words = core(text)
    if not words:
        return False
    if words in BACKCHANNELS or _sounds_like_de_backchannel(words):
        return True
    # 嗯嗯好的, 对对对是的: a run of backchannels.
    return _split_backchannels(words)


def _sounds_like_de_backchannel(words: str) -> bool:
    if len(words) != 2:
        return False
    head, tail = lazy_pinyin(words)
    return head in _DE_BACKCHANNEL_HEADS and tail in _REDUCED_DE


def _split_backchannels(words: str) -> bool:
    if not words:
        return True
    return any(words.startswith(b) and _split_backchannels(words[len(b):]) for b in BACKCHANNELS)


# One end-of-turn decision asks this of the same transcript up to three times (directly, and
# through ends_final and ends_question), and each answer converts the ending to pinyin.
@lru_cache(maxsize=256)
def ends_unfinished(text: str) -> bool:
    """True when the transcript ends in a connective or in a number that can still grow."""
    words = core(text)
    if not words:
        return False
    return words.endswith(CONTINUATIONS) or _ends_open_number(words) or _sounds_like_continuation(words)


def _sounds_like_continuation(words: str) -> bool:
    return len(words) >= 2 and tuple(lazy_pinyin(words[-2:])) in _MISHEARD_CONTINUATIONS


def _ends_open_number(words: str) -> bool:
    """一百八十 or 180 may still grow; the second number of a pair (一百四十比九十, 低压九十) is done."""
    if _OPEN_NUMBER.search(words) is None:
        return False
    number = _TRAILING_NUMBER.search(words)
    assert number is not None  # an open number ends in these characters
    return not words[:number.start()].endswith(_PAIR_CLOSERS)


def ends_final(text: str) -> bool:
    """True when the transcript ends in a sentence-final particle or a question mark."""
    return _ends_in(text, FINAL_PARTICLES)


def ends_question(text: str) -> bool:
    """True when the transcript ends as a question (吗 / 吧 / 么, or a question mark): the caller
    hands the turn over, where a final particle such as 了 may only close a clause."""
    return _ends_in(text, QUESTION_PARTICLES)


def _ends_in(text: str, particles: tuple[str, ...]) -> bool:
    if text.strip().endswith(("？", "?")):
        return True
    return core(text).endswith(particles) and not ends_unfinished(text)
