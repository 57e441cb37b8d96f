"""Property tests of spoken numbers and the values read from them (issue 22): invariants over generated
input, not examples.

- Nothing that reads a number or a measured value raises, whatever the text (each declares no error).
- A value said in Chinese words reads back as that value (render -> read: ``spoken_number`` then
  ``read_amount`` / ``parse_number`` / ``to_number``), digit by digit too (一八五 = 185).
- A read interval is an interval (low <= high), exact only when it is one point.
- 一百八十五比一百一十二 in a blood-pressure context is 185/112 mmHg; 三十七度六 is 37.6 ℃.
- No reader returns a value outside its physiological range without saying so: a follow-up
  ``Reading`` is ``ok`` only inside the programme's ranges (else ``out_of_range``, ``approximate``,
  ``off_scale``...), the triage facts and the concept readers drop what is out of range, and a
  glucose meter past its scale is the explicit ``inf``/``0``.
"""

from __future__ import annotations

import math
import re

from hypothesis import example, given
from hypothesis import strategies as st

from dialogue import facts
from dialogue.followup import values
from dialogue.followup.program import Program
from evals.reliability.number_fuzz import SPOKEN_PIECES
from medical_terms import normalize_numbers, parse_number, read_blood_pressure, spoken_number, to_number
from medical_terms.blood_pressure import SYSTOLIC_RANGE
from medical_terms.concepts import readers
from medical_terms.numerals import read_amount, read_count, spoken_amounts, two_way_splits

DIGIT_WORDS = "零一二三四五六七八九"
spoken_text = st.lists(st.sampled_from(SPOKEN_PIECES), max_size=14).map("".join)
any_text = st.one_of(spoken_text, st.text(max_size=40))

HYPERTENSION = Program.load("hypertension")
DIABETES = Program.load("diabetes")
RANGES = {**HYPERTENSION.ranges, **DIABETES.ranges}


def clinical_values() -> st.SearchStrategy[float]:
    """What a read-back says: whole numbers to 999 and one- or two-decimal values."""
    return st.one_of(
        st.integers(0, 999).map(float),
        st.integers(0, 9999).map(lambda tenths: tenths / 10),
        st.integers(0, 9999).map(lambda hundredths: hundredths / 100),
    )


# -- spoken numbers ---------------------------------------------------------------------------------


@given(clinical_values())
@example(185.0)
@example(112.0)
@example(37.6)
@example(0.5)
@example(105.0)
@example(110.0)
def test_a_value_said_in_words_reads_back_as_that_value(value: float) -> None:
    words = spoken_number(value)
    assert re.fullmatch(rf"[{DIGIT_WORDS}十百千点]+", words), words
    amount = read_amount(words)
    assert amount is not None and amount.exact and amount.value == value, (value, words, amount)
    assert parse_number(words) == value
    written = to_number(words)
    assert written is not None and float(written) == value


@given(st.one_of(st.integers(1_000, 10**9).map(float), st.integers(1, 10**6).map(lambda n: n / 10**6)))
@example(123456.7)
@example(1234567.0)
@example(0.00001)
def test_spoken_number_says_every_digit_of_large_and_small_values(value: float) -> None:
    """It used ``f"{value:g}"``: 123456.7 was said as 一十二万三千四百五十七 (six digits kept) and
    1234567 or 0.00001 raised ValueError (cn2an cannot read 1.23457e+06)."""
    words = spoken_number(value)
    assert "e" not in words
    read = parse_number(words)
    assert read is not None and math.isclose(read, value, rel_tol=1e-12), (value, words, read)


@given(st.integers(1, 9), st.lists(st.integers(0, 9), min_size=2, max_size=4))
@example(1, [8, 5])
@example(1, [2, 0])
def test_digit_by_digit_reads_as_the_digits(first: int, rest: list[int]) -> None:
    digits = [first, *rest]
    spoken = "".join(DIGIT_WORDS[d] for d in digits)
    amount = read_amount(spoken)
    assert amount is not None and amount.exact
    assert amount.value == float("".join(map(str, digits)))


