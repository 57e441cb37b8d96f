"""The safety floor reads a red flag however the text is written: traditional characters, full-width
digits and letters, text typed character by character, a relative named first, a denial of something
else before it. Generated from every rule's own examples, so a new rule is covered automatically.

Also the scope mechanisms that keep the level right on sentences the rules were not written from: a
range said as two numerals (一两分钟 is one or two minutes, not twelve), an act only meant (今晚想全吃了
is a plan, not an overdose), a groan when called (只会哼哼) is a response, and 睡过去 is no past.
"""

from __future__ import annotations

import pytest
from opencc import OpenCC

from dialogue.facts import Vitals
from dialogue.safety import SafetyRules
from dialogue.safety_floor import SafetyFloor, plain, readable
from medical_terms.concepts import ConceptMatcher, durations

RULES = SafetyRules.load()
FLOOR = SafetyFloor.load()
_TRADITIONAL = OpenCC("s2t")
_FULL_WIDTH = str.maketrans({str(d): chr(0xFF10 + d) for d in range(10)})

VARIANTS = {
    "traditional": lambda text: str(_TRADITIONAL.convert(text)),
    "full-width digits": lambda text: text.translate(_FULL_WIDTH),
    "typed character by character": lambda text: " ".join(text),
    "relative named first": lambda text: f"不是我，是我家老太太，{text}",
    "another finding denied first": lambda text: f"没发烧，也没拉肚子，但是{text}",
    "question around it": lambda text: f"医生我问一下，{text}，这要紧不要紧啊",
}


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for rule in RULES.rules:
        for example in rule.examples:
            if rule.code in {hit.code for hit in RULES.check(readable(example))}:
                cases.extend((rule.code, example, name) for name in VARIANTS)
    return cases


@pytest.mark.parametrize(("code", "example", "variant"), _cases())
def test_a_red_flag_survives_how_it_is_written(code: str, example: str, variant: str) -> None:
    text = VARIANTS[variant](example)
    assert code in {hit.code for hit in FLOOR.check([text])}, (variant, text)


def test_plain_text_is_simplified_with_ascii_digits_and_letters() -> None:
    assert plain("我爸剛才暈倒了，ＣＴ說３９度") == "我爸刚才晕倒了，CT说39度"
    assert plain("头发干净，后来") == "头发干净，后来"  # simplified text is left as it is


@pytest.mark.parametrize(
    ("spoken", "minutes"), [("一两分钟", 2), ("两三分钟", 3), ("三四个小时", 240), ("十二分钟", 12)]
)
def test_two_neighbouring_numerals_are_a_range_read_at_its_top(spoken: str, minutes: float) -> None:
    assert [value for _, _, _, value in durations(spoken)] == [minutes]


@pytest.mark.parametrize(
    ("meant", "done"),
    [
        ("今晚想全吃了", "今晚全吃了"),
        ("我准备把药都喝了", "我把药都喝了"),
        ("打算一口气吃了", "一口气吃了"),
    ],
)
def test_an_act_only_meant_is_not_done(meant: str, done: str) -> None:
    def ingested(text: str) -> bool:
        return any(m.concept == "sub.ingest" and m.current for m in ConceptMatcher.load().find(text))

    assert not ingested(meant)
    assert ingested(done)


@pytest.mark.parametrize(
    "text", ["叫他只会哼哼，眼睛不睁", "推他也就哼哼两声", "叫他也不怎么理人", "喊她就哼一声"]
)
def test_a_groan_when_called_is_a_response_level_two(text: str) -> None:
    hits = {hit.code: hit.level for hit in FLOOR.check([text])}
    assert hits.get("unconscious") == 2


@pytest.mark.parametrize("text", ["叫不醒，一点反应都没有", "怎么拍都不动", "掐人中也不醒"])
def test_no_response_at_all_stays_level_one(text: str) -> None:
    assert {hit.code: hit.level for hit in FLOOR.check([text])}.get("unconscious") == 1


