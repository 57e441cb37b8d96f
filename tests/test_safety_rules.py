"""Red-flag rules case by case: every code with a positive, a negated and a colloquial phrasing;
numbers (blood pressure, glucose, infant fever with age); who is affected; stickiness."""

from __future__ import annotations

import csv
import json
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


# How callers really say it (issue 17): relatives describing signs, metaphors, durations in words,
# product names, intent without the word, devices, context, dialect, misheard spellings.
GENERALISES: list[tuple[str, str]] = [
    ("cardiac_arrest", "叫他眼睛都不睁，一下一下地倒气"),
    ("cardiac_arrest", "孩子吃果冻噎住了，脸憋紫了，现在软了，不动也不喘"),
    ("cardiac_arrest", "他刚才还说话呢，一下就趴桌上了，我摸他手腕没跳了"),
    ("unconscious", "老人摔了一跤以后一直犯困"),
    ("unconscious", "俺爷这会子咋叫都不吱声"),
    ("chest_pain_acs", "心里头像火烧一样，出了一身冷汗"),
    ("chest_pain_acs", "前胸闷了快半个钟头了"),
    ("chest_pain_acs", "心绞痛又犯了，平时含个药五分钟就好，今天含了三片都不管用"),
    ("chest_pain_acs", "凶口疼，出冷寒"),
    ("stroke", "俺娘一边胳膊腿都不听使唤了"),
    ("stroke", "我同事突然听不懂我们说啥了，自己说的话也乱七八糟"),
    ("stroke", "我妈说看东西一半看不见了"),
    ("severe_dyspnea", "血氧仪才八十几"),
    ("severe_dyspnea", "刚做完手术，腿肿了，还喘"),
    ("severe_dyspnea", "传不上气了"),
    ("anaphylaxis", "吃了个腰果，现在嗓子眼像被掐住了一样"),
    ("major_bleeding", "吐了小半盆血"),
    ("major_bleeding", "孩子鼻子流血流了四十分钟"),
    ("major_bleeding", "他吐雪了"),
    ("suicidal", "我不想再拖累家里了"),
    ("suicidal", "跟家里人都交代好了"),
    ("suicidal", "我已经站在阳台上了"),
    ("suicidal", "我妈说她死了就不用花钱治病了，今天把金镯子都分给我们了"),
    ("seizure", "嘴边有白沫，手脚一抽一抽的"),
    ("severe_abdominal_pain", "肚子像拧麻花一样疼，疼得直打滚"),
    ("severe_abdominal_pain", "妈的肚子疼了四个小时了，一动都不敢动，十分的话十分"),
    ("severe_headache", "头像要炸开"),
    ("severe_headache", "发烧，脖子硬，身上有出血点"),
    ("severe_headache", "我在吃华法林，今天早上突然头疼得很厉害，一直恶心"),
    ("hypertensive_crisis", "我测了三遍，都是一百八十多，一百一十几"),
    ("hypoglycemia", "血糖仪显示二点几"),
    ("hyperglycemia_severe", "血糖仪显示HI"),
    ("infant_fever", "我家小宝七周大，体温计显示三十九度"),
    ("pregnancy_emergency", "怀孕三十八周了，孩子从昨晚就没怎么动"),
    ("poisoning", "吃了老鼠药"),
    ("poisoning", "屋里生着炉子，一家人都头疼恶心"),
    ("poisoning", "喝了假酒，眼睛看不清"),
    ("poisoning", "我爷爷打农药的时候没戴口罩，回来就头晕流汗，瞳孔很小"),
    ("major_trauma", "俺兄弟叫牛顶了，胸口塌下去一块，喘气疼"),
    ("major_trauma", "从两米多高的台子上跳下来，腰疼得直不起来"),
    ("poisoning", "孩子吃了几粒奶奶的降压药"),
    ("anaphylaxis", "过敏性休克"),
    ("pregnancy_emergency", "先兆子痫"),
    ("hyperglycemia_severe", "酮症酸中毒"),
    ("chest_pain_acs", "胸口疼了半小时，后来自己好了"),
    ("seizure", "浑身哆嗦不停，叫不应"),
]

