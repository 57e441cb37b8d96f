"""Speech normalisation: one table of readings per class, plus robustness on text the voice cannot say."""

from __future__ import annotations

import pytest

from tts.normalize import SpeechNormalizer, read_digits, read_integer, read_number

READINGS = {
    "blood pressure": [
        ("BP 186/108 mmHg", "血压一百八十六比一百零八毫米汞柱"),
        ("血压140/90以下", "血压一百四十比九十以下"),
        ("血压 120 / 80", "血压一百二十比八十"),
    ],
    "glucose and lab units": [
        ("空腹血糖6.8 mmol/L", "空腹血糖六点八毫摩尔每升"),
        ("4.4~6.1 mmol/L", "四点四到六点一毫摩尔每升"),
        ("白细胞12.3×10^9/L", "白细胞十二点三乘十的九次方每升"),
        ("肌酐88 μmol/L", "肌酐八十八微摩尔每升"),
    ],
    "temperature": [
        ("体温38.5℃", "体温三十八点五度"),
        ("体温38.5 °C", "体温三十八点五度"),
        ("体温 37 度", "体温三十七度"),
    ],
    "dose": [
        ("氨氯地平5 mg", "氨氯地平五毫克"),
        ("0.5 g", "零点五克"),
        ("注射胰岛素8 IU", "注射胰岛素八国际单位"),
        ("1/2片", "二分之一片"),
        ("10 ml", "十毫升"),
    ],
    "frequency": [
        ("每天2次，每次1片", "每天两次，每次一片"),
        ("3次/日", "每日三次"),
        ("80次/分", "每分钟八十次"),
        ("心率72 bpm", "心率七十二次每分钟"),
        ("服药后1h", "服药后一小时"),
    ],
    "emergency and phone numbers": [
        ("如有胸痛请立即拨打120。", "如有胸痛请立即拨打幺二零。"),
        ("马上打120急救电话", "马上打幺二零急救电话"),
        ("120急救", "幺二零急救"),
        ("心理援助热线12356", "心理援助热线幺二三五六"),
        ("卫生热线12320", "卫生热线幺二三二零"),
        ("我的电话是13812345678", "我的电话是幺三八，幺二三四，五六七八"),
        ("请拨打0571-87654321", "请拨打零五七幺，八七六五四三二幺"),
        ("分机号码203", "分机号码二零三"),
    ],
    "120 as a quantity": [
        ("心率120次", "心率一百二十次"),
        ("血糖120", "血糖一百二十"),
    ],
    "dates and times": [
        ("复诊时间2024-03-15上午8:30", "复诊时间二零二四年三月十五日上午八点三十分"),
        ("2024年3月15日", "二零二四年三月十五日"),
        ("下午2:05", "下午两点零五分"),
        ("14:00", "十四点"),
        ("3月8号", "三月八号"),
    ],
    "ages and ordinals": [
        ("患者65岁", "患者六十五岁"),
        ("2岁", "两岁"),
        ("2型糖尿病第2次", "二型糖尿病第二次"),
        ("高血压2级", "高血压二级"),
        ("第1天", "第一天"),
    ],
    "ranges": [
        ("3-5天", "三到五天"),
        ("请在1-2周内复查", "请在一到两周内复查"),
        ("5~10分钟", "五到十分钟"),
    ],
    "percentages and fractions": [
        ("糖化HbA1c 7.5%", "糖化血红蛋白百分之七点五"),
        ("50%", "百分之五十"),
        ("6%-7%", "百分之六到百分之七"),
        ("1/3", "三分之一"),
    ],
    "abbreviations": [
        ("做个CT和B超", "做个西踢和比超"),
        ("MRI检查", "核磁共振检查"),
        ("住进ICU", "住进重症监护室"),
        ("COVID-19疫苗", "新冠疫苗"),
        ("ECG正常", "心电图正常"),
        ("血氧饱和度SpO2 95%", "血氧饱和度百分之九十五"),  # named twice in writing, said once
    ],
    "long digit strings": [
        ("病历号20240315001", "病历号二零二四零三幺五零零幺"),
    ],
    "latin, emoji and symbols": [
        ("Hello 你好 😀 !!", "你好！"),
        ("OK，好的...", "好的，好的"),
        ("血糖≥7.0", "血糖大于等于七点零"),
        ("##**@@", ""),
        ("预约号是A12", "预约号是诶十二"),
        ("（请空腹）", "请空腹"),
    ],
    "punctuation to pauses": [
        ("好的, 我记下了; 谢谢!", "好的，我记下了；谢谢！"),
        ("请问：您吃药了吗?", "请问：您吃药了吗？"),
        ("嗯……好的", "嗯，好的"),
    ],
}
CASES = [(kind, text, expected) for kind, rows in READINGS.items() for text, expected in rows]


@pytest.fixture(scope="module")
def normalizer() -> SpeechNormalizer:
    return SpeechNormalizer()


@pytest.mark.parametrize(("kind", "text", "expected"), CASES, ids=[f"{k}:{t}" for k, t, _ in CASES])
def test_reading(normalizer: SpeechNormalizer, kind: str, text: str, expected: str) -> None:
    assert normalizer.normalize(text) == expected


@pytest.mark.parametrize(("kind", "text", "expected"), CASES, ids=[f"{k}:{t}" for k, t, _ in CASES])
def test_normalising_twice_changes_nothing(normalizer: SpeechNormalizer, kind: str, text: str, expected: str) -> None:
    once = normalizer.normalize(text)
    assert normalizer.normalize(once) == once


def test_output_is_only_hanzi_and_chinese_punctuation(normalizer: SpeechNormalizer) -> None:
    messy = "BP↑186/108!! 😀🚑 email: a.b@x.com ½ ™ ©\t\n 第3次 x² ∑ 𝔸"
    out = normalizer.normalize(messy)
    assert out
    assert all("\u4e00" <= c <= "\u9fff" or c in "，、；：。！？" for c in out)


def test_empty_and_whitespace(normalizer: SpeechNormalizer) -> None:
    assert normalizer.normalize("") == ""
    assert normalizer.normalize(" \n\t ") == ""


def test_long_reply_keeps_every_hanzi(normalizer: SpeechNormalizer) -> None:
    reply = "您的血压是186/108毫米汞柱，请按时服药。" * 100
    out = normalizer.normalize(reply)
    assert out.count("一百八十六比一百零八") == 100


def test_number_helpers() -> None:
    assert read_integer("108") == "一百零八"
    assert read_integer("10") == "十"
    assert read_integer("007") == "零零七"
    assert read_number("0.05") == "零点零五"
    assert read_digits("120") == "幺二零"
    assert read_digits("120", yao=False) == "一二零"
