"""Scoring helpers of the TTS benchmark (evals/tts): CER canonicalisation and polyphone checks."""

from __future__ import annotations

import json
from importlib import resources

from evals.tts.metrics import canonical, check_polyphones, edit_distance, toneless_syllables
from tts.normalize import SpeechNormalizer
from tts.pronunciation import Pronouncer


def test_canonical_makes_digits_and_spoken_numbers_agree() -> None:
    normalizer = SpeechNormalizer()
    assert canonical("血压186/108，请拨打120。", normalizer) == canonical("血压一百八十六比一百零八，请拨打幺二零", normalizer)
    assert canonical("两次", normalizer) == canonical("二次", normalizer)


def test_edit_distance_on_characters_and_syllables() -> None:
    assert edit_distance("门诊就诊", "门整就整") == 2
    assert edit_distance(toneless_syllables("门诊"), toneless_syllables("门疹")) == 0
    assert edit_distance("", "abc") == 3


def test_every_prompt_is_well_formed() -> None:
    text = resources.files("evals.tts.data").joinpath("prompts.jsonl").read_text(encoding="utf-8")
    prompts = [json.loads(line) for line in text.splitlines()]
    assert len(prompts) >= 100
    assert {p["flow"] for p in prompts} == {"triage", "followup", "dictation"}
    assert len({p["id"] for p in prompts}) == len(prompts)
    pronouncer = Pronouncer()
    for prompt in prompts:
        assert all(item["phrase"] in prompt["reading"] for item in prompt["polyphones"]), prompt["id"]
        assert len(check_polyphones(pronouncer, prompt)) == len(prompt["polyphones"])
