"""Per-turn stage timings of every call, aggregated for ``/metrics`` (Prometheus) and the page.

Each caller turn is timed from the caller's end of speech (the VAD stop minus its stop delay) to:
``transcript`` (the final transcript handed to the dialogue), ``reply`` (the dialogue's first
sentence, i.e. the first LLM token's sentence when an LLM words it), ``tts_audio`` (the first
synthesised audio chunk) and ``audio_sent`` (the first chunk written by the output transport).
Barge-ins are timed from the caller's speech onset to the agent's audio pausing.

``TurnTimer`` is per call; the process-wide ``REGISTRY`` aggregates all calls. No patient text
is ever stored here: only times, counts and reasons.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np
from pipecat.frames.frames import Frame, OutputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

STAGES = ("transcript", "reply", "tts_audio", "audio_sent")
# Histogram buckets (seconds) for Prometheus.
BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)
_RECENT = 500


class MetricsRegistry:
    """Thread-safe aggregate of stage timings, barge-ins and turn-end reasons."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stage: dict[str, deque[float]] = {s: deque(maxlen=_RECENT) for s in STAGES}
        self._stage_count = dict.fromkeys(STAGES, 0)
        self._stage_sum = dict.fromkeys(STAGES, 0.0)
        self._stage_buckets = {s: [0] * len(BUCKETS) for s in STAGES}
        self._bargein: deque[float] = deque(maxlen=_RECENT)
        self._counters: dict[str, int] = {}
        self._recent_turns: deque[dict[str, float]] = deque(maxlen=20)

    def observe_turn(self, stages: dict[str, float]) -> None:
        with self._lock:
            for stage, seconds in stages.items():
                if stage not in self._stage:
                    continue
                self._stage[stage].append(seconds)
                self._stage_count[stage] += 1
                self._stage_sum[stage] += seconds
                for i, bound in enumerate(BUCKETS):
                    if seconds <= bound:
                        self._stage_buckets[stage][i] += 1
            self._recent_turns.append({k: round(v * 1000) for k, v in stages.items()})

    def observe_bargein(self, seconds: float) -> None:
        with self._lock:
            self._bargein.append(seconds)

    def count(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + by

    def reset(self) -> None:
        """Forget everything (tests and benchmarks)."""
        MetricsRegistry.__init__(self)

    def snapshot(self) -> dict[str, Any]:
        """JSON for the page: p50/p95 (ms) per stage over recent turns, counters, last turns."""
        with self._lock:
            stages = {s: _percentiles(self._stage[s]) for s in STAGES}
            return {
                "stages_ms": stages,
                "bargein_ms": _percentiles(self._bargein),
                "counters": dict(self._counters),
                "recent_turns_ms": list(self._recent_turns),
            }

    def render_prometheus(self) -> str:
        with self._lock:
            lines = [
                "# HELP medvoice_turn_stage_seconds Seconds from the caller's end of speech to each stage.",
                "# TYPE medvoice_turn_stage_seconds histogram",
            ]
            for stage in STAGES:
                for bound, count in zip(BUCKETS, self._stage_buckets[stage], strict=True):
                    lines.append(f'medvoice_turn_stage_seconds_bucket{{stage="{stage}",le="{bound}"}} {count}')
                total = self._stage_count[stage]
                lines.append(f'medvoice_turn_stage_seconds_bucket{{stage="{stage}",le="+Inf"}} {total}')
                lines.append(f'medvoice_turn_stage_seconds_sum{{stage="{stage}"}} {self._stage_sum[stage]:.6f}')
                lines.append(f'medvoice_turn_stage_seconds_count{{stage="{stage}"}} {total}')
            lines += [
                "# HELP medvoice_bargein_seconds Seconds from caller speech onset to agent audio paused (recent).",
                "# TYPE medvoice_bargein_seconds summary",
            ]
            for quantile, value in _quantiles(self._bargein):
                lines.append(f'medvoice_bargein_seconds{{quantile="{quantile}"}} {value:.6f}')
            lines.append(f"medvoice_bargein_seconds_count {len(self._bargein)}")
            lines += ["# HELP medvoice_turn_events_total Turn-taking events by kind.",
                      "# TYPE medvoice_turn_events_total counter"]
            for name, value in sorted(self._counters.items()):
                lines.append(f'medvoice_turn_events_total{{event="{name}"}} {value}')
        return "\n".join(lines) + "\n"


def _quantiles(values: Iterable[float]) -> list[tuple[str, float]]:
    data = list(values)
    if not data:
        return []
    return [(q, float(np.quantile(data, float(q)))) for q in ("0.5", "0.95")]


def _percentiles(values: Iterable[float]) -> dict[str, float | int | None]:
    data = list(values)
    if not data:
        return {"p50": None, "p95": None, "n": 0}
    return {"p50": round(float(np.median(data)) * 1000), "p95": round(float(np.quantile(data, 0.95)) * 1000),
            "n": len(data)}


REGISTRY = MetricsRegistry()


def render_prometheus() -> str:
    """The process's turn metrics in Prometheus text format (what ``/metrics`` serves)."""
    return REGISTRY.render_prometheus()


def snapshot() -> dict[str, Any]:
    """The process's turn metrics as JSON for the page."""
    return REGISTRY.snapshot()


class TurnTimer:
    """Times one call's turns; each stage counts once per turn (its first occurrence).

    Args:
        registry: Where finished turns go (the process-wide ``REGISTRY`` by default).
        on_turn: Optional observer of each finished turn's stage seconds (tests, the page's events).
    """

    def __init__(self, registry: MetricsRegistry | None = None, on_turn=None) -> None:
        self._registry = registry or REGISTRY
        self._on_turn = on_turn
        self._speech_end: float | None = None
        self._stages: dict[str, float] = {}

    def speech_ended(self, at: float) -> None:
        """The caller's end of speech (``time.monotonic()``) of the turn about to be answered."""
        self._finish()
        self._speech_end = at
        self._stages = {}

    def mark(self, stage: str) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        if self._speech_end is None or stage in self._stages:
            return
        self._stages[stage] = time.monotonic() - self._speech_end
        if stage == STAGES[-1]:
            self._finish()

    def cancel(self) -> None:
        """The turn will not be answered (it was a backchannel, or the call ended)."""
        self._speech_end, self._stages = None, {}

    def _finish(self) -> None:
        if self._speech_end is not None and self._stages:
            self._registry.observe_turn(self._stages)
            if self._on_turn is not None:
                self._on_turn(dict(self._stages))
        self._speech_end, self._stages = None, {}


class StageProbe(FrameProcessor):
    """Marks ``stage`` on the turn timer when agent audio first passes this point in a turn."""

    def __init__(self, timer: TurnTimer, stage: str, **kwargs) -> None:
        super().__init__(**kwargs)
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        self._timer, self._stage = timer, stage

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM and isinstance(frame, OutputAudioRawFrame):
            self._timer.mark(self._stage)
        await self.push_frame(frame, direction)
