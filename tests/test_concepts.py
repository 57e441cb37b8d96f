"""The concept layer: surface forms (lay, metaphorical, dialect, misheard), scope (negation,
resolution, past, subject), readers (durations, device readings), data hygiene and speed."""

from __future__ import annotations

import statistics
import time

import pytest

from medical_terms.concepts import CATEGORIES, ConceptMatcher, load_concepts
from medical_terms.concepts.readers import number

MATCHER = ConceptMatcher.load()


def _current(text: str) -> set[str]:
    return {m.concept for m in MATCHER.find(text) if m.current}


def _all(text: str) -> set[str]:
    return {m.concept for m in MATCHER.find(text)}


def test_every_concept_has_a_category_a_label_a_source_and_a_form() -> None:
    for concept in load_concepts():
        assert concept.category in CATEGORIES, concept.id
        assert concept.label and concept.source, concept.id
        if concept.category not in ("duration", "reading"):
            assert concept.forms or concept.patterns, concept.id


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("心口窝疼", "site.chest"),
        ("心里头像火烧", "sym.burning"),
        ("像被车碾过", "sym.pressure"),
        ("头像要炸开", "desc.bursting"),
        ("叫他眼睛都不睁", "sign.unresponsive"),
        ("一下一下地倒气", "sign.agonal"),
        ("嘴边有白沫", "sign.seizure"),
        ("脸色灰白", "sign.pallor"),
        ("吃了老鼠药", "sub.rodenticide"),
        ("屋里生着炉子", "sub.co_source"),
        ("不想再拖累家里了", "intent.ideation"),
        ("跟家里人都交代好了", "intent.plan"),
        ("俺娘", "person.parent"),
        ("娃儿", "person.child"),
        ("腰眼", "site.flank"),
        ("胳肢窝", "site.armpit"),
        ("脑瓜子", "site.head"),
        ("以前放过支架", "hx.cardiac"),
    ],
)
def test_lay_metaphorical_and_dialect_forms(text: str, concept: str) -> None:
    assert concept in _all(text)


@pytest.mark.parametrize(
    ("heard", "concept"),
    [("传不上气", "sym.dyspnea_severe"), ("心口沃疼", "site.chest"), ("叫不性", "sign.unresponsive")],
)
def test_misheard_spellings_match_by_pinyin(heard: str, concept: str) -> None:
    found = [m for m in MATCHER.find(heard) if m.concept == concept]
    assert found


def test_a_real_word_is_not_reread_as_a_homophone() -> None:
    assert "sign.apnea" not in _all("用了煤气了")  # 煤气了 sounds like 没气了


@pytest.mark.parametrize(
    ("text", "concept", "current"),
    [
        ("没有出冷汗", "sign.cold_sweat", False),
        ("胸口疼，没有出冷汗", "sym.pain", True),
        ("妈的不想活了", "intent.ideation", True),
        ("他妈的喘不上气", "sym.dyspnea_severe", True),
        ("胸口有点闷，一会儿就好了", "sym.tightness", False),
        ("血已经止住了", "sign.bleeding", False),
        ("膝盖上个月摔了一下", "event.fall", False),
        ("晕倒了，现在好了", "sign.syncope", True),  # an event stays an event
        ("心跳停了，呼吸也停了", "sign.no_pulse", True),
        ("我老公喝了农药，大概十分钟以前", "sub.pesticide", True),  # 十分钟以前 is recent
    ],
)
def test_scope_negation_resolution_and_past(text: str, concept: str, current: bool) -> None:
    assert (concept in _current(text)) is current


def test_a_correction_negates_only_what_it_corrects() -> None:
    sides = {m.surface: m.negated for m in MATCHER.find("不是左边，是右边没劲") if m.concept == "site.one_side"}
    assert sides == {"左边": True, "右边": False}


def test_subject_is_the_nearest_person_named_before() -> None:
    mentions = MATCHER.find("我没事，是俺娘胸口疼")
    pain = next(m for m in mentions if m.concept == "sym.pain")
    assert pain.subject == "person.parent"
    assert next(m for m in MATCHER.find("孩子发烧") if m.concept == "sym.fever").subject == "person.child"


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("快半个钟头了", 30), ("疼了一上午", 180), ("前后得有二十分钟", 20), ("一个半小时", 90), ("十几分钟", 15)],
)
def test_durations_in_words(text: str, minutes: float) -> None:
    values = [m.value for m in MATCHER.find(text) if m.concept == "dur.minutes"]
    assert values == [minutes]


def test_ages_and_points_in_time_are_not_durations() -> None:
    assert "dur.minutes" not in _all("孩子两个月大") | _all("两天前")


@pytest.mark.parametrize(
    ("text", "concept", "values"),
    [
        ("血氧仪才八十几", "reading.spo2", [85.0]),
        ("血糖仪显示二点几", "reading.glucose", [2.5]),
        ("血糖仪显示HI", "reading.glucose", [float("inf")]),
        ("血糖仪测不出来", "reading.glucose", [float("inf"), 0.0]),
    ],
)
def test_device_readings(text: str, concept: str, values: list[float]) -> None:
    assert [m.value for m in MATCHER.find(text) if m.concept == concept] == values


