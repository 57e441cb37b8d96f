"""The subject model: whose symptom is it? Age, pregnancy and infant rules bind a finding to the person
it is said about; red flags fire whoever has them, and the 120 instruction names the patient."""

from __future__ import annotations

import pytest

from dialogue import Reply, create_dialogue
from dialogue.people import Person
from dialogue.safety_floor import SafetyFloor
from medical_terms.concepts import ConceptMatcher, people_lexicon

FLOOR = SafetyFloor.load()
MATCHER = ConceptMatcher.load()


def _codes(*turns: str) -> list[str]:
    return [hit.code for hit in FLOOR.check(list(turns))]


def _subject(text: str, concept: str) -> str | None:
    return next(m.subject for m in MATCHER.find(text) if m.concept == concept)


@pytest.mark.parametrize(("text", "concept", "subject"), [
    ("宝宝两个月，我自己发烧三十八度五", "sym.fever", "person.self"),
    ("宝宝两个月，我自己发烧三十八度五", "reading.age_days", "person.child"),
    ("孩子两个月，发烧了", "sym.fever", "person.child"),  # the topic carries over the clause
    ("我给孩子量了体温，三十八度五", "reading.temperature", "person.child"),  # the caller measuring
    ("我妈胸口疼，她还出冷汗", "sign.cold_sweat", "person.parent"),  # a pronoun's antecedent
    ("我是他女儿，他胸口疼", "sym.pain", "person.other"),  # the caller's role names no patient
    ("满月的娃儿发烧三十九", "sym.fever", "person.child"),
    ("俺娘心口窝疼", "sym.pain", "person.parent"),
    ("老头子喘不上气", "sym.dyspnea_severe", "person.elder"),
    ("邻居大爷倒地上叫不醒了", "sign.unresponsive", "person.elder"),
    ("我妈陪我来的，我胸口疼", "sym.pain", "person.self"),  # relative and patient both mentioned
])
def test_a_finding_belongs_to_the_person_it_is_said_about(text: str, concept: str, subject: str) -> None:
    assert _subject(text, concept) == subject


@pytest.mark.parametrize(("turns", "flagged"), [
    (("宝宝两个月，我自己发烧三十八度五",), False),  # the mother's fever beside her baby's age
    (("我在喂奶，左边乳房红肿疼，发烧三十八度五，宝宝两个月挺好的没发烧",), False),
    (("我刚生完孩子两个月，我发烧三十八度五",), False),
    (("我还在坐月子，发烧三十八度五",), False),
    (("宝宝两个月", "我自己发烧三十八度五，还能喂奶吗"), False),
    (("宝宝两个月，发烧三十八度五",), True),
    (("两个月大的孩子发烧了",), True),
    (("我家宝宝两个月", "现在三十八度六"), True),
    (("满月的娃儿发烧三十九",), True),
    (("宝宝两个月，我摸着他额头很烫，发烧了",), True),  # the caller only touched the baby
    (("宝宝一个月，我这边用体温计量的三十八度五",), True),  # the caller measured
    (("九十天以内算小婴儿吧？我家是八十五天，烧到三十八度六",), True),
])
def test_infant_fever_is_the_infants_own(turns: tuple[str, ...], flagged: bool) -> None:
    assert ("infant_fever" in _codes(*turns)) is flagged


@pytest.mark.parametrize(("text", "flagged"), [
    ("我老婆怀孕五个月，我肚子疼得厉害", False),  # the husband's pain
    ("我怀孕了，我儿子流鼻血", False),
    ("我老婆怀孕五个月，她肚子疼得厉害", True),
    ("闺女怀孕八个月，肚子突然疼，还出血", True),
    ("我怀孕七个月，肚子里的宝宝不动了", True),  # the fetus is the pregnancy's own finding
])
def test_a_pregnancy_binds_to_the_pregnant_persons_findings(text: str, flagged: bool) -> None:
    assert ("pregnancy_emergency" in _codes(text)) is flagged