@given(any_text)
@example("[" * 20)
@example("点")
@example("几点几")
@example("一百八十几")
@example("快两百")
@example("一八五一百一")
@example("5出头")  # found by atheris: 6 to 5.5, an upside-down interval (出头 stepped a whole unit)
@example("五出头")
def test_reading_a_number_never_raises_and_gives_an_interval(text: str) -> None:
    for amount in (read_amount(text), read_count(text), *spoken_amounts(text)):
        if amount is None or math.isnan(amount.low):
            continue
        assert amount.low <= amount.high, amount
        assert amount.exact == (amount.value is not None)
        if amount.exact:
            assert amount.low == amount.high
    for first, second in two_way_splits(text[:12]):
        assert first.low <= first.high and second.low <= second.high
    parse_number(text)
    to_number(text)


# -- blood pressure, temperature: the spoken forms ----------------------------------------------------


@given(st.integers(61, 299), st.integers(31, 199))
@example(185, 112)
def test_a_pair_said_with_bi_is_that_pressure(systolic: int, diastolic: int) -> None:
    said = f"{spoken_number(systolic)}比{spoken_number(diastolic)}"
    assert normalize_numbers(said, context="您最近量的血压是多少？") == f"{systolic}/{diastolic} mmHg"
    reading = values.read_blood_pressure(said, HYPERTENSION.ranges)
    if systolic <= diastolic:
        assert reading.status == "out_of_range", reading
    elif systolic <= SYSTOLIC_RANGE[1]:
        assert reading.status == "ok" and reading.values == {"systolic": systolic, "diastolic": diastolic}, reading
    else:  # 二百六十一 may also be 200 and 61 said without a pause: asked again, never another value
        assert reading.status == "ambiguous" or reading.values == {"systolic": systolic, "diastolic": diastolic}
    # The lenient reader of free speech: the pair, or nothing when it cannot be one (it read 160 out
    # of 一百六十一比一百六十五, a number never said, by stopping inside 一百六十一).
    assert read_blood_pressure(f"血压{said}") == ((systolic, diastolic) if systolic > diastolic else (None, None))


@given(st.integers(350, 420))
@example(376)
def test_a_temperature_said_with_du_is_that_temperature(tenths: int) -> None:
    whole, tenth = divmod(tenths, 10)
    said = f"{spoken_number(whole)}度{DIGIT_WORDS[tenth]}" if tenth else f"{spoken_number(whole)}度"
    value = tenths / 10
    assert facts.read_temperature(said) == value
    assert normalize_numbers(f"体温{said}") == f"体温{value:g} ℃"


@given(st.integers(1, 400))
def test_glucose_said_with_a_decimal_is_that_glucose_or_out_of_range(tenths: int) -> None:
    value = tenths / 10
    said = f"空腹{spoken_number(value)}"
    reading = values.read_glucose(said, DIABETES.ranges["glucose"])
    if _inside(value, DIABETES.ranges["glucose"]):
        assert reading.status == "ok" and reading.values == {"glucose": value}, (said, reading)
    else:
        assert reading.status == "out_of_range" and not reading.values, (said, reading)


WORDS_AFTER_A_VALUE = ("", "天", "次", "年", "岁", "个月", "下", "度", "多", "点多", "，", "了", "吧", "左右", "没测")


@given(clinical_values(), st.sampled_from(["血糖", "血糖是", "心跳", "脉搏", "体温", "烧到", "血压"]),
       st.sampled_from(WORDS_AFTER_A_VALUE))
@example(1.1, "血糖", "天")  # read as glucose 1.0: the pattern stopped inside 一点一 when 天 followed
@example(134.0, "体温", "度")  # read as 34 ℃: the pattern started inside 一百三十四
@example(61.0, "血压", "")
def test_a_value_read_is_the_number_said(value: float, head: str, after: str) -> None:
    text = f"{head}{spoken_number(value)}{after}"
    for reader in (facts.read_glucose, facts.read_heart_rate, facts.read_temperature):
        read = reader(text)
        assert read is None or read == value, (text, reader.__name__, read)
    assert all(read is None or read == value for read in read_blood_pressure(text)), text