LOOK_ALIKES = [
    "偶尔胸口闷，一会儿就好了",
    "胸口有点闷，活动以后更明显，休息一会就好了，这两周开始的",
    "吃了海鲜身上起了几块风团，很痒，嘴唇不肿，喘气也正常",
    "我儿子不爱出门，没说过想死",
    "血压以前一百八十多，现在吃药控制在一百三左右，来开药",
    "呕血？没有没有，就是胃镜复查",
    "老太太嘴有点歪了好多年了，以前中风留下的，没变化",
    "怀孕十六周，感冒发烧三十八度，肚子不疼不出血",
    "嘴没歪，说话也清楚，就是右手小指头有点麻，一个多月了",
    "我不想活动，腿疼",
    "手腕割了个小口子，已经贴了创可贴",
    "我血糖一直控制不好，今天六点八",
    "孩子的哮喘这半年都没犯，想问问要不要继续喷药",
    "想开点降压药和降糖药，都吃了好多年了",
    "症状相似，指甲疼",
    "用了煤气了，做饭呢",
    "嗓子哑了，说话费劲",
    "流鼻血，一会儿就止住了",
    "没有胸闷胸痛，就是心跳有点快，喝了咖啡",
    "孩子吃了点过期饼干，没什么反应，要紧吗",
    "喝了假酒？没有，就是眼睛看东西有一片雪花",
    "孩子发烧吃了退烧药",
    "我们家煤气灶坏了，想问问哪里修",
]


@pytest.mark.parametrize(("code", "text"), GENERALISES, ids=[t for _, t in GENERALISES])
def test_emergencies_however_they_are_said(code: str, text: str) -> None:
    assert code in _codes(text)


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_negated_resolved_past_and_look_alike_phrasings_raise_nothing(text: str) -> None:
    assert _codes(text) == set()


def test_every_rule_names_known_concepts_and_keeps_its_source() -> None:
    raw = json.loads(resources.files("dialogue.data").joinpath("red_flags.json").read_text("utf-8"))
    assert [rule["code"] for rule in raw["rules"]] == list(RULES.codes)
    assert all(rule["source"] and rule["patterns"] for rule in raw["rules"])


def test_an_unknown_concept_in_a_rule_is_an_error() -> None:
    from dialogue.safety import _compile

    with pytest.raises(ValueError, match="unknown concept"):
        _compile({"any": ["sym.no_such_thing"]}, {"sym.pain"})


@pytest.mark.parametrize(
    ("text", "code", "fires"),
    [
        ("肚子胀得像鼓，疼得受不了", "severe_abdominal_pain", True),
        ("胸口这块儿呢，疼得要命", "chest_pain_acs", True),
        ("肚子不疼，头疼得要命", "severe_abdominal_pain", False),
        ("胸口没事，疼的是肚子", "chest_pain_acs", False),
        ("胸口还好，腿疼得要命", "chest_pain_acs", False),
    ],
)
def test_a_finding_in_the_next_clause_belongs_to_the_site_before_it(text: str, code: str, fires: bool) -> None:
    assert (code in _codes(text)) is fires


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("血压一百九一百一十", "hypertensive_crisis"),
        ("孩子刚生下来十几天发烧三十八度", "infant_fever"),
        ("血糖二十七一直口渴尿特别多", "hyperglycemia_severe"),
        ("我爸胸口疼得厉害一直冒冷汗", "chest_pain_acs"),
        ("孩子发烧抽过去了翻白眼嘴唇发紫", "seizure"),
    ],
)
def test_recognised_speech_without_punctuation(text: str, code: str) -> None:
    assert code in _codes(text)


def test_pain_that_stops_a_movement_is_no_weakness() -> None:
    assert "stroke" not in _codes("腰突然扭了疼得动不了")
