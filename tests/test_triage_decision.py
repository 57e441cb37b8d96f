"""Triage decision and routing: level with an auditable reason, special populations first, red
flags to the emergency department, the per-hospital catalogue; slot readers for colloquial answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialogue.requests import wants_human
from dialogue.safety import SafetyRules
from dialogue.triage.catalogue import DepartmentCatalogue
from dialogue.triage.decision import TriageDecision, decide
from dialogue.triage.slots import TriageSlots, is_no, is_yes, read_onset, read_severity

CATALOGUE = DepartmentCatalogue.load("demo")
RULES = SafetyRules.load()


def triage(*turns: str) -> TriageDecision:
    slots = TriageSlots()
    for turn in turns:
        slots.update(turn)
    return decide(slots, RULES.check("。".join(turns), slots.vitals, slots.person), CATALOGUE)


@pytest.mark.parametrize(
    ("turns", "level", "department", "reason_part"),
    [
        (("我胸口疼，出冷汗",), 2, "急诊科", "红旗征：疑似急性冠脉综合征"),
        (("孩子五岁，发烧三十八度八",), 3, "儿科", "儿童优先分到儿科"),
        (("我怀孕五个月，最近有点便秘",), 4, "妇产科", "孕期优先分到产科"),
        (("脸上长痘痘好几个月了",), 4, "皮肤科", "按主诉“痤疮”分诊"),
        (("牙疼得睡不着觉",), 3, "口腔科", "症状较重或加重"),
        (("我七十八了，肚子疼",), 3, "消化内科", "65岁以上老人腹痛"),
        (("最近头晕，量血压一百五十五，九十五",), 3, "心血管内科", "血压偏高"),
        (("肚子疼了好几个月了，老毛病",), 4, "消化内科", "主诉：腹痛"),
        (("说不上来",), 3, "全科医学科", "信息不足时不降低紧急程度"),
    ],
)
def test_level_department_and_reason(turns: tuple[str, ...], level: int, department: str, reason_part: str) -> None:
    decision = triage(*turns)
    assert (decision.level, decision.department) == (level, department)
    assert reason_part in decision.reason
    assert decision.reason.startswith(f"分级{'一二三四'[level - 1]}级")


def test_a_red_flag_overrides_special_populations() -> None:
    decision = triage("孩子三岁，从楼梯上摔下来，一直吐")
    assert (decision.level, decision.department_key, decision.red_flags) == (2, "emergency", ("major_trauma",))


def test_severe_pain_score_is_level_two_without_a_red_flag() -> None:
    slots = TriageSlots()
    slots.update("腰疼")
    slots.record_severity(8)
    decision = decide(slots, [], CATALOGUE)
    assert (decision.level, decision.department) == (2, "急诊科")
    assert "疼痛评分8分" in decision.reason


def test_a_lower_later_pain_score_does_not_lower_the_recorded_one() -> None:
    slots = TriageSlots()
    slots.record_severity(7)
    slots.record_severity(3)
    assert slots.severity == 7


def test_catalogue_resolves_aliases_and_names_missing_files(tmp_path: Path) -> None:
    assert CATALOGUE.hospital_id == "demo-hospital"
    assert CATALOGUE.name("no-such-key") == "全科医学科"
    with pytest.raises(FileNotFoundError, match="hospitals/elsewhere.json"):
        DepartmentCatalogue.load("elsewhere")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "x.json")):
        DepartmentCatalogue.load(path=tmp_path / "x.json")
    own = tmp_path / "own.json"
    own.write_text(json.dumps({"hospital_id": "h2", "fallback": "general",
                               "departments": {"emergency": "急诊", "general": "内科门诊"}}), "utf-8")
    assert DepartmentCatalogue.load(path=own).name("dermatology") == "内科门诊"
    with pytest.raises(ValueError, match="must define 'emergency'"):
        DepartmentCatalogue("h3", {"general": "内科"}, "general")


@pytest.mark.parametrize(
    ("answer", "score"),
    [("七分", 7), ("七八分吧", 8), ("8", 8), ("大概五分左右", 5), ("疼得受不了", 9), ("不太疼", 2), ("说不好", None)],
)
def test_pain_scores_from_colloquial_answers(answer: str, score: int | None) -> None:
    assert read_severity(answer) == score


def test_stated_score_in_free_speech_but_not_ten_minutes() -> None:
    slots = TriageSlots()
    slots.update("肚子疼了十分钟，疼得有七分")
    assert (slots.severity, slots.severity_said) == (7, True)
    calm = TriageSlots()
    calm.update("十分钟前开始头疼，十分难受")
    assert calm.severity is None


@pytest.mark.parametrize(
    ("text", "onset"), [("昨天晚上开始的", "昨天"), ("两天了", "两天了"), ("好几个月了", "好几个月"), ("不知道", None)]
)
def test_onset(text: str, onset: str | None) -> None:
    assert read_onset(text) == onset


@pytest.mark.parametrize(
    ("text", "yes", "no", "human"),
    [("好的", True, False, False), ("可以，帮我约", True, False, False), ("不用了", False, True, False),
     ("转人工", False, False, True), ("不要转人工", False, True, False), ("嗯", True, False, False)],
)
def test_answers(text: str, yes: bool, no: bool, human: bool) -> None:
    assert (is_yes(text), is_no(text), wants_human(text)) == (yes, no, human)