# -- no value outside physiological ranges without a flag ----------------------------------------------


def _inside(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


@given(any_text)
@example("高压九十低压一百四")
@example("一百四十五，九十，七十二")
@example("血压三百五比两百")
def test_a_follow_up_reading_is_ok_only_inside_the_programme_ranges(text: str) -> None:
    pressure = values.read_blood_pressure(text, HYPERTENSION.ranges)
    if pressure.ok:
        assert _inside(pressure.values["systolic"], RANGES["systolic"])
        assert _inside(pressure.values["diastolic"], RANGES["diastolic"])
        assert pressure.values["systolic"] > pressure.values["diastolic"]
    for name, value in pressure.values.items():  # an incomplete reading keeps only a half in range
        assert _inside(value, RANGES[name]), pressure
    completed = values.complete_blood_pressure({"systolic": 150.0}, text, HYPERTENSION.ranges)
    if completed.ok:
        assert completed.values["systolic"] > completed.values["diastolic"]
        assert all(_inside(v, RANGES[k]) for k, v in completed.values.items()), completed
    for name, reader in (("glucose", values.read_glucose), ("heart_rate", values.read_heart_rate),
                         ("weight", values.read_weight)):
        reading = reader(text, RANGES[name])
        assert reading.status in ("ok", "approximate", "off_scale", "ambiguous", "incomplete", "out_of_range",
                                  "unit", "missing")
        if reading.ok:
            assert _inside(reading.values[name], RANGES[name]), (name, text, reading)
        else:
            assert not reading.values, reading
    values.strip_units(text)


@given(any_text)
@example("体温四十五度")
@example("心跳一分钟三百下")
def test_the_triage_facts_drop_values_outside_physiology(text: str) -> None:
    systolic, diastolic = read_blood_pressure(text)
    assert systolic is None or 60 <= systolic <= 300
    assert diastolic is None or 30 <= diastolic <= 200
    glucose, rate, temperature = facts.read_glucose(text), facts.read_heart_rate(text), facts.read_temperature(text)
    assert glucose is None or 0.5 <= glucose <= 40
    assert rate is None or 20 <= rate <= 250
    assert temperature is None or 34 <= temperature <= 43
    vitals = facts.Vitals()
    vitals.update(text)


@given(any_text)
@example("血糖仪显示HI")
@example("血压一百九一百一十")
def test_the_concept_readers_keep_physiological_values_or_flag_the_meter(text: str) -> None:
    for concept, start, end, value in (*readers.device_readings(text), *readers.heart_rates(text),
                                       *readers.blood_pressures(text)):
        assert 0 <= start <= end <= len(text)
        if concept == "reading.spo2":
            assert 40 <= value <= 100
        elif concept == "reading.glucose":
            assert 0.5 <= value <= 40 or value in (0.0, math.inf)  # 0 / inf: the meter's LO / HI
        elif concept == "reading.heart_rate":
            assert 20 <= value <= 250
        elif concept == "reading.bp_systolic":
            assert 60 <= value <= 300
        else:
            assert concept == "reading.bp_diastolic" and 30 <= value <= 200
    for _concept, _start, _end, minutes in (*readers.durations(text), *readers.ages(text)):
        assert minutes >= 0


@given(any_text, st.sampled_from([None, "您最近量的血压是多少？", "空腹血糖是多少？", "体温多少度？", "心率多少？"]))
@example("一百八十五比一百一十二", "血压")
@example("领.5毫克", None)
@example("三十七点五度六", None)  # found by atheris: ValueError (float('37.5.6')) out of the normaliser, on a final
@example("37.5度6", "体温多少度？")  # transcript of a call
@example("一多零零点零度零", "您最近量的血压是多少？")
def test_normalising_numbers_never_raises(text: str, context: str | None) -> None:
    normalize_numbers(text, context)
