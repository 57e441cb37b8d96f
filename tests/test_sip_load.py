"""SIPp against the live service: the load benchmark's scenario (evals.latency.sipp) places two
concurrent PCMA calls that play rendered speech by RTP; both are answered, the speech is
recognised on each, and every call and media port is freed when SIPp hangs up."""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest

pytest.importorskip("pjsua2")
pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (Debian's sip-tester) is not installed")

CALL_S = 13.0  # the greeting (6 s of caller silence), the utterance (~3 s), the recognised turn


def test_sipp_places_two_concurrent_calls_that_are_answered_heard_and_freed(engines, settings, records_store, tmp_path):
    from agent.app import create_app
    from evals.latency.sipp import run_level, scenario_file, speech_file
    from tests.test_sip import serve

    app = create_app(
        settings.model_copy(update={"sip_port": 0, "sip_bind": "127.0.0.1", "sip_allow_from": "127.0.0.1",
                                    "sip_rtp_timeout_s": 8.0}),
        engines=engines,
        store=records_store,
    )
    speech = tmp_path / "caller.alaw"
    speech_file(engines.voice, speech, CALL_S)
    scenario = scenario_file(tmp_path, speech, CALL_S)
    with serve(app):
        endpoint = app.state.sip.endpoint
        level = asyncio.run(run_level(endpoint, scenario, 2, CALL_S, tmp_path))
        deadline = time.monotonic() + 15
        while endpoint.live_calls or endpoint.media_ports or app.state.sip.calls.active:
            assert time.monotonic() < deadline, (
                f"leak: {endpoint.live_calls} call(s), {endpoint.media_ports} media port(s) after SIPp hung up")
            time.sleep(0.1)
    row = level.row(underrun_share=1.0)
    assert (level.sipp_successful, level.sipp_failed) == (2, 0), row
    assert row["answered"] == 2, row
    assert all(seen.call.stats.codec and seen.call.stats.codec.startswith("PCMA") for seen in level.seen), row
    assert all(seen.call.stats.rx_packets > 100 for seen in level.seen), row  # SIPp's RTP arrived
    assert row["recognised"] == 2, row  # the caller's words arrived over RTP and became a turn
    assert all(seen.call.outgoing.played_frames > 50 for seen in level.seen), row  # the greeting was played
