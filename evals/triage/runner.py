"""Run vignettes through the real triage dialogue, answering follow-up questions like a caller who
does not know more ("不太清楚"), and collect the decision of each call; and, for ``--detector on``,
run the learned red-flag detector on each vignette's text and measure what it costs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from dialogue import Dialogue, LLMPlugin, create_dialogue
from dialogue.safety_floor import SafetyFloor
from evals.triage.metrics import Outcome

_DONT_KNOW = "不太清楚"
_DECIDED = ("offer", "emergency", "done")
_MAX_TURNS = 6


def load_vignettes(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file in the dev set's format (``department`` may be a list).

    Raises:
        ValueError: a line misses a field or has a bad level (names the line).
    """
    cases = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        case = json.loads(line)
        missing = {"id", "text", "level", "department", "red_flags"} - set(case)
        if missing or case["level"] not in (1, 2, 3, 4):
            raise ValueError(
                f"{path}:{number}: needs id, text, level 1-4, department, red_flags; missing {sorted(missing)}, "
                f"level {case.get('level')!r}"
            )
        cases.append(case)
    return cases


async def run_case(case: dict[str, Any], llm: LLMPlugin | None, hear: Callable[[str], str] | None = None,
                   safety: SafetyFloor | None = None, reply: Callable[[Dialogue], str] | None = None) -> Outcome:
    """One vignette as a call: the text as the first turn, then "不太清楚" until a decision.

    ``hear`` turns each caller turn into what the dialogue receives (``--audio``: rendered, recognised
    and corrected as a call does); by default the words arrive as written. ``safety``: the floor the
    call uses (default: the packaged rules). ``reply``: what the caller answers to the dialogue's
    pending question (default: "不太清楚").
    """
    hear = hear or (lambda words: words)
    dialogue = create_dialogue("triage", llm=llm, call_id=str(case["id"]), safety=safety)
    async for _ in dialogue.open():
        pass
    turn_ms = []
    utterance = hear(case["text"])
    turns = 0
    for turns in range(1, _MAX_TURNS + 1):  # noqa: B007 - the count is reported
        started = time.perf_counter()
        # nothing recognised: the pipeline reports silence, as in a call
        replies = dialogue.handle(utterance) if utterance.strip() else dialogue.handle_silence()
        async for _ in replies:
            pass
        turn_ms.append((time.perf_counter() - started) * 1000)
        if dialogue.snapshot()["state"] in _DECIDED:
            break
        utterance = hear(reply(dialogue) if reply is not None else _DONT_KNOW)
    snapshot = dialogue.snapshot()
    gold_department = case["department"]
    return Outcome(
        case_id=str(case["id"]),
        gold_level=int(case["level"]),
        gold_departments=tuple(gold_department) if isinstance(gold_department, list) else (gold_department,),
        gold_red_flags=tuple(case["red_flags"]),
        level=snapshot["level"],
        department=snapshot["department"],
        red_flags=tuple(snapshot["red_flags"]),
        turn_ms=tuple(turn_ms),
        turns=turns,
    )


def service_floor() -> SafetyFloor:
    """The safety floor the service builds from its settings (``MEDVOICE_*`` in the environment, else
    the defaults: the rules plus the light learned detector in ask mode), by the service's own loader."""
    from agent.config import Settings
    from agent.engines import _load_safety

    return _load_safety(Settings.from_mapping({}))


@dataclass(frozen=True)
class DetectorRun:
    """The learned detector over a vignette set.

    Parameters:
        learned: Per vignette, the codes raised (code -> level its rule forces).
        detect_ms: Per vignette, the time of one ``detect_hits`` call.
        load_s: Time to import and load the detector (bank, both embedders, warm-up).
        rss_growth_mb: Resident memory added by importing, loading and running it.
    """

    learned: list[dict[str, int]]
    detect_ms: list[float]
    load_s: float
    rss_growth_mb: float

    def cost(self) -> dict[str, float]:
        """``detector_ms_median``, ``detector_ms_p95``, ``detector_load_s``, ``detector_rss_mb``."""
        times = sorted(self.detect_ms)
        return {
            "detector_ms_median": median(times) if times else 0.0,
            "detector_ms_p95": times[min(len(times) - 1, int(0.95 * len(times)))] if times else 0.0,
            "detector_load_s": self.load_s,
            "detector_rss_mb": self.rss_growth_mb,
        }


def run_detector(cases: list[dict[str, Any]], bank_dir: Path | None = None, scorer_set: str = "light") -> DetectorRun:
    """Load :class:`dialogue.detector.LearnedRedFlagDetector` (the packaged bank, or ``bank.npz`` and
    the thresholds from ``bank_dir``, as ``python -m dialogue.detector.build --out`` writes them) with
    ``scorer_set`` and run it once on each vignette's text."""
    before = _rss_mb()
    started = time.perf_counter()
    from dialogue.detector import LearnedRedFlagDetector  # imported here: its libraries count in the cost

    detector = LearnedRedFlagDetector.load(bank_dir, scorer_set)
    load_s = time.perf_counter() - started
    learned, detect_ms = [], []
    for case in cases:
        started = time.perf_counter()
        hits = detector.detect_hits(case["text"])
        detect_ms.append((time.perf_counter() - started) * 1000)
        learned.append({hit.code: hit.level for hit in hits})
    return DetectorRun(learned, detect_ms, load_s, _rss_mb() - before)


def _rss_mb() -> float:
    """This process's resident memory (Linux ``/proc``; 0 elsewhere)."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
