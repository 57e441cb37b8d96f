"""Time and trend: a past or resolved event is history, not a current red flag; what happens now (刚才,
半小时前开始, 现在还) is current; a transient neurological deficit (TIA) is still urgent."""

from __future__ import annotations

import pytest

from dialogue.people import Person
from dialogue.safety_floor import SafetyFloor
from dialogue.triage.discriminators import Assessment
from medical_terms.concepts import ConceptMatcher, load_concepts

FLOOR = SafetyFloor.load()
MATCHER = ConceptMatcher.load()


def _codes(*turns: str) -> list[str]:
    return [hit.code for hit in FLOOR.check(list(turns))]


def _mention(text: str, concept: str):  # type: ignore[no-untyped-def]
    return next(m for m in MATCHER.find(text) if m.concept == concept)


def test_time_and_trend_are_concepts_of_the_layer() -> None:
    ids = {concept.id for concept in load_concepts()}
    assert {"desc.time_past", "desc.time_recent", "desc.since", "desc.earlier_day", "desc.resolved",
            "desc.relapse", "desc.chronic", "desc.told_about"} <= ids
    assert {m.concept for m in MATCHER.find("去年心梗过")} >= {"desc.time_past", "hx.cardiac"}


@pytest.mark.parametrize(("text", "code"), [
    ("去年心梗过", "chest_pain_acs"),
    ("上个月中过风现在好了", "stroke"),
    ("前两天胸口疼过，现在不疼了", "chest_pain_acs"),
    ("前天胸口疼去做了心电图和抽血，医生说都没事，今天也不疼了，想再复查一下", "chest_pain_acs"),
    ("上周出了个小车祸，当时拍了CT说没事，现在就是肩膀还有点酸", "major_trauma"),
    ("妈的，去年中过风，现在好好的，就想开点药", "stroke"),  # profanity changes nothing
    ("两只手都麻，老是早上起来麻，甩一甩就好了，颈椎一直不好", "stroke"),  # no side, a passing spell
    ("这几天站起来的时候眼前发黑，扶一下就好了，没晕倒过", "stroke"),
])
def test_a_past_or_resolved_event_is_no_current_red_flag(text: str, code: str) -> None:
    assert code not in _codes(text)


def test_history_is_kept_as_history() -> None:
    stroke = _mention("上个月中过风现在好了", "hx.stroke")
    assert not stroke.negated  # history counts whenever said
    assert _mention("去年心梗过", "hx.cardiac").past


@pytest.mark.parametrize(("text", "code"), [
    ("去年心梗过，今天胸口又闷", "chest_pain_acs"),  # cardiac history + a new chest symptom
    ("放过支架，这会儿胸口发紧", "chest_pain_acs"),
    ("刚才胸口疼得出冷汗", "chest_pain_acs"),
    ("半小时前开始胸口疼，现在还疼", "chest_pain_acs"),
    ("不是上周，是刚才胸口疼得出冷汗", "chest_pain_acs"),  # a self-correction
    ("刚才出了车祸，腿断了，骨头都露出来了", "major_trauma"),
])
def test_what_happens_now_is_current(text: str, code: str) -> None:
    assert code in _codes(text)


@pytest.mark.parametrize(("text", "concept"), [
    ("上周开始头疼，越来越厉害", "sym.pain"),  # a past marker dating an onset
    ("去年起就老咳嗽，最近咳得更厉害", "sym.cough"),
    ("刚才晕过一次", "sym.dizziness"),  # 过 with 刚才 is now
])
def test_an_onset_in_the_past_is_a_current_complaint(text: str, concept: str) -> None:
    assert not _mention(text, concept).past


@pytest.mark.parametrize(("text", "concept"), [
    ("前两天胸口疼过", "sym.pain"),
    ("前两天晕倒过一回，现在没事", "sign.syncope"),
    ("上周摔过一跤", "event.fall"),
])
def test_an_episode_lived_through_on_an_earlier_day_is_past(text: str, concept: str) -> None:
    assert _mention(text, concept).past


@pytest.mark.parametrize("text", [
    "刚才右手没劲，十分钟就好了",
    "刚才手麻说话不清，现在好了",
    "左手突然麻了一下，一会儿就好了",
    "嗯…那个…刚才…右手没劲…现在好了",  # fillers and hesitations
    "不是左边，是右边胳膊突然没劲了，现在缓过来了",  # a self-correction
    "我爸刚才半边身子麻，过了五分钟好了",
])
def test_a_transient_neurological_deficit_is_still_a_stroke_flag(text: str) -> None:
    assert "stroke" in _codes(text)


def _touched(text: str) -> list[str]:
    assessment = Assessment()
    person = Person()
    person.update(text)
    assessment.observe(text, person)
    return assessment.touched


def test_an_earlier_days_episode_over_now_opens_no_presentation() -> None:
    assert "chest" not in _touched("前天胸口疼去做了心电图，医生说没事，今天也不疼了")
    assert "chest" in _touched("胸口疼了一会儿，现在好了")  # the same day: still asked about
    assert "chest" in _touched("前天开始胸口疼，今天还疼")
