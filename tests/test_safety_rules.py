"""Red-flag rules case by case: every code with a positive, a negated and a colloquial phrasing;
numbers (blood pressure, glucose, infant fever with age); who is affected; stickiness."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from dialogue.facts import Vitals
from dialogue.negation import is_negated
from dialogue.people import Person
from dialogue.safety import SafetyRules

RULES = SafetyRules.load()

# code: (positive, negated, colloquial/regional)
CASES: dict[str, tuple[str, str, str]] = {
    "cardiac_arrest": ("他没有呼吸了，也摸不到脉搏", "他有呼吸，没有呼吸困难", "老头子一头栽下去，没气了"),
    "unconscious": ("我妈叫不醒了", "人是清醒的，没有晕倒", "我外婆说胡话，不认人了"),
    "chest_pain_acs": ("胸口疼，出冷汗", "没有胸痛，就是咳嗽", "心口窝像压了块石头"),
    "stroke": ("我爸嘴歪了，右边胳膊抬不起来", "说话清楚，嘴没有歪", "我家老汉儿一边手脚都木了"),
    "severe_dyspnea": ("喘不上气，嘴唇发紫", "没有喘不上气，就是鼻塞", "憋得上不来气，躺都躺不下去"),
    "anaphylaxis": ("吃了海鲜全身起疙瘩，嗓子发紧", "吃了海鲜，起了几个疙瘩，嗓子不紧", "被马蜂蜇了，喉咙堵得慌"),
    "major_bleeding": ("今天吐血了", "不是吐血，是牙龈出血", "拉的屎黑乎乎的像柏油"),
    "suicidal": ("我不想活了", "我没有想自杀，就是压力大", "真撑不下去了，想一死了之"),
    "seizure": ("孩子在抽搐", "没有抽搐，就是发烧", "小孩抽风，口吐白沫"),
    "severe_abdominal_pain": ("肚子剧烈疼痛，摸着硬邦邦的", "肚子不疼，就是胀", "肚子疼得在床上打滚"),
    "severe_headache": ("头疼得要命，从来没这么疼过", "头不疼，就是有点晕", "脑壳疼得要炸开了"),
    "hypertensive_crisis": ("高压一百九十，低压一百一十五", "血压一百二十，八十，挺好的", "血压量出来二百一，九十"),
    "hypoglycemia": ("血糖二点八，心慌", "血糖六点五，没有心慌出汗", "打了胰岛素没吃饭，浑身哆嗦出冷汗"),
    "hyperglycemia_severe": ("空腹血糖十八点六", "空腹血糖七点二", "血糖仪测不出来，一股烂苹果味"),
    "infant_fever": ("孩子两个月大，发烧三十八度五", "孩子两个月大，没有发烧", "娃儿烧得滚烫，才一个多月"),
    "pregnancy_emergency": ("怀孕七个月，下面出血了", "怀孕五个月，没有出血也没有肚子疼", "孕晚期，宝宝今天动得很少"),
    "poisoning": ("他喝了农药", "没有吃错药，就是胃不舒服", "我爸在屋里烧炭取暖，头晕恶心"),
    "major_trauma": ("被车撞了，腿变形了", "没有被车撞，就是崴了脚", "我爷爷从楼梯上滚下来了"),
}


def _codes(text: str) -> set[str]:
    return {hit.code for hit in RULES.check(text)}


def test_every_code_of_the_red_flag_list_has_a_rule_with_a_source() -> None:
    listed = resources.files("evals.triage.data").joinpath("red_flags.tsv").read_text("utf-8")
    codes = {row["code"] for row in csv.DictReader(listed.splitlines(), delimiter="\t")}
    assert codes == set(RULES.codes) == set(CASES)
    assert all(rule.source and rule.name for rule in RULES.rules)


@pytest.mark.parametrize("code", sorted(CASES))
def test_positive_phrasing_raises_the_flag(code: str) -> None:
    assert code in _codes(CASES[code][0])


@pytest.mark.parametrize("code", sorted(CASES))
def test_negated_phrasing_does_not(code: str) -> None:
    assert code not in _codes(CASES[code][1])


@pytest.mark.parametrize("code", sorted(CASES))
def test_colloquial_phrasing_raises_the_flag(code: str) -> None:
    assert code in _codes(CASES[code][2])


def test_hits_carry_level_action_and_the_callers_words() -> None:
    hit = RULES.check("我老公喝了农药")[0]
    assert (hit.code, hit.level, hit.action) == ("poisoning", 1, "call_120_poisoning")
    assert "农药" in hit.evidence
    suicidal = RULES.check("我不想活了")[0]
    assert suicidal.action == "call_12356"


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("高压一百七十九，低压一百零九", False),
        ("高压一百八十，低压九十", True),
        ("血压一百五十over一百一十", True),
        ("血糖三点九", True),
        ("血糖四点零", False),
        ("血糖十六点七", True),
        ("血糖十六点六", False),
        ("血糖控制了三年", False),
    ],
)
def test_numeric_thresholds_are_inclusive(text: str, flagged: bool) -> None:
    numeric = {"hypertensive_crisis", "hypoglycemia", "hyperglycemia_severe"}
    assert bool(_codes(text) & numeric) is flagged


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("孩子两个月大，发烧三十八度", True),
        ("孩子两个月大，体温三十七度五", False),
        ("孩子四个月大，发烧三十八度五", False),
        ("宝宝出生十天，发热", True),  # no number: missing information never lowers urgency
        ("孩子五岁，发烧三十九度", False),
        ("我怀孕两个月，发烧三十八度", False),  # months of pregnancy are not the patient's age
    ],
)
def test_infant_fever_needs_the_patients_age(text: str, flagged: bool) -> None:
    assert ("infant_fever" in _codes(text)) is flagged


def test_age_and_values_said_in_earlier_turns_count() -> None:
    vitals, person = Vitals(), Person()
    transcript = ["我家宝宝两个月", "现在三十八度六"]
    for text in transcript:
        vitals.update(text)
        person.update(text)
    hits = RULES.check("。".join(transcript), vitals, person)
    assert [hit.code for hit in hits] == ["infant_fever"]


@pytest.mark.parametrize(
    ("text", "relation", "age_group"),
    [
        ("我爸爸胸口疼", "parent", None),
        ("孩子三个月大", "child", "infant"),
        ("我爷爷摔了", "elder", "elderly"),
        ("我七十多岁了", "self", "elderly"),
        ("我儿子三十岁", "child", "adult"),
    ],
)
def test_who_is_affected(text: str, relation: str, age_group: str | None) -> None:
    person = Person()
    person.update(text)
    assert (person.relation, person.age_group) == (relation, age_group)


@pytest.mark.parametrize(
    ("text", "term", "negated"),
    [
        ("没有胸痛", "胸痛", True),
        ("没有感觉到胸痛", "胸痛", True),
        ("没吃药胸口疼", "胸口疼", False),
        ("是不是胸痛我也说不好", "胸痛", False),
        ("不停地抽搐", "抽搐", False),
        ("发烧但是没有胸痛", "胸痛", True),
    ],
)
def test_negation_scope_is_tight(text: str, term: str, negated: bool) -> None:
    assert is_negated(text, text.index(term)) is negated


def test_most_urgent_flag_comes_first() -> None:
    hits = RULES.check("孩子在抽搐，叫不应，嘴唇发紫")
    assert hits[0].level == 1
    assert [h.level for h in hits] == sorted(h.level for h in hits)


_WRAPPERS = ("{}", "妈的{}", "他妈的{}", "草，{}", "靠{}", "卧槽{}", "嗯…那个…{}", "{}，妈的")


@pytest.mark.parametrize("rule", RULES.rules, ids=lambda rule: rule.code)
def test_every_rule_fires_on_each_of_its_examples_even_with_profanity_and_fillers(rule) -> None:
    assert 3 <= len(rule.examples) <= 8
    for example in rule.examples:
        for wrapper in _WRAPPERS:
            assert rule.code in _codes(wrapper.format(example)), wrapper.format(example)
