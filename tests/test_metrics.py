"""Per-turn stage timings: the per-call timer, the aggregate, Prometheus text and the JSON snapshot."""

from __future__ import annotations

import time

import pytest

from agent.metrics import STAGES, MetricsRegistry, TurnTimer


def test_a_turn_is_timed_from_end_of_speech_once_per_stage():
    registry, seen = MetricsRegistry(), []
    timer = TurnTimer(registry, on_turn=seen.append)
    timer.speech_ended(time.monotonic() - 0.5)
    timer.mark("transcript")
    timer.mark("transcript")  # a second mark in the same turn is ignored
    timer.mark("reply")
    timer.mark("tts_audio")
    timer.mark("audio_sent")  # the last stage closes the turn
    assert len(seen) == 1 and set(seen[0]) == set(STAGES)
    assert all(seconds >= 0.5 for seconds in seen[0].values())
    assert seen[0]["transcript"] <= seen[0]["audio_sent"]
    timer.mark("reply")  # no open turn: nothing recorded
    assert registry.snapshot()["stages_ms"]["reply"]["n"] == 1


def test_cancelled_turns_and_marks_without_a_turn_are_not_counted():
    registry = MetricsRegistry()
    timer = TurnTimer(registry)
    timer.mark("transcript")
    timer.speech_ended(time.monotonic())
    timer.cancel()
    timer.mark("reply")
    assert registry.snapshot()["stages_ms"]["transcript"]["n"] == 0
    with pytest.raises(ValueError, match="unknown stage 'llm'"):
        timer.mark("llm")


def test_prometheus_text_and_snapshot():
    registry = MetricsRegistry()
    for seconds in (0.25, 0.35, 0.9):
        registry.observe_turn({"transcript": seconds, "audio_sent": seconds + 0.2})
    registry.observe_bargein(0.18)
    registry.count("backchannels_ignored")
    text = registry.render_prometheus()
    assert "# TYPE medvoice_turn_stage_seconds histogram" in text
    assert 'medvoice_turn_stage_seconds_bucket{stage="transcript",le="0.3"} 1' in text
    assert 'medvoice_turn_stage_seconds_bucket{stage="transcript",le="+Inf"} 3' in text
    assert 'medvoice_turn_stage_seconds_count{stage="reply"} 0' in text
    assert 'medvoice_bargein_seconds{quantile="0.5"} 0.180000' in text
    assert 'medvoice_turn_events_total{event="backchannels_ignored"} 1' in text
    for line in text.strip().splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2
    snap = registry.snapshot()
    assert snap["stages_ms"]["transcript"] == {"p50": 350, "p95": 845, "n": 3}
    assert snap["bargein_ms"]["p50"] == 180
    assert snap["recent_turns_ms"][-1] == {"transcript": 900, "audio_sent": 1100}
