"""Values as callers say them, generated: every spelling of a reading (positional 一百四十五, clipped
一百四, digit by digit 一四五), said with a pause, a 比 or none at all (一八五一百一), approximate (一百八十几,
快两百), corrected (六，六点七; 不对/哦是), and the property that matters most: a reading is either the value
said or it is not taken (asked again), never another value."""

from __future__ import annotations

import itertools

import pytest

from dialogue.followup.program import Program
from dialogue.followup.values import read_blood_pressure, read_glucose, read_heart_rate
from medical_terms.numerals import read_amount, read_count, spoken_number

HTN = Program.load("hypertension")
GLUCOSE_RANGE = Program.load("diabetes").ranges["glucose"]
_DIGIT_WORDS = "零一二三四五六七八九"


def spellings(value: int) -> set[str]:
    """The ways a whole number of two or three digits is said: 一百四十, 一百四 (clipped), 一四零."""
    said = {spoken_number(value)}
    digits = str(value)
    if not (len(digits) == 2 and int(digits[1]) == int(digits[0]) + 1):  # 七八 is "seven or eight"
        said.add("".join(_DIGIT_WORDS[int(c)] for c in digits))
    if value >= 100 and value % 10 == 0 and value % 100:
        said.add(spoken_number(value)[:-1])  # 一百四十 → 一百四
    if value >= 200:
        said |= {s.replace("二百", "两百", 1) for s in said}
    return said


SYSTOLIC = (96, 110, 128, 140, 145, 168, 180, 185, 196, 202)
DIASTOLIC = (60, 78, 85, 90, 95, 100, 104, 110, 116)
PAIRS = [(s, d) for s, d in itertools.product(SYSTOLIC, DIASTOLIC) if s - d >= 20]


@pytest.mark.parametrize(("systolic", "diastolic"), PAIRS)
@pytest.mark.parametrize("between", ["，", "比", "、", "的", " "])
def test_every_spelling_of_a_pair_with_a_pause(systolic: int, diastolic: int, between: str) -> None:
    for high, low in itertools.product(spellings(systolic), spellings(diastolic)):
        reading = read_blood_pressure(f"{high}{between}{low}", HTN.ranges)
        assert reading.ok, (high, low, reading)
        assert reading.values == {"systolic": systolic, "diastolic": diastolic}


@pytest.mark.parametrize(("systolic", "diastolic"), PAIRS)
def test_a_pair_run_together_is_read_or_asked_again_never_misread(systolic: int, diastolic: int) -> None:
    taken = 0
    for high, low in itertools.product(spellings(systolic), spellings(diastolic)):
        reading = read_blood_pressure(high + low, HTN.ranges)
        if reading.ok:
            taken += 1
            assert reading.values == {"systolic": systolic, "diastolic": diastolic}, (high + low, reading)
        else:
            assert reading.status in ("ambiguous", "approximate"), (high + low, reading)
    assert taken >= 1


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("一八五一百一", (185, 110)),
        ("一六八九五", (168, 95)),
        ("一五零九十", (150, 90)),
        ("幺四八九十", (148, 90)),
        ("一八零九十五", (180, 95)),
        ("一百四九十", (140, 90)),
        ("两百一百二", (200, 120)),
    ],
)
def test_compact_readings(said: str, expected: tuple[int, int]) -> None:
    reading = read_blood_pressure(said, HTN.ranges)
    assert reading.ok and (reading.values["systolic"], reading.values["diastolic"]) == expected


def test_a_run_with_two_exact_readings_is_read_back_not_trusted() -> None:
    reading = read_blood_pressure("一百四十八九十", HTN.ranges)  # 148/90, or 140 and 80-90
    assert reading.ok and reading.alternatives


@pytest.mark.parametrize(
    "said", ["一百一十，七八", "一四五七八", "一百六十，一百四十，九十", "一百五十，九十五，一百四十，九十"]
)
def test_neighbouring_digits_may_be_a_range_so_not_taken(said: str) -> None:
    assert not read_blood_pressure(said, HTN.ranges).ok


@pytest.mark.parametrize(
    ("said", "low", "high"),
    [
        ("一百八十几", 181, 189),
        ("一百八十多", 181, 189),
        ("快两百", 190, 200),
        ("一百七八十", 170, 180),
        ("一百三四", 130, 140),
        ("两百出头", 201, 250),
        ("超过两百", 200, float("inf")),
        ("一百四左右", 130, 150),
        ("十七点几", 17.1, 17.9),
        ("二点几", 2.1, 2.9),
        ("三点多", 3.1, 3.9),
        ("十几", 11, 19),
        ("九十七八", 97, 98),
    ],
)
def test_approximate_numbers_are_intervals(said: str, low: float, high: float) -> None:
    amount = read_amount(said)
    assert amount is not None and not amount.exact
    assert amount.low == pytest.approx(low, abs=0.01) and amount.high == pytest.approx(high, abs=0.01)


@pytest.mark.parametrize("said", ["一百八十几，一百", "高压快两百了", "一百三四，九十", "上面一百五十多"])
def test_approximate_pressure_is_never_a_value(said: str) -> None:
    reading = read_blood_pressure(said, HTN.ranges)
    assert reading.status == "approximate" and not reading.values and reading.bounds