@pytest.mark.parametrize(("spoken", "value"), [("八十几", 85), ("二十几", 25), ("十几", 15), ("一百二", 120)])
def test_approximate_numbers_read_at_their_middle(spoken: str, value: float) -> None:
    assert number(spoken) == value


def test_not_in_words_block_a_form() -> None:
    assert "site.head" not in _all("吃了头孢")
    assert "sign.bleeding" not in _all("量了血压")
    assert "person.parent" not in _all("妈的")


def test_matching_a_growing_transcript_is_fast() -> None:
    turns = ["我爸刚才在厕所里倒下了", "叫了半天没动静", "也不出气了", "他以前有冠心病，放过支架", "血压一直高"]
    transcript = ""
    times = []
    for turn in turns * 4:
        transcript += turn + "。"
        started = time.perf_counter()
        MATCHER.find(transcript)
        times.append((time.perf_counter() - started) * 1000)
    assert statistics.median(times) < 20


@pytest.mark.parametrize(
    ("heard", "concept"),
    [("他吐雪了", "sign.hematemesis"), ("孩子抽疯了", "sign.seizure"), ("老人婚迷了", "sign.unresponsive")],
)
def test_two_character_terms_misheard_with_the_same_sound(heard: str, concept: str) -> None:
    assert concept in _all(heard)


@pytest.mark.parametrize("text", ["症状相似", "指甲疼", "我想轻声说"])
def test_common_words_that_sound_like_a_term_stay_themselves(text: str) -> None:
    assert not {m.concept for m in MATCHER.find(text) if m.via == "pinyin"}


@pytest.mark.parametrize(
    ("text", "systolic", "diastolic"),
    [
        ("我测了三遍，都是一百八十多，一百一十几", 185, 115),
        ("血压一直在一百八九十", 185, None),
        ("高压一百九十，低压一百一十五", 190, 115),
    ],
)
def test_blood_pressure_readings(text: str, systolic: float, diastolic: float | None) -> None:
    found = {m.concept: m.value for m in MATCHER.find(text) if m.concept.startswith("reading.bp")}
    assert found.get("reading.bp_systolic") == systolic
    assert found.get("reading.bp_diastolic") == diastolic


@pytest.mark.parametrize(
    ("text", "days"),
    [("我家小宝七周大", 49), ("小宝贝五十多天，发烧", 50), ("我家宝宝生下来才十来天", 10), ("孩子一个半月，体温", 45)],
)
def test_infant_ages(text: str, days: float) -> None:
    assert [m.value for m in MATCHER.find(text) if m.concept == "reading.age_days"] == [days]


@pytest.mark.parametrize("text", ["怀孕七个月", "孩子发烧两天了", "孩子三天没拉"])
def test_pregnancy_months_and_durations_are_not_ages(text: str) -> None:
    assert "reading.age_days" not in _all(text)


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("俺爹血糖高，测出来十七", "reading.glucose"),
        ("我闺女一型糖尿病，今早测出来一点八", "reading.glucose"),
    ],
)
def test_a_value_said_after_glucose_was_named(text: str, concept: str) -> None:
    assert concept in _all(text)


def test_a_lone_numeral_after_glucose_is_no_value() -> None:
    assert "reading.glucose" not in _all("我血糖一直控制不好") | _all("前两天低血糖过一回")


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("呕血？没有没有，就是胃镜复查", "sign.hematemesis"),  # a question answered no
        ("老太太嘴有点歪了好多年了，以前中风留下的", "sign.face_droop"),  # long-standing
        ("我儿子没说过想死", "intent.ideation"),
        ("血压以前一百八十多", "reading.bp_systolic"),
    ],
)
def test_denied_chronic_and_past_findings_are_not_current(text: str, concept: str) -> None:
    assert concept in _all(text)
    assert concept not in _current(text)


def test_what_usually_helps_and_did_not_today_is_no_resolution() -> None:
    assert "desc.persistent" in _current("平时含个药五分钟就好，今天含了三片都不管用")
    assert "sym.pain" in _current("心口疼，平时歇会就好，这次还是疼")


@pytest.mark.parametrize(
    ("text", "concept", "current"),
    [
        ("没有胸闷胸痛", "sym.pain", False),
        ("没有胸闷、胸痛", "sym.pain", False),
        ("没有吐血、黑便", "sign.melena", False),
        ("没发烧头疼得要命", "sym.pain", True),  # no joiner, no shared site: a new complaint
        ("头不晕头疼得要命", "sym.pain", True),
        ("没有胸闷，胸痛得厉害", "sym.pain", True),
    ],
)
def test_one_negation_covers_a_list_and_nothing_after_it(text: str, concept: str, current: bool) -> None:
    assert (concept in _current(text)) is current


@pytest.mark.parametrize(
    ("text", "concept", "value"),
    [
        ("心跳一分钟三十几下", "reading.heart_rate", 35),
        ("脉搏一百二十多次", "reading.heart_rate", 125),
        ("我爸血压一直降不下来，现在两百出头", "reading.bp_systolic", 205),
        ("血氧饱和度百分之八十五", "reading.spo2", 85),
    ],
)
def test_rates_and_pressures_in_words(text: str, concept: str, value: float) -> None:
    assert value in [m.value for m in MATCHER.find(text) if m.concept == concept]


def test_a_duration_is_no_heart_rate() -> None:
    assert "reading.heart_rate" not in _all("心跳停了三十分钟")
