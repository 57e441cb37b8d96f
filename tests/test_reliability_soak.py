"""A short soak: three concurrent scripted WebSocket callers for ~15 s on the live service (barging
in, cutting the line), then every count the service keeps goes back to its idle value:
live calls, asyncio tasks, open file descriptors, database connections in use. No call is dropped.
(``python -m evals.reliability --parts soak`` runs 6 calls for 30 minutes against ``medvoice serve``
and fits the RSS trend.) ~40 s: the callers speak in real time."""

from __future__ import annotations

import os

from evals.reliability.soak import Script, soak


async def test_counts_return_to_idle_after_concurrent_calls(live_server, speak) -> None:
    script = Script(
        turns=(speak("我头疼了三天，晚上睡不好觉。"), speak("我想挂个号，看一下皮肤科。")),
        interruptions=(speak("等一下，我还有一个问题。"),),
    )
    # Short calls only (a barge-in, a line cut mid-answer): the last ones end soon after the 15 s.
    report = await soak(live_server.url, os.getpid(), script, calls=3, seconds=15.0, interval_s=5.0,
                        kinds={"barge": 1, "drop": 1})
    flat = report.flat()
    assert flat["soak_calls_placed"] >= 3
    assert flat["dropped_calls"] == 0, report.stats.drop_reasons
    assert flat["leaked_calls"] == 0 and flat["leaked_peers"] == 0
    assert flat["leaked_tasks"] <= 0, (report.idle, report.after)
    assert flat["leaked_fds"] <= 0, (report.idle, report.after)
    assert flat["leaked_db_connections"] <= 0
