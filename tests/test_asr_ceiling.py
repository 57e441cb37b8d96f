"""The recogniser-ceiling analysis: aligning a raw hypothesis to its reference and classifying each term
span (exact, homophone, near, further, missing) and each expected value with unit, on hand-made pairs."""

from __future__ import annotations

import pytest

from evals.asr.ceiling import (
    DIGITS_WRONG,
    Match,
    NumberMatch,
    align,
    attribute_value_error,
    classify,
    fuzzy_syllable,
    heard_values,
    number_matches,
    term_matches,
)

REFERENCE = "长期口服硝苯地平控释片。"


@pytest.mark.parametrize(
    ("hypothesis", "expected", "span"),
    [
        ("长期口服硝苯地平控释片", Match.EXACT, "硝苯地平控释片"),
        ("长期口服消苯地平控释片。", Match.HOMOPHONE, "消苯地平控释片"),  # xiao ben di ping: a homophone
        ("长期口服消本地平控试片", Match.HOMOPHONE, "消本地平控试片"),
        ("长期口服销本地停控释片", Match.NEAR, "销本地停控释片"),  # ping -> ting: one syllable off
        ("长期口服小本地平控释片剂", Match.HOMOPHONE, "小本地平控释片"),  # a trailing insertion is not needed
        ("长期口服小草控释片", Match.FURTHER, "小草控释片"),
        ("长期口服", Match.MISSING, ""),
    ],
)
def test_term_span_is_classified_by_toneless_pinyin(hypothesis: str, expected: Match, span: str) -> None:
    [(term, match, heard)] = term_matches(REFERENCE, hypothesis, ["硝苯地平控释片"])
    assert (term, match, heard) == ("硝苯地平控释片", expected, span)


def test_classify_counts_one_inserted_or_deleted_syllable_as_near() -> None:
    assert classify("荨麻疹", "循环码枕") is Match.NEAR  # xun (huan) ma zhen
    assert classify("原发性高血压", "原发高血压") is Match.NEAR
    assert classify("心悸", "心情") is Match.NEAR
    assert classify("心悸", "开心") is Match.FURTHER


def test_homophone_substitutions_align_to_their_term_not_to_a_neighbour() -> None:
    pairs = align("服硝苯", "服消苯")
    assert pairs == [(0, 0), (1, 1), (2, 2)]


def test_each_term_is_found_in_its_own_place() -> None:
    matches = term_matches("患者主诉胸闷气短三天，伴有间断性心悸。", "关着祖宿凶门气短三天,半有间断性心境。",
                           ["胸闷", "气短", "心悸", "头痛"])
    assert [(t, m) for t, m, _ in matches] == [("胸闷", Match.HOMOPHONE), ("气短", Match.EXACT), ("心悸", Match.NEAR)]


def test_heard_values_reads_digits_and_chinese_numerals() -> None:
    assert heard_values("高压一百八十六低压一百零八") == {"186": 1, "108": 1}
    assert heard_values("空腹6.80") == {"6.8": 1}


@pytest.mark.parametrize(
    ("hypothesis", "final", "expected"),
    [
        ("高压一百八十六低压一百零八", "186/108 mmHg", NumberMatch.EXACT),
        ("高压一百八十六低压一百零八", "高压186低压108", NumberMatch.DIGITS_HEARD),  # unit lost downstream
        ("高压一百八十六低压一百零发", "186/100 mmHg", NumberMatch.NEAR),  # fa for ba: one syllable off
        ("高压186低压一百零吧", "", NumberMatch.HOMOPHONE),  # 吧 for 八: a numeral homophone
        ("高压186低压一百", "", NumberMatch.FURTHER),  # 一百(零八): two syllables short
    ],
)
def test_number_is_classified_by_the_digits_the_recogniser_wrote(
        hypothesis: str, final: str, expected: NumberMatch) -> None:
    record = {"text": "高压一百八十六低压一百零八", "numbers": ["186/108 mmHg"]}
    assert number_matches(record, hypothesis, final) == [("186/108 mmHg", expected)]