@pytest.mark.parametrize("text", ["孩子他爹喝完酒睡过去了怎么摇都摇不醒", "人晕过去了，叫不醒"])
def test_passing_out_is_not_the_past(text: str) -> None:
    assert "unconscious" in {hit.code for hit in FLOOR.check([text])}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("我同事突然手脚抽动，一两分钟停了", 2),
        ("孩子五十天，刚才手脚一抖一抖的", 2),
        ("抽了快十分钟了还没停", 1),
    ],
)
def test_a_seizure_is_level_one_only_when_it_lasts(text: str, code: int) -> None:
    assert {hit.code: hit.level for hit in FLOOR.check([text])}.get("seizure") == code


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("我老婆说着话突然就卡住了，想说的词说不出来", None),  # speech arrest: a stroke sign, not choking
        ("孩子吃糖卡住了，脸都憋紫了", "severe_dyspnea"),
        ("刷牙牙龈出点血，好久了", None),
        ("工地上钢管砸到我师傅头上了，血流不止", "major_trauma"),
        ("我老公摔了，大腿那块儿肿得老粗，腿都歪了", "major_trauma"),
        ("我家老爷子怎么拍都不动，胸口一点起伏都没有", "cardiac_arrest"),
    ],
)
def test_unseen_phrasings(text: str, flag: str | None) -> None:
    codes = {hit.code for hit in FLOOR.check([text], Vitals())}
    if flag is None:
        assert "severe_dyspnea" not in codes and "major_bleeding" not in codes
    else:
        assert flag in codes


@pytest.mark.parametrize(
    "text",
    [
        "昨天电视里讲中风要看脸歪不歪，我照着镜子试了没事",
        "看新闻说有个小伙子打球猝死了，想查查心脏",
        "看了个电视剧里头有人跳楼，我这两天老做噩梦",
        "上次血糖二十几住过院，现在控制在七八，复查",
    ],
)
def test_what_was_seen_on_tv_or_said_of_the_past_is_no_flag(text: str) -> None:
    assert FLOOR.check([text]) == []


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("侬快点来，阿拉爷叔倒了，面孔煞白，一点气也没了", "cardiac_arrest"),
        ("侬帮帮忙，阿拉阿爸血糖廿五，吐了两趟", "hyperglycemia_severe"),
        ("血堂十九点八", "hyperglycemia_severe"),
        ("血糖仪直接显示超出范围，人软得站不住", "hyperglycemia_severe"),
        ("胸口突然像被钳子夹住，出了一身汗", "chest_pain_acs"),
        ("俺爷一边胳膊抬起来就往下掉，咧嘴的时候半边脸不动", "stroke"),
        ("切菜把手指头切了，压了十几分钟还往外冒", "major_bleeding"),
        ("孩子吃了鸡蛋羹，满身风疙瘩，一直吐", "anaphylaxis"),
        ("门窗缝我都拿胶带贴死了，炭已经点上了", "suicidal"),
    ],
)
def test_dialect_numerals_misheard_names_and_metaphors(text: str, code: str) -> None:
    assert code in {hit.code for hit in FLOOR.check([text])}


@pytest.mark.parametrize(
    ("text", "code", "level"),
    [
        (
            "被马蜂蜇了，浑身起疙瘩，叫他也不太应",
            "anaphylaxis",
            1,
        ),  # a partial response in anaphylaxis is shock
        ("我喝了半瓶百草枯，我后悔了", "suicidal", 1),
        ("他溜了冰，现在乱喊乱叫", "poisoning", 2),
        ("没呼吸了！快！", "unconscious", 1),  # no one in arrest is conscious
    ],
)
def test_implied_findings_raise_their_code_and_level(text: str, code: str, level: int) -> None:
    assert {hit.code: hit.level for hit in FLOOR.check([text])}.get(code) == level


@pytest.mark.parametrize(
    "text",
    [
        "昨天吃了一大碗猪血旺，今天大便黑乎乎的，别的都挺好",
        "在吃铋剂，大便有点黑，医生说会这样",
        "前天胸口疼去做了心电图，医生说都没事，今天也不疼了",
        "慢阻肺的，喘得比平时稍微厉害点，还能下楼遛弯",
    ],
)
def test_explained_mild_or_over_findings_raise_nothing(text: str) -> None:
    assert FLOOR.check([text]) == []


def test_black_stool_with_dizziness_is_a_bleed_whatever_was_eaten() -> None:
    assert "major_bleeding" in {hit.code for hit in FLOOR.check(["吃了猪血，大便黑乎乎的，人头晕站不住"])}
