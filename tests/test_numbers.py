"""Spoken numbers to digits with units: each unit, each context rule, and what must stay spoken."""

import pytest

from medical_terms import normalize_numbers, to_number


@pytest.mark.parametrize(
    ("spoken", "context", "written"),
    [
        ("血压一百八十六比一百零八", None, "血压186/108 mmHg"),
        ("一百八十六比一百零八", "您最近量的血压是多少？", "186/108 mmHg"),
        ("血压一百六十五比九十五毫米汞柱，体温三十七度八。", None, "血压165/95 mmHg，体温37.8 ℃。"),
        ("高压一百八十六低压一百零八", None, "高压186 mmHg低压108 mmHg"),
        ("血压186/108", None, "血压186/108 mmHg"),
        ("空腹血糖六点八", None, "空腹血糖6.8 mmol/L"),
        ("空腹血糖九点六毫摩尔每升", None, "空腹血糖9.6 mmol/L"),
        ("六点八", "您的空腹血糖是多少？", "6.8 mmol/L"),
        ("糖化血红蛋白百分之八点二", None, "糖化血红蛋白8.2%"),
        ("三十八度五", None, "38.5 ℃"),
        ("孩子发烧三十九度，吃了药", None, "孩子发烧39 ℃，吃了药"),
        ("38.5度", None, "38.5 ℃"),
        ("五毫克", None, "5 mg"),
        ("5mg", None, "5 mg"),
        ("二甲双胍每次零点五克", None, "二甲双胍每次0.5 g"),
        ("美托洛尔缓释片四十七点五毫克", None, "美托洛尔缓释片47.5 mg"),
        ("肌酐一百五十六微摩尔每升", None, "肌酐156 μmol/L"),
        ("门冬胰岛素八个单位", None, "门冬胰岛素8 U"),
        ("心率一百一十二次每分", None, "心率112次/分"),
        ("体重七十公斤", None, "体重70 kg"),
        # Forms Whisper writes for spoken values:
        ("我今天早上量的血压是145B90。", None, "我今天早上量的血压是145/90 mmHg。"),  # 比 heard as B
        ("昨天晚上薛鸭有点高,160比100。", None, "昨天晚上薛鸭有点高,160/100 mmHg。"),  # a plausible pair
        ("一百六十比一百", None, "160/100 mmHg"),
        ("上周两月亚152.96毫米汞柱", None, "上周两月亚152/96 mmHg"),  # 比 heard as a decimal point
        ("血压152.96", None, "血压152/96 mmHg"),
        ("高压130滴85", None, "高压130 mmHg滴85"),  # digits are a value whatever word follows
        ("血压150比较高", None, "血压150 mmHg比较高"),
        ("我体温37°6,有点咳嗽。", None, "我体温37.6 ℃,有点咳嗽。"),
        ("37.5°C", None, "37.5 ℃"),
        ("糖化血红蛋白白分之八点二", None, "糖化血红蛋白8.2%"),  # 百 heard as 白
        ("二甲双胍每次领.5克", None, "二甲双胍每次0.5 g"),  # 零 heard as 领
    ],
)
def test_measured_values_become_digits_with_units(spoken: str, context: str | None, written: str) -> None:
    assert normalize_numbers(spoken, context) == written


@pytest.mark.parametrize(
    "kept",
    [
        "每日两次",
        "吃了一周了",
        "胸闷气短三天",
        "一天跑了五六趟厕所",
        "二度房室传导阻滞",
        "3比2",  # no blood-pressure context and no plausible pressure: a ratio or a score
        "一百比九十八",  # no pulse pressure between them
        "今天比赛一百一十比九十五",  # a score, however plausible as a pressure
        "配比一百二十比八十",
        "六点五比三",
        "1/2片",
        "2026/11/23",
        "12:30复诊",
        "第2次复查",
        "2型糖尿病",
        "高压3次",  # a count after 高压, not a pressure
        "我想问一下",
        "二型糖尿病",
        "晨僵一小时",
    ],
)
def test_durations_frequencies_and_counts_stay_spoken(kept: str) -> None:
    assert normalize_numbers(kept) == kept


def test_approximate_blood_pressure_keeps_its_marker_without_a_unit() -> None:
    assert normalize_numbers("早上量血压一百五十多。") == "早上量血压150多。"


@pytest.mark.parametrize(("spoken", "digits"), [("一百零八", "108"), ("六点八", "6.8"), ("零点五", "0.5"),
                                                ("两百五", "250"), ("186", "186"), ("五六", None)])
def test_to_number(spoken: str, digits: str | None) -> None:
    assert to_number(spoken) == digits


def test_a_decimal_is_a_pressure_only_with_its_unit_or_after_blood_pressure() -> None:
    assert normalize_numbers("血压140比90，体重72.50公斤") == "血压140/90 mmHg，体重72.50 kg"
    assert normalize_numbers("血压142.8") == "血压142.8"  # no plausible pair in it: left as heard


@pytest.mark.parametrize(
    ("spoken", "context", "written"),
    [
        ("一六八九五", "您最近量的血压是多少？", "168/95 mmHg"),
        ("血压一六八九五", None, "血压168/95 mmHg"),
        ("血压一四五九零", None, "血压145/90 mmHg"),
        ("一八五一百一", "血压", "185/110 mmHg"),
        ("一百四十八九十", "血压", "一百四十八九十"),  # 148/90, or 140 and 80 to 90: left as said
    ],
)
def test_two_pressures_said_without_a_pause_are_a_pair_never_one_number(
    spoken: str, context: str | None, written: str
) -> None:
    assert normalize_numbers(spoken, context) == written
