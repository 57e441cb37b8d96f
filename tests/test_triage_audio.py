"""``python -m evals.triage --audio``: vignettes spoken by the project's voice, recognised and corrected as
a call does, scored next to the text in one run; transcripts cached on disk; the audio conditions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from evals.conditions import (
    CONDITIONS,
    alaw_decode,
    alaw_encode,
    apply,
    clip,
    hesitate,
    parse_conditions,
    room_impulse_response,
)
from evals.triage.__main__ import main
from evals.triage.plots import SCORE_METRICS

CASES = [
    {
        "id": "a",
        "text": "我妈嘴歪了，说话也说不清楚",
        "level": 2,
        "department": "急诊科",
        "red_flags": ["stroke"],
    },
    {
        "id": "b",
        "text": "脸上长痘痘好几个月了",
        "level": 4,
        "department": ["皮肤科", "全科"],
        "red_flags": [],
    },
]


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "cases.jsonl"
    data.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in CASES), "utf-8")
    return data


def test_audio_run_reports_text_and_speech_side_by_side_and_caches_transcripts(
    tmp_path: Path, capsys
) -> None:
    data, out, cache = _data(tmp_path), tmp_path / "out", tmp_path / "transcripts"
    args = [
        "--data",
        str(data),
        "--audio",
        "--out",
        str(out),
        "--transcript-cache",
        str(cache),
        "--model-cache",
        os.environ["MEDVOICE_MODEL_CACHE"],
    ]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "text" in table and "speech" in table
    results = json.loads((out / "results.json").read_text("utf-8"))
    for name in SCORE_METRICS:
        assert isinstance(results[name], float)
        assert isinstance(results[f"speech_{name}"], float)
    assert results["speech_asr_cached"] == 0
    rows = [json.loads(line) for line in (out / "cases_rules_speech.jsonl").read_text("utf-8").splitlines()]
    assert [row["id"] for row in rows] == ["a", "b"]
    for row in rows:
        assert row["raw"] and row["corrected"]  # the recogniser heard something
        assert "lost_red_flags" in row and "level" in row
    assert (out / "scores_rules.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "confusion_rules_speech.png").read_bytes()[:4] == b"\x89PNG"

    # A second run takes every transcript from the disk cache and scores the same.
    assert main(args) == 0
    again = json.loads((out / "results.json").read_text("utf-8"))
    assert again["speech_asr_cached"] == again["speech_asr_utterances"] > 0
    assert again["speech_red_flag_sensitivity"] == results["speech_red_flag_sensitivity"]
    assert [
        json.loads(line)["raw"] for line in (out / "cases_rules_speech.jsonl").read_text("utf-8").splitlines()
    ] == [row["raw"] for row in rows]


def test_unknown_condition_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "--data",
                str(_data(tmp_path)),
                "--audio",
                "--conditions",
                "clean,underwater",
                "--out",
                str(tmp_path),
            ]
        )
    assert exit_info.value.code == 2


def test_conditions_change_the_audio_the_way_they_say() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    # A-law: 8-bit companding keeps a loud tone within ~3% and a quiet one audible.
    assert np.max(np.abs(alaw_decode(alaw_encode(tone)) - tone)) < 0.03
    assert np.max(np.abs(alaw_decode(alaw_encode(tone / 100)))) > 0.004
    phone = apply(CONDITIONS["alaw8k"], tone)
    assert len(phone) == len(tone) and np.corrcoef(phone, tone)[0, 1] > 0.98
    # Clipping drives the loudest 2% to full scale: under the signal guard's 5% rejection.
    clipped = clip(tone, 0.02)
    assert 0.015 < np.mean(np.abs(clipped) >= 1.0) < 0.05
    # A pitch shift of +3 semitones resamples audio rendered longer: 1/2^(3/12) of the samples.
    shifted = apply(CONDITIONS["pitch_up"], tone)
    assert abs(len(shifted) / len(tone) - 2 ** (-3 / 12)) < 0.01
    assert CONDITIONS["pitch_up"].render_speed == pytest.approx(2 ** (-3 / 12))
    # Babble is mixed at the stated SNR.
    noise = np.random.default_rng(0).standard_normal(rate).astype(np.float32)
    mixed = apply(CONDITIONS["babble"], tone, lambda n: noise[:n])
    residual = mixed / (np.dot(mixed, tone) / np.dot(tone, tone)) - tone
    snr = 10 * np.log10(np.mean(tone**2) / np.mean(residual**2))
    assert abs(snr - 10.0) < 0.5
    assert [c.name for c in parse_conditions("all")] == list(CONDITIONS)
    with pytest.raises(ValueError, match="underwater"):
        parse_conditions("underwater")


def test_a_room_smears_the_audio_and_a_hesitant_caller_keeps_every_word() -> None:
    rate = 16000
    click = np.zeros(rate, np.float32)
    click[1000] = 0.5
    room = apply(CONDITIONS["reverb"], click)
    assert len(room) == len(click)
    after = np.abs(room[1000 + int(0.1 * rate):1000 + int(0.3 * rate)])
    assert after.max() > 0.001  # energy 100-300 ms after the click: the room's tail
    assert after.max() < np.abs(room[1000])  # the direct path stays the loudest
    tail = room_impulse_response(0.6)
    early, late = np.sum(tail[80:1600] ** 2), np.sum(tail[8000:9600] ** 2)
    assert 10 * np.log10(early / late) == pytest.approx(50, abs=8)  # -60 dB per 0.6 s: ~50 dB over 0.5 s
    said = "我胸口疼，出冷汗，已经半小时了。喘不上气"
    hesitant = CONDITIONS["hesitant"].words(said)
    assert hesitant == "我我，我胸口疼，嗯，出冷汗，已经半小时了。那个，喘不上气"
    remaining = iter(hesitant)
    assert all(ch in remaining for ch in said)  # every original character, in order
    assert CONDITIONS["clean"].words(said) == said and hesitate("") == ""


def test_the_speech_path_hears_with_the_calls_decoder_and_caches_by_it(tmp_path: Path) -> None:
    # evals.triage/followup/dictation --audio measure the decoder a call builds (MEDVOICE_ASR_RELISTEN),
    # and a transcript cached by one decoder is never served to the other.
    from agent.config import Settings
    from asr import RelisteningTranscriber, ShortWindowTranscriber
    from evals.speech import SpeechPath

    keys = {}
    for relisten, decoder in ((True, RelisteningTranscriber), (False, ShortWindowTranscriber)):
        path = SpeechPath(
            True,
            Path(os.environ["MEDVOICE_MODEL_CACHE"]),
            1,
            cache_dir=tmp_path,
            settings=Settings(asr_relisten=relisten),
        )
        assert type(path.asr) is decoder
        assert path._disk is not None
        keys[relisten] = path._disk.key("头疼", None, CONDITIONS["clean"])
    assert keys[True] != keys[False]