def test_a_value_heard_once_serves_one_expected_number_only() -> None:
    record = {"text": "五毫克，五毫克", "numbers": ["5 mg", "5 mg"]}
    first, second = (m for _, m in number_matches(record, "五好客", "五好客"))
    assert first is NumberMatch.DIGITS_HEARD
    assert second in DIGITS_WRONG


def test_a_digit_form_of_the_value_is_read_aloud_before_comparing() -> None:
    record = {"text": "收缩压一百三十八。", "numbers": ["138 mmHg"]}
    assert number_matches(record, "收缩压130吧", "130") == [("138 mmHg", NumberMatch.HOMOPHONE)]


def test_a_reading_spelled_inside_another_value_is_a_homophone_not_exact() -> None:
    record = {"text": "高压一百三十低压八十五。", "numbers": ["130 mmHg", "85 mmHg"]}
    assert number_matches(record, "高压130滴185", "高压130 mmHg滴185") == [
        ("130 mmHg", NumberMatch.EXACT), ("85 mmHg", NumberMatch.HOMOPHONE)]


def test_fuzzy_pairs_merge_nasal_and_retroflex_confusions_only_when_asked() -> None:
    assert classify("恩格列净", "恩格列进") is Match.NEAR  # jing / jin
    assert classify("恩格列净", "恩格列进", fuzzy=True) is Match.HOMOPHONE
    assert classify("恩格列净", "安格列进") is Match.FURTHER
    assert classify("恩格列净", "安格列进", fuzzy=True) is Match.NEAR  # en / an is not a fuzzy pair
    assert fuzzy_syllable("zhong") == fuzzy_syllable("zon") == "zon"


@pytest.mark.parametrize(
    ("field", "want", "heard", "cause"),
    [
        ("systolic", 158.0, {"一百五十八，九十六": "158-96"}, "extraction"),
        ("systolic", 158.0, {"一百五十八，九十六": "150吧 96"}, "recogniser_homophone"),
        ("systolic", 158.0, {"一百五十八，九十六": "1559595"}, "recogniser_other"),
        ("systolic", 158.0, {"一百五十八，九十六": "150吧 96", "不对，是一百五十八，九十六": "158 96"}, "extraction"),
        ("systolic", 158.0, {}, "not_reached"),
        ("weight", 65.0, {"一百三十斤": "130斤"}, "extraction"),
        ("heart_rate", 65.0, {"一百三十斤": "130斤"}, "not_reached"),  # 斤 doubles weights only
    ],
)
def test_a_followup_value_error_is_attributed_to_what_was_heard(
        field: str, want: float, heard: dict[str, str], cause: str) -> None:
    answers = ["一百五十八，九十六", "一百三十斤"]
    flow = "followup_hypertension"
    assert attribute_value_error(field, want, answers, flow, {(k, flow): v for k, v in heard.items()}) == cause


def test_a_decimal_in_the_hypothesis_is_read_with_its_point() -> None:
    record = {"text": "空腹血糖六点九。", "numbers": ["6.9 mmol/L"]}
    assert number_matches(record, "空腹血糖6.8", "") == [("6.9 mmol/L", NumberMatch.NEAR)]


def test_a_value_said_twice_is_judged_where_it_was_missed() -> None:
    record = {"text": "脉搏八十八次每分，血压一百四十二比八十八。", "numbers": ["88次/分", "142/88 mmHg"]}
    hypothesis = "卖博88次每分,血压142.8"
    assert dict(number_matches(record, hypothesis, "88次/分 142.8"))["142/88 mmHg"] in DIGITS_WRONG
    assert dict(number_matches(record, hypothesis, "88次/分 142.8"))["142/88 mmHg"] is not NumberMatch.HOMOPHONE
