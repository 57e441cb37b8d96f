"""Term correction: misheard drug names fixed, correct text and negations untouched; lexicon data."""

import json
from pathlib import Path

import pytest

import medical_terms
from medical_terms import Lexicon, TermCorrector, hotwords, normalize_numbers
from medical_terms.phonetics import spoken_readings, syllables
from medical_terms.value_words import ValueWords


@pytest.fixture(scope="module")
def corrector() -> TermCorrector:
    return TermCorrector()


def test_public_api_is_exported() -> None:
    for name in ("TermCorrector", "CorrectionResult", "normalize_numbers", "hotwords", "Lexicon"):
        assert name in medical_terms.__all__
        assert hasattr(medical_terms, name)


@pytest.mark.parametrize(
    ("heard", "fixed"),
    [
        ("长期口服消本地平控释片。", "长期口服硝苯地平控释片。"),
        ("安绿地平能不能一起吃", "氨氯地平能不能一起吃"),
        ("对青梅素过敏，出现全身寻麻疹。", "对青霉素过敏，出现全身荨麻疹。"),
        ("二甲双瓜每次零点五克", "二甲双胍每次零点五克"),
        ("阿托发他汀钙片二十毫克", "阿托伐他汀钙片二十毫克"),
        ("阿斯匹林肠溶片联合路比格雷", "阿司匹林肠溶片联合氯吡格雷"),
        ("吃了不洛芬混悬液还是不退", "吃了布洛芬混悬液还是不退"),
        ("夫赛米二十毫克静推", "呋塞米二十毫克静推"),
        ("对清没素过敏", "对青霉素过敏"),  # 没 inside a drug name that sounds exactly right
        ("血长规白细胞升高", "血常规白细胞升高"),  # 长 read chang, not zhang
        ("零点五克尽卖低柱", "零点五克静脉滴注"),  # four confusable syllables, no shared character
        ("即带蛋白升高", "肌钙蛋白升高"),  # one near syllable (dai/gai) in a curated term
        ("急于叛脱拉做成熔片", "急于泮托拉唑成熔片"),  # the span cuts the word 做成 the mishearing made
        ("螺内酯每天20好客", "螺内酯每天20毫克"),  # a dose unit heard as its homophone after a number
        ("生理盐水五百豪升", "生理盐水五百毫升"),
        ("随机血糖15.2，尿童体阴性。", "随机血糖15.2，尿酮体阴性。"),
        # Words misheard next to a value (value_words):
        ("我今天早上量的薛鸭是145B90。", "我今天早上量的血压是145B90。"),  # same sound, before a value
        ("昨天晚上薛鸭有点高", "昨天晚上血压有点高"),  # before a judgement of it
        ("餐后些糖12.1", "餐后血糖12.1"),  # near sound sharing 糖, right before digits
        ("血糖9.6毫模2美生", "血糖9.6毫摩尔每升"),  # 尔 heard as the digit 2
        ("尿酸520微模2美生", "尿酸520微摩尔每升"),
        ("每天早上两毫坑", "每天早上两毫克"),  # one syllable near (keng/ke)
        ("利伐沙班20号坑。", "利伐沙班20毫克。"),
        ("艾司唑仑一毫科学前口服", "艾司唑仑一毫克学前口服"),  # 毫 written right: may cut 科学
        ("比索洛尔每天早上午好坑", "比索洛尔每天早上五毫克"),  # 五 heard as 午, after 早上
        ("恩格列净时好课每日一次", "恩格列净十毫克每日一次"),  # 十 heard as 时, after a drug name
    ],
)
def test_misheard_terms_are_corrected(corrector: TermCorrector, heard: str, fixed: str) -> None:
    result = corrector.correct(heard)
    assert result.text == fixed
    assert result.changes and all(c.replacement in fixed for c in result.changes)


