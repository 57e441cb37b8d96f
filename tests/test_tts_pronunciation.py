"""Polyphone readings: the medical lexicon over pypinyin, and how bad lexicon rows are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tts.pronunciation import Pronouncer, load_lexicon

POLYPHONES = [
    ("您的血压是多少", "血压", "xue4 ya1"),
    ("空腹血糖偏高", "血糖", "xue4 tang2"),
    ("有冠心病病史", "冠心病", "guan1 xin1 bing4"),
    ("症状有没有加重", "加重", "jia1 zhong4"),
    ("最近有没有发烧", "发烧", "fa1 shao1"),
    ("医生会尽快处理", "处理", "chu3 li3"),
    ("请按处方服药", "处方", "chu3 fang1"),
    ("今天量血压了吗", "量血压", "liang2 xue4 ya1"),
    ("按医嘱剂量服用", "剂量", "ji4 liang4"),
    ("心率每分钟八十次", "心率", "xin1 lv4"),
    ("有没有恶心呕吐", "恶心", "e3 xin1"),
    ("有没有鼻塞", "鼻塞", "bi2 se4"),
    ("需要调整用药", "调整", "tiao2 zheng3"),
    ("要空腹抽血", "空腹", "kong1 fu4"),
    ("大便正常吗", "大便", "da4 bian4"),
    ("有没有中暑", "中暑", "zhong4 shu3"),
    ("肺结节复查", "结节", "jie2 jie2"),
    ("拨打幺二零", "幺二零", "yao1 er4 ling2"),
    ("做个西踢", "西踢", "xi1 ti1"),
]


@pytest.fixture(scope="module")
def pronouncer() -> Pronouncer:
    return Pronouncer()


@pytest.mark.parametrize(("sentence", "phrase", "expected"), POLYPHONES, ids=[p for _, p, _ in POLYPHONES])
def test_polyphone_in_context(pronouncer: Pronouncer, sentence: str, phrase: str, expected: str) -> None:
    syllables = pronouncer.pinyin(sentence)
    start = sentence.index(phrase)
    assert " ".join(syllables[start : start + len(phrase)]) == expected


def test_one_syllable_per_hanzi_and_skips_other_characters(pronouncer: Pronouncer) -> None:
    assert pronouncer.pinyin("血压，OK？186") == ["xue4", "ya1"]
    assert pronouncer.pinyin("") == []


def test_every_lexicon_row_reads_as_written(pronouncer: Pronouncer) -> None:
    for phrase, syllables in load_lexicon().items():
        assert pronouncer.pinyin(phrase) == syllables, phrase


def test_custom_lexicon_overrides_pypinyin(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.tsv"
    path.write_text("# test\n重复\tzhong4 fu4\n", encoding="utf-8")
    assert Pronouncer(load_lexicon(path)).pinyin("重复") == ["zhong4", "fu4"]


def test_bad_lexicon_row_names_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.tsv"
    path.write_text("血压\txue4\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lexicon line 1: '血压\\txue4': expected"):
        load_lexicon(path)


def test_missing_lexicon_names_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.tsv does not exist"):
        load_lexicon(tmp_path / "nope.tsv")


SANDHI = [
    ("不要", ["bu2", "yao4"]),
    ("不好", ["bu4", "hao3"]),
    ("一侧", ["yi2", "ce4"]),
    ("一周", ["yi4", "zhou1"]),
    ("好一点", ["hao3", "yi4", "dian3"]),
    ("一点五", ["yi1", "dian3", "wu3"]),
    ("第一", ["di4", "yi1"]),
    ("幺二零", ["yao1", "er4", "ling2"]),
    ("一月", ["yi1", "yue4"]),
    ("处理", ["chu2", "li3"]),
    ("展览馆", ["zhan2", "lan2", "guan3"]),
]


@pytest.mark.parametrize(("text", "expected"), SANDHI, ids=[t for t, _ in SANDHI])
def test_spoken_tones_apply_sandhi(pronouncer: Pronouncer, text: str, expected: list[str]) -> None:
    assert pronouncer.spoken(text) == expected


def test_lexical_pinyin_has_no_sandhi(pronouncer: Pronouncer) -> None:
    assert pronouncer.pinyin("处理一周") == ["chu3", "li3", "yi1", "zhou1"]


def test_sandhi_needs_aligned_input() -> None:
    from tts.sandhi import apply_sandhi

    with pytest.raises(ValueError, match="need one syllable per hanzi, got 1 for 2 characters"):
        apply_sandhi("不要", ["bu4"])