@pytest.mark.parametrize("tenths", range(11, 300, 7))
@pytest.mark.parametrize(
    "form", ["{v}", "空腹{v}", "早上测的{v}", "{v}毫摩尔", "呃，那个，{v}吧", "血糖仪上显示{v}"]
)
def test_glucose_in_words(tenths: int, form: str) -> None:
    value = tenths / 10
    reading = read_glucose(form.format(v=spoken_number(value)), GLUCOSE_RANGE)
    assert reading.ok and reading.values == {"glucose": value}


@pytest.mark.parametrize(
    ("said", "value"),
    [
        ("六，六点七", 6.7),
        ("呃，那个，我看看啊，六，六点七", 6.7),
        ("十，十点四", 10.4),
        ("六点八，哦是六点四", 6.4),
        ("七点二，不对，七点八", 7.8),
        ("六点八，不是，是六点四", 6.4),
        ("七点…哦不对，那是上礼拜的，今天测的六点四", 6.4),
        ("空腹六点二，饭后十一点五", 6.2),
        ("饭后十一点五，空腹六点二", 6.2),
        ("七块二", 7.2),
        ("我七十三了，空腹六点八", 6.8),
        ("十二块五", 12.5),
        ("昨天七点九，今天六点一", 6.1),
    ],
)
def test_glucose_corrected_or_told_with_another_reading(said: str, value: float) -> None:
    reading = read_glucose(said, GLUCOSE_RANGE)
    assert reading.ok and reading.values == {"glucose": value}


@pytest.mark.parametrize("said", ["六点二，六点八", "七点多", "六点几吧", "测了三回，六点一，六点三，六点二"])
def test_glucose_not_guessed(said: str) -> None:
    assert not read_glucose(said, GLUCOSE_RANGE).ok


@pytest.mark.parametrize(
    ("said", "bounds"),
    [
        ("血糖仪上就显示个HI，没有数字", (33.3, float("inf"))),
        ("测出来是LO", (float("-inf"), 1.1)),
        ("血糖仪上显示的是H I", (33.3, float("inf"))),
        ("屏幕上就一个Hi", (33.3, float("inf"))),
    ],
)
def test_meter_off_scale(said: str, bounds: tuple[float, float]) -> None:
    reading = read_glucose(said, GLUCOSE_RANGE)
    assert reading.status == "off_scale" and reading.bounds == {"glucose": bounds}


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("一百五，不对，是一百四十五比九十", (145, 90)),
        ("一百五，哦是一百四十五，九十", (145, 90)),
        ("昨天一百六十，一百，今天一百四十，九十", (140, 90)),
        ("一直都是一百四十，九十", (140, 90)),
        ("一百四十八，九十四，心率七十八", (148, 94)),
        ("上面那个数是一百六十三，下面那个九十九", (163, 99)),
        ("我今年七十三了，早上量的一百四十，九十", (140, 90)),
        ("一百四十五，九十，七十二", (145, 90)),  # the monitor's order: SYS, DIA, PULSE
        ("血压计上一百三十八，八十六，脉搏六十八", (138, 86)),
        ("老头子八十二了，耳朵背，今早给他量的，一百五十六，九十二", (156, 92)),
        ("排队排了老半天，那机器打出来个条子，上头写的一百九十一，九十八", (191, 98)),
    ],
)
def test_pressure_corrected_or_with_other_numbers(said: str, expected: tuple[int, int]) -> None:
    reading = read_blood_pressure(said, HTN.ranges)
    assert reading.ok and (reading.values["systolic"], reading.values["diastolic"]) == expected


@pytest.mark.parametrize(
    ("said", "values"),
    [
        ("高压一百八十一", {"systolic": 181}),
        ("低压九十七", {"diastolic": 97}),
        ("下面那个九十九", {"diastolic": 99}),
    ],
)
def test_one_half_is_kept_for_the_next_turn(said: str, values: dict[str, float]) -> None:
    reading = read_blood_pressure(said, HTN.ranges)
    assert reading.status == "incomplete" and reading.values == values


@pytest.mark.parametrize("rate", range(40, 181, 9))
def test_heart_rate_spellings(rate: int) -> None:
    for said in spellings(rate) | {f"一分钟{spoken_number(rate)}下", f"心跳{spoken_number(rate)}次"}:
        reading = read_heart_rate(said, HTN.ranges["heart_rate"])
        assert reading.ok and reading.values == {"heart_rate": rate}, said


@pytest.mark.parametrize(
    ("said", "low", "high"),
    [("五六", 5, 6), ("两三", 2, 3), ("七八", 7, 8), ("好几", 3, 9), ("三", 3, 3), ("十来", 9, 11)],
)
def test_counts_read_neighbouring_digits_as_a_range(said: str, low: float, high: float) -> None:
    count = read_count(said)
    assert count is not None and (count.low, count.high) == (low, high)
    assert read_amount("五六") is None  # as a measured value: 56, or five or six?
