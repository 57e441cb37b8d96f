"""Specificity guard for the safety floor: everyday sentences raise no red flag. A red flag in a
follow-up call ends it with a 120 instruction, so a sound-alike everyday word (不怎么运动 heard as
不怎么应, 尿特别多 as 量特别多) is a harm, not a curiosity.

Three sources, all checked with the floor itself (``SafetyFloor.check``):

- the non-alert follow-up answers and the level-3/4 triage texts of the training sets (never the
  blind sets);
- ``data/everyday_sentences.json``: lifestyle, medication, diet, exercise, urination and sleep
  sentences written with the common words the sound layer could re-spell;
- every frequent word of jieba's dictionary (two to four characters, not a proper noun) in a short
  carrier sentence, less the listed words that are themselves red-flag words.
"""

from __future__ import annotations

import json
from pathlib import Path

import jieba
import pytest

from dialogue.safety_floor import SafetyFloor

FLOOR = SafetyFloor.load()
DATA = json.loads((Path(__file__).parent / "data" / "everyday_sentences.json").read_text("utf-8"))
ROOT = Path(__file__).parent.parent
_FOLLOWUP_SETS = ("followup_calls.jsonl", "followup_train_new.jsonl", "followup_train_k.jsonl")
_TRIAGE_SETS = (
    "triage_vignettes.jsonl",
    "triage_holdout.jsonl",
    "triage_train_new.jsonl",
    "triage_train_m.jsonl",
)
# Frequent enough to be everyday speech: about 12,000 words of two to four characters.
_MIN_WORD_FREQUENCY = 300
_PROPER_NOUN_TAGS = ("nr", "ns", "nt", "nz")


def _codes(text: str, spoken_values: bool = True) -> list[str]:
    return [hit.code for hit in FLOOR.check([text], spoken_values=spoken_values)]


def _training_texts() -> list[tuple[str, str, bool]]:
    """(case id, text, whether spoken values count) for the follow-up answers of calls that expect no
    alert and the triage texts of level 3 or 4; training sets only."""
    texts = []
    for name in _FOLLOWUP_SETS:
        path = ROOT / "evals" / "followup" / "data" / name
        for line in path.read_text("utf-8").splitlines():
            call = json.loads(line)
            if not call["expect"].get("alert"):
                texts.extend((call["id"], answer, False) for answer in call["answers"] if answer)
    for name in _TRIAGE_SETS:
        path = ROOT / "evals" / "triage" / "data" / name
        for line in path.read_text("utf-8").splitlines():
            case = json.loads(line)
            if case["level"] >= 3:
                texts.append((case["id"], case["text"], True))
    return texts


def _frequent_words() -> list[str]:
    with jieba.get_dict_file() as handle:
        text = handle.read().decode("utf-8")
    words = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or not 2 <= len(parts[0]) <= 4 or int(parts[1]) < _MIN_WORD_FREQUENCY:
            continue
        if not all("\u4e00" <= char <= "\u9fff" for char in parts[0]):
            continue
        if len(parts) > 2 and parts[2].startswith(_PROPER_NOUN_TAGS):
            continue
        words.append(parts[0])
    return words


def test_training_texts_without_an_alert_raise_no_red_flag() -> None:
    texts = _training_texts()
    assert len(texts) >= 800
    known = DATA["known_misses"]
    flagged = {case: (text, codes) for case, text, spoken in texts if (codes := _codes(text, spoken))}
    assert {case: flagged[case] for case in flagged if case not in known} == {}


def test_everyday_sentences_raise_no_red_flag() -> None:
    sentences = DATA["sentences"]
    assert len(sentences) >= 150
    flagged = {
        text: codes for text in sentences if (codes := _codes(text) or _codes(text, spoken_values=False))
    }
    assert flagged == {}


def test_frequent_dictionary_words_raise_no_red_flag() -> None:
    words = _frequent_words()
    assert len(words) >= 10000
    exceptions = DATA["word_exceptions"]
    flagged = {word: codes for word in words if word not in exceptions and (codes := _codes(f"最近{word}"))}
    assert flagged == {}
    # every exception is still a frequent word, and still a red-flag word (else drop it from the list)
    assert set(exceptions) <= set(words)
    assert all(_codes(f"最近{word}") for word in exceptions)


@pytest.mark.parametrize(
    ("text", "sounds_like"),
    [
        ("平时不怎么运动", "不怎么应 (unconscious): 运 is a character of 运动, which the window cuts"),
        ("最近尿特别多", "量特别多 (heavy bleeding): niao is two steps from liang, not near"),
        ("昨天开始尿特别多，口渴，人没劲", "量特别多 (heavy bleeding)"),
        ("他在球队里打中锋", "中风 (stroke): 中锋 is a word that was said"),
        ("这个程序是我儿子编写的", "便血 (bleeding): 编写 is a word that was said"),
        ("医保卡快到期了", "捯气 (agonal breathing): 到期 is a word that was said"),
    ],
)
def test_sound_alike_everyday_words_are_not_re_spelled(text: str, sounds_like: str) -> None:
    assert _codes(text) == [], sounds_like
