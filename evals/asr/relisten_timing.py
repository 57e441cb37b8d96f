"""When the incremental decoder re-listens: end of turn -> final, three ways, on the same audio.

``python -m evals.asr.relisten_timing --limit 40 --out DIR`` streams each dev sentence (the speech
path's voice, clean) to the incremental decoder (``evals.asr.streaming.replay``) three times,
interleaved per utterance (the order alternates) so the three share the box's load: ``plain`` (no
second pass), ``every_pause`` (the second pass on every pause decode, as before issue 18) and
``final_only`` (pause decodes are first passes, the final is re-listened: what calls run). Prints the
median and p95 of each and the difference to ``plain``, how many finals match ``every_pause``, and
writes ``results.json`` and ``timing.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from asr.incremental import IncrementalSettings
from asr.relisten import RelisteningTranscriber
from asr.transcriber import Transcript
from evals.asr.streaming import replay
from evals.speech import SpeechPath

WAYS = ("plain", "every_pause", "final_only")


class _FirstPassOnly:
    """The decoder without its second pass."""

    def __init__(self, decoder: RelisteningTranscriber) -> None:
        self.decoder = decoder

    def transcribe(self, audio: np.ndarray, hotwords: str | None = None) -> Transcript:
        return self.decoder.first_pass(audio, hotwords)[0]


class _BothPassesAlways:
    """The decoder as it was before issue 18 in the incremental decoder: both passes at every decode."""

    def __init__(self, decoder: RelisteningTranscriber) -> None:
        self.decoder = decoder

    def transcribe(self, audio: np.ndarray, hotwords: str | None = None) -> Transcript:
        return self.decoder.transcribe(audio, hotwords)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("evals/data/asr_medical.jsonl"))
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("evals/out/relisten_timing"))
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 CPU threads")
    args = parser.parse_args(argv)
    speech = SpeechPath(True, cpu_threads=args.threads)
    decoder = speech.asr
    if not isinstance(decoder, RelisteningTranscriber):
        parser.error("the call's decoder has no second pass (MEDVOICE_ASR_RELISTEN is off)")
    lines = args.data.read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()][: args.limit]
    ways = {
        "plain": _FirstPassOnly(decoder),
        "every_pause": _BothPassesAlways(decoder),
        "final_only": decoder,
    }
    final_ms: dict[str, list[float]] = {w: [] for w in WAYS}
    texts: dict[str, list[str]] = {w: [] for w in WAYS}
    loads = [os.getloadavg()[0]]
    for number, record in enumerate(records):
        audio = speech.render(record["text"])
        for way in WAYS if number % 2 == 0 else WAYS[::-1]:
            streamed = replay(ways[way], audio, IncrementalSettings())  # type: ignore[arg-type]
            final_ms[way].append(streamed.final_s * 1000)
            texts[way].append(streamed.transcript.text)
        loads.append(os.getloadavg()[0])
        print(f"{number + 1}/{len(records)}", file=sys.stderr, flush=True)
    metrics: dict[str, float] = {"utterances": float(len(records))}
    for way in WAYS:
        metrics[f"{way}_final_ms_median"] = float(np.median(final_ms[way]))
        metrics[f"{way}_final_ms_p95"] = float(np.percentile(final_ms[way], 95))
    for way in WAYS[1:]:
        for stat in ("median", "p95"):
            metrics[f"{way}_{stat}_minus_plain"] = (
                metrics[f"{way}_final_ms_{stat}"] - metrics[f"plain_final_ms_{stat}"]
            )
    metrics["final_only_same_text_as_every_pause"] = float(
        sum(a == b for a, b in zip(texts["every_pause"], texts["final_only"], strict=True))
    )
    metrics["load_average_1m_min"], metrics["load_average_1m_max"] = min(loads), max(loads)
    for name, value in metrics.items():
        print(f"{name:40s} {value:10.1f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(metrics, indent=2), "utf-8")
    _draw(final_ms, args.out / "timing.png")
    print(f"wrote {args.out}/results.json and {args.out}/timing.png")
    return 0


def _draw(final_ms: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.boxplot([final_ms[w] for w in WAYS], tick_labels=list(WAYS))
    axis.set_ylabel("end of turn -> final (ms)")
    axis.set_title("incremental decoder: when the second pass runs")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


if __name__ == "__main__":
    raise SystemExit(main())
