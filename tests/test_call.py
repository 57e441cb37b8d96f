"""End-to-end calls through the real models: the CLI path and the WebSocket endpoint."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
import websockets

from evals.ws_caller import START, call

CHEST_PAIN = "我胸口疼，出了很多汗。"


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) if len(audio) else 0.0


# -- CLI ----------------------------------------------------------------------------------------


async def test_file_call_chest_pain_gets_120(engines, speak):
    from agent.cli import run_file_call
    from agent.session import CallSessions

    sessions = CallSessions(engines)
    log, recording = await run_file_call(sessions, "triage", speak(CHEST_PAIN))
    caller = [text for role, text in log.transcript() if role == "caller"]
    agent = [text for role, text in log.transcript() if role == "agent"]
    assert caller and "胸" in caller[0]
    assert any("120" in line for line in agent[1:]), agent
    assert _rms(recording.to_array()) > 300
    assert sessions.active == 0


def test_medvoice_call_command(tmp_path, speak):
    caller = tmp_path / "caller.wav"
    sf.write(caller, speak(CHEST_PAIN), 16000, subtype="PCM_16")
    out = tmp_path / "agent.wav"
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "call", "--flow", "triage", "--in", str(caller), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert any(line.startswith("患者:") and "胸" in line for line in lines), proc.stdout
    assert any(line.startswith("助手:") and "120" in line for line in lines), proc.stdout
    audio, rate = sf.read(out, dtype="int16")
    assert rate == 16000 and _rms(audio) > 300
    # Every task the call started was cancelled and awaited by its owner before the call ended
    # (the silence timer used to be re-armed after the end and left behind).
    assert "dangling tasks" not in proc.stderr, proc.stderr[-2000:]
    assert "| ERROR" not in proc.stderr, proc.stderr[-2000:]


def test_call_command_rejects_wrong_sample_rate(tmp_path):
    wav = tmp_path / "cd.wav"
    sf.write(wav, np.zeros(44100, np.int16), 44100)
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "call", "--in", str(wav), "--out", str(tmp_path / "o.wav")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "is 44100 Hz with 1 channel(s); expected 16000 Hz mono" in proc.stderr


def test_call_command_rejects_a_file_that_is_not_audio(tmp_path):
    bogus = tmp_path / "notes.wav"
    bogus.write_text("这不是音频")
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "call", "--in", str(bogus), "--out", str(tmp_path / "o.wav")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0 and "is not a readable WAV file" in proc.stderr


# -- HTTP ---------------------------------------------------------------------------------------


def test_health_ready_and_docs(live_server):
    assert httpx.get(f"{live_server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{live_server.url}/readyz").json()
    assert ready["ready"] is True
    assert set(ready["models"]) >= {"asr", "tts", "vad", "turn", "medical_terms"}
    for model in ready["models"].values():
        assert model["loaded"] and model["path"] and model["load_s"] >= 0
    assert "/ws/call" in httpx.get(f"{live_server.url}/openapi.json").text or httpx.get(
        f"{live_server.url}/docs"
    ).status_code == 200
    assert httpx.get(f"{live_server.url}/flows").json()["flows"] == ["triage", "followup", "dictation"]


# -- WebSocket: bad input -------------------------------------------------------------------------


async def _first_error(url: str, first_message) -> tuple[dict, int | None]:
    async with websockets.connect(url) as ws:
        if first_message is not None:
            await ws.send(first_message)
        error = json.loads(await ws.recv())
        try:
            await ws.recv()
        except websockets.ConnectionClosed as exc:
            return error, exc.code
    return error, None


async def test_ws_unknown_flow_lists_the_flows(live_server):
    error, code = await _first_error(f"{live_server.ws}/ws/call?flow=karaoke", None)
    assert error["code"] == "unknown_flow" and "karaoke" in error["message"]
    assert error["flows"] == ["triage", "followup", "dictation"]
    assert code == 1008


async def test_ws_wrong_sample_rate_says_what_is_expected(live_server):
    start = json.dumps({**START, "sample_rate": 44100})
    error, code = await _first_error(f"{live_server.ws}/ws/call", start)
    assert error["code"] == "unsupported_audio_format"
    assert "must be 16000 Hz, pcm_s16le, 1 channel; got 44100 Hz" in error["message"]
    assert code == 1003


async def test_ws_audio_before_start_is_refused(live_server):
    error, code = await _first_error(f"{live_server.ws}/ws/call", b"\x00\x00" * 320)
    assert error["code"] == "start_required" and code == 1003


async def test_ws_garbage_json_is_refused(live_server):
    error, _ = await _first_error(f"{live_server.ws}/ws/call", "{not json")
    assert error["code"] == "bad_json"


async def test_ws_bad_frames_mid_call_get_errors_and_the_call_goes_on(live_server):
    async with websockets.connect(f"{live_server.ws}/ws/call") as ws:
        await ws.send(json.dumps(START))
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(b"\x00" * 641)  # odd length
        await ws.send(b"\x00" * 70000)  # too large
        await ws.send(json.dumps({"type": "dance"}))
        codes = []
        deadline = time.monotonic() + 10
        while len(codes) < 3 and time.monotonic() < deadline:
            message = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(message, str) and json.loads(message)["type"] == "error":
                codes.append(json.loads(message)["code"])
        assert codes == ["bad_audio", "audio_frame_too_large", "unknown_message"]
        await ws.send(json.dumps({"type": "hangup"}))


# -- WebSocket: calls ----------------------------------------------------------------------------


async def test_ws_chest_pain_call(live_server, speak):
    result = await call(f"{live_server.ws}/ws/call?flow=triage", [speak(CHEST_PAIN)])
    assert result.texts("agent"), result.events
    assert any("胸" in text for text in result.texts("caller"))
    assert any("120" in text for text in result.texts("agent"))
    done = next(e["_t"] for e in result.events if e["type"] == "_caller_done")
    assert result.audio_bytes(after=done) > 16000  # > 0.5 s of agent speech after the caller spoke
    states = [e for e in result.events if e.get("type") == "state"]
    assert states


async def test_ws_silence_reprompts_once_then_ends_politely(live_server):
    result = await call(f"{live_server.ws}/ws/call?flow=triage", [], wait_agent_s=30, hangup=False)
    kinds = [e["type"] for e in result.events]
    assert kinds.count("silence") == 2, kinds
    assert kinds[-1] == "end" or "end" in kinds
    assert len(result.texts("agent")) >= 3  # greeting, re-prompt, goodbye


async def test_ws_hangup_mid_turn_cleans_up(live_server, speak):
    sessions = live_server.app.state.sessions
    deadline = time.monotonic() + 15
    while sessions.active and time.monotonic() < deadline:  # earlier calls finish their clean-up
        await asyncio.sleep(0.1)
    async with websockets.connect(f"{live_server.ws}/ws/call") as ws:
        await ws.send(json.dumps(START))
        assert json.loads(await ws.recv())["type"] == "ready"
        pcm = speak(CHEST_PAIN)
        for i in range(0, len(pcm) // 2, 320):
            await ws.send(pcm[i : i + 320].tobytes())
            await asyncio.sleep(0.02)
        assert sessions.active == 1
    deadline = time.monotonic() + 15
    while sessions.active and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert sessions.active == 0


@pytest.mark.parametrize("flow", ["triage"])
async def test_two_calls_at_once(live_server, speak, flow):
    results = await asyncio.gather(
        call(f"{live_server.ws}/ws/call?flow={flow}", [speak(CHEST_PAIN)]),
        call(f"{live_server.ws}/ws/call?flow={flow}", [speak("我头疼，有点发烧。")]),
    )
    assert all(r.texts("agent") for r in results)
    assert any("120" in t for t in results[0].texts("agent"))


async def test_ws_dictation_without_a_doctor_token_is_refused(live_server):
    error, code = await _first_error(f"{live_server.ws}/ws/call?flow=dictation&patient=p1", None)
    assert error["code"] == "bad_call_options" and "role 'doctor'" in error["message"]
    assert code == 1008


async def test_ws_forged_token_is_refused(live_server):
    error, _ = await _first_error(f"{live_server.ws}/ws/call?flow=followup&patient=p1&token=abc.def", None)
    assert error["code"] == "bad_call_options" and "token rejected" in error["message"]
