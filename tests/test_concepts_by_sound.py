"""The concept layer hears red-flag words through misrecognition (medical_terms/concepts/sounds.py): the
recogniser's own homophone confusions applied to every red-flag rule's examples still raise the flag,
and sound-alike everyday words do not.

``data/recogniser_homophones.json`` is the recogniser's most frequent homophone per character, taken
from Whisper base transcripts of the triage tuning vignettes spoken by the project's voice
(``python -m evals.triage.confusions``).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from dialogue.safety import SafetyRules
from medical_terms.concepts import ConceptMatcher, load_concepts
from medical_terms.concepts.sounds import SoundIndex, is_dominant_homophone

RULES = SafetyRules.load()
MATCHER = ConceptMatcher.load()
HOMOPHONES: dict[str, str] = json.loads(
    (Path(__file__).parent / "data" / "recogniser_homophones.json").read_text("utf-8")
)["confusions"]
_RULE_DATA = json.loads(resources.files("dialogue.data").joinpath("red_flags.json").read_text("utf-8"))["rules"]


def _codes(text: str) -> set[str]:
    return {hit.code for hit in RULES.check(text)}


def _misheard_examples() -> list[tuple[str, str, str]]:
    """(code, example, the example with one character replaced by the homophone the recogniser
    writes for it), for every example of every rule that fires as written."""
    cases = []
    for rule in _RULE_DATA:
        for example in rule["examples"]:
            for index, char in enumerate(example):
                if char in HOMOPHONES:
                    cases.append((rule["code"], example, example[:index] + HOMOPHONES[char] + example[index + 1 :]))
    return cases


MISHEARD = _misheard_examples()


def test_the_recognisers_confusions_mostly_keep_the_flag() -> None:
    """Over all rules' examples with one character misheard as the recogniser mishears it, at least
    80% still raise their flag (characters only: 83% with the sound layer, 73% before it). What stays
    lost is mostly values (高鸭一百九, 以百九) and a word that became another real word (抽搐 → 抽出)."""
    firing = [(code, heard) for code, example, heard in MISHEARD if code in _codes(example)]
    kept = [heard for code, heard in firing if code in _codes(heard)]
    assert len(firing) >= 100
    assert len(kept) / len(firing) >= 0.80


@pytest.mark.parametrize(
    ("code", "heard"),
    [
        # issue 18's own examples, as Whisper base wrote them
        ("cardiac_arrest", "孩子掉水里刚捞上来 脸发子 布呼吸了"),
        ("chest_pain_acs", "暗心口握腾的厉害 还一直出冷汗"),
        ("anaphylaxis", "吃了个芒果 血脱肿了 嗓子肚的荒。"),
        # from the tuning transcripts: a form heard by sound opens a compound form or a pattern
        ("major_bleeding", "流鼻血流了半个多响时了 怎么按都只不住你?"),
        ("unconscious", "我爸喝完酒睡过去了 怎么叫都叫不行?"),
        ("pregnancy_emergency", "怀孕35周 今天一整天都没感觉到太动力。"),
        ("major_trauma", "孩子从二牛扬台摔下来了。"),
        ("poisoning", "我把一平安眠要都吃了。"),
        ("severe_dyspnea", "我妈有慢阻肺 今天传得比平时厉害 说话都接不上去。"),
        ("unconscious", "我南乃乃向午开始说话添三导寺的 叫也不应"),
        # a pause the recogniser wrote as a space inside a phrase
        ("severe_headache", "头痛 欲裂 从来没这么疼过"),
    ],
)
def test_misheard_red_flag_words_still_raise_the_flag(code: str, heard: str) -> None:
    assert code in _codes(heard)


@pytest.mark.parametrize(
    "text",
    [
        "这两个药的名字很相似",  # xiang si: 相似 is a word, not 想死
        "指甲剪短了，有点疼",  # 指甲 is not 支架
        "孩子说科学课没听懂",  # 科学 is not 咳血
        "俺闺女说总是睡不着，想来看看",  # 是睡 cuts 总是; shi shui is 失水 more than 嗜睡
        "我妈既行越来越差了，东西放哪儿转头就忘",  # ji xing: 急性, 畸形, 记性... left alone
        "度期周围疼了半天，慢慢跑到右下边了",  # du qi: 毒气, 赌气 or 肚脐: left alone
        "老伴手斗的厉害，拿筷子都抖",  # 斗 only rhymes with 抽: no seizure
        "手腕割了个小口子，已经贴了创可贴",  # 贴 is no near 跳
        "发烧三十九度五，浑身酸痛，两天了",  # a numeral is never re-spelled: 度五 is no 毒物
        "月经量少了，周期也乱",  # a particle pair: 少了 is no 烧了
        "我归你十岁，肚子疼了一上午",  # 我 said: 我归 is no 卧轨
    ],
)
def test_sound_alike_everyday_words_raise_nothing(text: str) -> None:
    assert _codes(text) == set()


def test_a_misheard_look_alike_gains_no_flag_by_sound(monkeypatch: pytest.MonkeyPatch) -> None:
    """The look-alikes of the safety tests, misheard the recogniser's way but for their negation words
    (a misheard negation, 眉有 for 没有, makes no look-alike any more): whatever they raise, the
    characters alone raise too (没说国想死: the negation's scope is lost before this layer)."""
    from tests.test_safety_rules import LOOK_ALIKES

    heard = ["".join(char if char in "没不无未别非否" else HOMOPHONES.get(char, char) for char in text)
             for text in LOOK_ALIKES if not _codes(text)]
    by_sound = [_codes(text) for text in heard]
    literal_only = ConceptMatcher(load_concepts())
    literal_only._sounds = SoundIndex(())
    monkeypatch.setattr(ConceptMatcher, "load", classmethod(lambda cls: literal_only))
    by_characters = [_codes(text) for text in heard]
    assert len(heard) >= 20
    gained = [(t, s - c) for t, s, c in zip(heard, by_sound, by_characters, strict=True) if s - c]
    # Known, and older than the pair/near layer: mei qi le is 煤气了 and 没气了 alike, and the recogniser
    # wrote neither (煤奇了). Only the dialogue's next question tells them apart.
    assert gained == [("用了煤奇了，做饭呢", {"cardiac_arrest", "unconscious"})]


def test_sound_matches_say_how_they_were_found() -> None:
    mentions = MATCHER.find("吃了个芒果 嗓子肚的荒")
    swelling = [m for m in mentions if m.concept == "sign.airway_swelling"]
    assert swelling and swelling[0].via == "pinyin" and swelling[0].surface == "嗓子肚"
    # what was said literally is not re-read: 煤气 stays a gas source, not 没气
    assert not any(m.concept == "sign.apnea" for m in MATCHER.find("家里煤气没关"))


def test_a_homophone_must_be_what_the_sound_most_likely_says() -> None:
    assert is_dominant_homophone("阳台", ("yang", "tai"))
    assert is_dominant_homophone("胎动", ("tai", "dong"))  # 台东 is a place name
    assert not is_dominant_homophone("肚脐", ("du", "qi"))
    assert not is_dominant_homophone("嗜睡", ("shi", "shui"))