@pytest.mark.parametrize(
    "correct",
    [
        "心率一百一十二次每分，心律齐。",  # 心率 and 心律 sound the same: both are right where they are
        "患者否认高血压病史，腹软无压痛。",
        "我没有发烧，也不咳嗽。",
        "医生我想问一下能不能一起吃。",
        "我最近老是头晕，早上量血压一百五十多。",
        "今天天气不错，我去公园散步了。",
        "血糖控制不佳，未见明显水肿。",
        "硝酸甘油零点五毫克舌下含服。",  # a right term is not extended by a near guess (…片)
        "我的血糖是七点八。",  # 的 is not read di (低血糖)
        "我早上起来发现半边脸动不了。",  # 半边莲 is a THUOCL herb: too short to be a target
        "我最近压力很大。",
        "雪压弯了树枝",  # sounds like 血压 but no value follows
        "我想提问3个问题",  # 提问 sounds like 体温 but is a word
        "学堂有5个人",
        "血样5毫升",
        "他时好时坏",  # 时 sounds like 十 but no dosing word comes before it
        "我是好客的人",
        "每天上午好坑",  # 午 ends 上午: not after a dosing word
        "缓释片词时好课每日一次",  # 词时 may be 四十: writing 十毫克 would be a wrong dose
        "我3号可以来",  # 号可 sounds like 毫克 but cuts 可以
        "我3号生日",
        "第3号课",
        "二甲双胍每次零点五克",
        "12:30复诊，第2次",
        "2型糖尿病",
    ],
)
def test_correct_text_is_not_changed(corrector: TermCorrector, correct: str) -> None:
    assert corrector.correct(correct).changes == []


def test_negation_stays_attached_to_the_corrected_term(corrector: TermCorrector) -> None:
    assert corrector.correct("否认青梅素过敏史").text == "否认青霉素过敏史"
    assert corrector.correct("没有吃二甲双瓜").text == "没有吃二甲双胍"


def test_no_change_on_the_reference_sentences(corrector: TermCorrector) -> None:
    path = Path(__file__).parents[1] / "evals" / "data" / "asr_medical.jsonl"
    sentences = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    damaged = [s for s in sentences if corrector.correct(s).changes]
    assert damaged == []


def test_lexicon_is_large_clean_and_has_pinyin() -> None:
    lexicon = Lexicon.load()
    assert len(lexicon) > 18000
    for junk in ("海豹", "韩启德", "特立尼达和多巴哥", "李时珍"):
        assert junk not in lexicon
    term = lexicon.by_text["硝苯地平控释片"]
    assert term.curated and term.pinyin == ("xiao", "ben", "di", "ping", "kong", "shi", "pian")
    assert all(len(t.pinyin) == len(t.text) for t in lexicon.terms)


def test_missing_lexicon_override_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        Lexicon.load(tmp_path / "nope.tsv")


def test_hotwords_follow_the_flow() -> None:
    assert hotwords("followup_diabetes").split()[0] == "血糖"
    assert "二甲双胍" in hotwords("followup_diabetes")
    assert "硝苯地平控释片" in hotwords("followup_hypertension")
    assert hotwords(None) == hotwords("unknown_flow")
    assert len(hotwords("triage").split()) <= medical_terms.hotwords.__globals__["MAX_HOTWORDS"]


@pytest.mark.parametrize(
    ("heard", "final"),
    [
        ("我今天早上量的薛鸭是145B90。", "我今天早上量的血压是145/90 mmHg。"),
        ("昨天晚上薛鸭有点高,160比100。", "昨天晚上血压有点高,160/100 mmHg。"),
        ("上周两月亚152.96毫米巩骨", "上周两月亚152/96 mmHg"),
        ("空腹血糖9.6毫模2美生。", "空腹血糖9.6 mmol/L。"),
        ("肌酐156微模2美生", "肌酐156 μmol/L"),
        ("比索洛尔每天早上午好坑。", "比索洛尔每天早上5 mg。"),
        ("恩格列净时好课每日一次。", "恩格列净10 mg每日一次。"),
        ("我体温37°6,有点咳嗽。", "我体温37.6 ℃,有点咳嗽。"),
    ],
)
def test_whisper_forms_of_values_end_as_digits_with_units(corrector: TermCorrector, heard: str, final: str) -> None:
    """Transcripts Whisper base wrote for the dev set's rendered sentences, through the whole
    post-processing (term correction, then number normalisation)."""
    assert normalize_numbers(corrector.correct(heard).text) == final


def test_value_word_data_is_consistent_and_digits_read_as_spoken() -> None:
    words = ValueWords.load()
    assert set(words.dose_units) <= set(words.units_after_number)
    assert all(syllables(numeral) == (sound,) for sound, numeral in words.numeral_sounds.items())
    assert all(len(vital) == 2 for vital in words.vital_signs)  # the vital-sign rule matches two characters
    assert spoken_readings("毫模2美生")[2] == ("er", "liang")