def test_the_fetus_not_moving_is_no_cardiac_arrest() -> None:
    codes = _codes("我怀孕七个月，肚子里的宝宝不动了")
    assert "cardiac_arrest" not in codes and "unconscious" not in codes
    assert "unconscious" in _codes("宝宝不动了，叫也不应")  # a baby born is a patient


@pytest.mark.parametrize(("turns", "relation", "age_group"), [
    (("俺娘胸口疼",), "parent", None),
    (("老头子喘不上气",), "elder", "elderly"),
    (("我妈说孩子发烧",), "child", "child"),
    (("他胸口疼",), "other", "adult"),
    (("宝宝两个月，我自己发烧三十八度五",), "self", None),
    (("我妈陪我来的，我胸口疼",), "self", None),
    (("我爸胸口疼", "我也有点头晕"), "parent", None),  # the patient is the first one a finding names
    (("宝宝两个月", "我自己发烧三十八度五"), "self", None),
    (("我邻居大爷倒地上了",), "elder", "elderly"),
    (("他妈的，我胸口疼得出冷汗",), "self", None),  # an oath names nobody
    (("我胸口疼得出冷汗", "不是我，是我妈"), "parent", None),  # the caller corrects who it is
    (("不是我妈，是我奶奶喘不上气",), "elder", "elderly"),
    (("嗯，那个，就是，俺娘，嗯，胸口疼",), "parent", None),  # fillers
])
def test_the_patient_is_whom_the_findings_are_about(turns: tuple[str, ...], relation: str,
                                                     age_group: str | None) -> None:
    person = Person()
    for turn in turns:
        person.update(turn)
    assert (person.relation, person.age_group) == (relation, age_group)


def test_each_persons_age_is_their_own() -> None:
    person = Person()
    person.update("宝宝两个月，我自己发烧三十八度五")
    assert person.age_days is None and person.adult
    person = Person()
    person.update("孩子三个月大")
    assert (person.relation, person.age_days, person.adult) == ("child", 90, False)


def test_one_people_lexicon() -> None:
    lexicon = people_lexicon()
    relations = {concept["id"]: concept["relation"] for concept in lexicon["concepts"]}
    assert relations["person.parent"] == "parent" and relations["person.other"] == "other"
    assert lexicon["ages"]["infant_fever_age_days"] == 90
    assert "source" in lexicon and "source" in lexicon["ages"]


async def _first_turn(utterance: str) -> list[Reply]:
    dialogue = create_dialogue("triage", call_id="subjects")
    [_ async for _ in dialogue.open()]
    return [reply async for reply in dialogue.handle(utterance)]


@pytest.mark.parametrize(("utterance", "code", "who"), [
    ("我邻居老王突然说话不清，嘴歪了，吃饭还往外漏", "stroke", "病人"),
    ("妈的，我邻居大爷倒地上叫不醒了，嗯，那个，没气了", "cardiac_arrest", "老人"),
    ("不是我，是我妈胸口疼得出冷汗", "chest_pain_acs", None),
])
async def test_an_emergency_of_someone_else_is_still_an_emergency(utterance: str, code: str, who: str | None) -> None:
    replies = await _first_turn(utterance)
    words = "".join(reply.text for reply in replies)
    emergency = next(reply for reply in replies if reply.meta.get("red_flags"))
    assert code in emergency.meta["red_flags"] and "120" in words  # the caller is told to call 120
    if who is not None:
        assert who in words and "给您" not in words


@pytest.mark.parametrize(("text", "flagged"), [
    # someone else's stroke told as the reason for the caller's own worry: no emergency here
    ("邻居老头中风了，我嘴不歪手也有劲，就是心里犯嘀咕，想做个检查", False),
    ("我妈中风了，我没头晕，想问问我要不要检查，她已经在医院了", False),
    # the other person's stroke happening now stays an emergency
    ("邻居老头中风了，嘴歪了，我不会弄", True),
    ("我爸中风了，我手不抖，怎么办", True),
    ("我爸中风了，快来人", True),
])
def test_someone_elses_illness_told_for_comparison_is_not_attributed(text: str, flagged: bool) -> None:
    assert ("stroke" in _codes(text)) is flagged
