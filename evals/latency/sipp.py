"""``python -m evals.latency.sipp --out DIR [--levels 1,2,4,6,8]``: how many SIP calls at once, with SIPp.

Runs the real service (real embedded models, ``asr_decoder=short_window``, SIP on a free loopback
port) and, for each level N, has SIPp (``sip-tester``, ``sipp_scenario.xml``) place N calls at once
to ``triage``. Each call offers PCMA only and, once answered, plays a rendered caller utterance as
RTP with ``rtp_stream`` (raw A-law made here from our voice): ``LEAD_S`` of silence while the agent
greets, the utterance, then silence until SIPp hangs up. SIPp sends RTP but does not judge what it
hears, so what the callers got is read on the service, in this process, from each ``SipCall``:

- ``answered``: calls that reached the flow (SIPp's failed calls are refusals: 486/503 or no answer);
- ``recognised``: calls with a final caller transcript;
- ``replied``: calls whose agent played at least 0.5 s of audio after that transcript;
- ``gaps``: audio underruns as the WebSocket sweep counts them, a 0.2-1 s stall inside the agent's
  speech: ``OutgoingAudio.played_frames`` watched every 20 ms, a stall is the time between two
  advances less one poll;
- ``underrun_frames``: shorter holes, silence the conference clock played between the agent's frames
  because its audio was late (``OutgoingAudio.underrun_frames``: under 200 ms), and
  ``underrun_share``, their share of the agent's played frames (``played_frames``); reported, and
  held to ``--underrun-share`` (default 1.0: not a criterion; the WebSocket caller cannot see holes
  this short, its chunks arrive ahead of real time);
- ``reply_p50_ms``: the caller's final transcript -> the agent's first reply frame played (polled
  every 20 ms; the dialogue, TTS and the output queue, not the ASR's end-of-turn wait).

A level passes when every call was answered, recognised and replied to with no gap (the WebSocket
sweep's criterion) and an underrun share at most ``--underrun-share``; the sweep stops after the first level that fails. ``max_concurrent_sip_calls`` is the largest
passing level. Writes ``results.json`` (flat keys), ``levels.jsonl`` and ``sipp.png`` under DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evals.latency import ours

SCENARIO = Path(__file__).with_name("sipp_scenario.xml")
LEAD_S = 6.0  # silence before the caller speaks: the greeting
TEXT = "我头疼，已经两天了，还有点发烧。"
POLL_S = 0.02


@dataclass
class CallSeen:
    """One service-side SIP call as the sweep watched it."""

    call: Any
    final_at: float | None = None  # when its first final caller transcript was seen
    played_at_final: int = 0
    reply_at: float | None = None  # when the agent's first frame after that was played
    last_played: int = 0
    last_advance_at: float | None = None  # last poll that saw played_frames advance
    gaps: int = 0

    def watch_audio(self, now: float) -> None:
        """One poll of the agent's played frames: counts 0.2-1 s stalls between advances."""
        played = self.call.outgoing.played_frames
        if played > self.last_played:
            if self.last_advance_at is not None and 0.2 <= now - self.last_advance_at - POLL_S < 1.0:
                self.gaps += 1
            self.last_played, self.last_advance_at = played, now

    @property
    def recognised(self) -> bool:
        return self.final_at is not None

    @property
    def replied(self) -> bool:
        return self.final_at is not None and self.call.outgoing.played_frames - self.played_at_final >= 25


@dataclass
class Level:
    """What one level of N concurrent calls measured."""

    calls: int
    sipp_successful: int = 0
    sipp_failed: int = 0
    seen: list[CallSeen] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # statuses of SIPp's unexpected responses
    wall_s: float = 0.0

    def row(self, underrun_share: float) -> dict[str, Any]:
        replies = [s.reply_at - s.final_at for s in self.seen if s.reply_at is not None and s.final_at is not None]
        row = {
            "calls": self.calls,
            "answered": len(self.seen),
            "refused_or_failed": self.sipp_failed,
            "sipp_successful": self.sipp_successful,
            "unexpected_statuses": ",".join(self.unexpected),
            "recognised": sum(s.recognised for s in self.seen),
            "replied": sum(s.replied for s in self.seen),
            "gaps": sum(s.gaps for s in self.seen),
            "underrun_frames": sum(s.call.outgoing.underrun_frames for s in self.seen),
            "played_frames": sum(s.call.outgoing.played_frames for s in self.seen),
            "reply_p50_ms": round(float(np.median(replies)) * 1000) if replies else None,
            "reply_max_ms": round(max(replies) * 1000) if replies else None,
            "wall_s": round(self.wall_s, 1),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        }
        row["underrun_share"] = round(row["underrun_frames"] / max(1, row["played_frames"]), 4)
        row["passed"] = (row["answered"] == row["recognised"] == row["replied"] == self.calls
                         and row["gaps"] == 0 and row["underrun_share"] <= underrun_share)
        return row


def speech_file(voice: Any, path: Path, call_s: float) -> float:
    """The caller's side of one call as raw A-law at 8 kHz: silence, the utterance, silence (``call_s``).

    Returns where the utterance ends (seconds from the start of the RTP stream).
    """
    import soundfile as sf
    from scipy.signal import resample_poly

    from evals.render import render_caller

    speech = render_caller(voice, TEXT, pad_s=0.0).astype(np.float32) / 32768
    narrow = resample_poly(speech, 1, 2).astype(np.float32)
    lead = np.zeros(int(LEAD_S * 8000), np.float32)
    tail = np.zeros(max(0, int(call_s * 8000) - len(lead) - len(narrow)), np.float32)
    sf.write(path, np.concatenate([lead, narrow, tail]), 8000, format="RAW", subtype="ALAW")
    return LEAD_S + len(narrow) / 8000


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sipp_command(sip_port: int, scenario: Path, calls: int, *, stats: Path, errors: Path, timeout_s: float) -> list[str]:
    """SIPp placing ``calls`` calls at once (all started within a second) to ``triage`` on loopback."""
    sipp = shutil.which("sipp")
    if sipp is None:
        raise RuntimeError("sipp is not installed (Debian package sip-tester)")
    return [
        sipp, f"127.0.0.1:{sip_port}", "-sf", str(scenario), "-s", ours.FLOW,
        "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(_free_udp_port()), "-mp", str(_free_udp_port() & ~1),
        "-l", str(calls), "-m", str(calls), "-r", str(calls), "-rp", "1000",
        "-timeout", f"{int(timeout_s)}s", "-timeout_error", "-nostdin",
        "-trace_stat", "-stf", str(stats), "-fd", "1", "-trace_err", "-error_file", str(errors),
    ]


def scenario_file(work: Path, speech: Path, call_s: float) -> Path:
    """The scenario with this run's speech file and call length filled in."""
    text = SCENARIO.read_text().replace("@SPEECH@", str(speech)).replace("@CALL_MS@", str(int(call_s * 1000)))
    path = work / "scenario.xml"
    path.write_text(text)
    return path


def _sipp_counts(stats: Path) -> tuple[int, int]:
    """(successful, failed) calls from SIPp's last statistics line (``-trace_stat``)."""
    if not stats.exists():
        return 0, 0
    lines = [line for line in stats.read_text().splitlines() if line.strip()]
    if len(lines) < 2:
        return 0, 0
    header, last = lines[0].split(";"), lines[-1].split(";")
    values = dict(zip(header, last, strict=False))
    return int(values.get("SuccessfulCall(C)", 0) or 0), int(values.get("FailedCall(C)", 0) or 0)


async def run_level(endpoint: Any, scenario: Path, calls: int, call_s: float, work: Path) -> Level:
    """N calls at once from SIPp; watches each service-side call until SIPp is done."""
    level = Level(calls)
    stats = work / f"stats-{calls}.csv"
    errors = work / f"errors-{calls}.log"
    command = sipp_command(endpoint.ports["udp"], scenario, calls, stats=stats, errors=errors, timeout_s=call_s + 60)
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=work,
    )
    watched: dict[int, CallSeen] = {}
    while process.returncode is None:
        now = time.monotonic()
        for call in endpoint.calls():
            seen = watched.setdefault(id(call), CallSeen(call))
            seen.watch_audio(now)
            if seen.final_at is None and any(
                e.get("type") == "transcript" and e.get("role") == "caller" and e.get("final")
                for e in list(call.events)
            ):
                seen.final_at, seen.played_at_final = now, call.outgoing.played_frames
            elif seen.final_at is not None and seen.reply_at is None and (
                call.outgoing.played_frames > seen.played_at_final
            ):
                seen.reply_at = now
        await asyncio.sleep(POLL_S)
    level.wall_s = time.monotonic() - started
    level.seen = [s for s in watched.values() if s.call.media_ready.is_set()]
    level.sipp_successful, level.sipp_failed = _sipp_counts(stats)
    if errors.exists():  # the SIP responses SIPp did not expect: the refusals (503 ...)
        level.unexpected = sorted(re.findall(r"SIP/2\.0 (\d{3})", errors.read_text(errors="replace")))
    deadline = time.monotonic() + 30
    while (endpoint.live_calls or endpoint.media_ports) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # the last BYEs: every call freed before the next level
    return level


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from agent.config import Settings

    work = Path(tempfile.mkdtemp(prefix="medvoice-sipp-"))
    settings = Settings(
        _env_file=None,
        asr_decoder="short_window",
        database_url=f"sqlite:///{work}/records.db",
        key_file=work / "keys.json",
        silence_timeout_s=20.0,
        max_calls=args.max_calls,
        sip_port=0, sip_bind="127.0.0.1", sip_allow_from="127.0.0.1", sip_invites_per_minute=6000,
    )
    server, engines, _ = await asyncio.to_thread(ours.serve, settings)
    endpoint = server.config.app.state.sip.endpoint
    speech = work / "caller.alaw"
    speech_end_s = speech_file(engines.voice, speech, args.call_s)
    scenario = scenario_file(work, speech, args.call_s)
    results: dict[str, Any] = {"transport": "sip", "codec": "PCMA", "loadavg_start": [round(x, 2) for x in os.getloadavg()],
                               "call_s": args.call_s, "speech_end_s": round(speech_end_s, 2),
                               "service_max_calls": args.max_calls, "underrun_share_limit": args.underrun_share}
    rows: list[dict[str, Any]] = []
    for calls in args.levels:
        level = await run_level(endpoint, scenario, calls, args.call_s, work)
        row = level.row(args.underrun_share)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not row["passed"]:
            break
    server.should_exit = True
    passing = [r["calls"] for r in rows if r["passed"]]
    results["max_concurrent_sip_calls"] = max(passing) if passing else 0
    for row in rows:
        results.update({f"sip_concurrent_{row['calls']}_{k}": v for k, v in row.items()
                        if k not in ("calls", "loadavg")})
    results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    (args.out / "levels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _plot(args.out / "sipp.png", rows)
    return results


def _plot(path: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [r["calls"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].plot(levels, levels, "k:", label="placed")
    for key in ("answered", "recognised", "replied"):
        axes[0].plot(levels, [r[key] for r in rows], marker="o", label=key)
    axes[0].set_xlabel("concurrent SIP calls (SIPp, PCMA)")
    axes[0].legend()
    axes[0].set_title("Calls")
    axes[1].bar(levels, [r["underrun_frames"] for r in rows], alpha=0.4, label="holes < 0.2 s (20 ms frames)")
    axes[1].bar(levels, [r["gaps"] * 10 for r in rows], alpha=0.6, label="0.2-1 s gaps x10")
    axes[1].plot(levels, [r["reply_p50_ms"] or 0 for r in rows], marker="o", color="C3", label="reply p50 (ms)")
    axes[1].set_xlabel("concurrent SIP calls")
    axes[1].legend()
    axes[1].set_title("Agent audio")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("evals/out/sipp"))
    parser.add_argument("--levels", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2, 4, 6, 8])
    parser.add_argument("--call-s", type=float, default=20.0, help="each call's length before SIPp hangs up")
    parser.add_argument("--max-calls", type=int, default=16, help="the service's call limit (more get 503)")
    parser.add_argument("--underrun-share", type=float, default=1.0,
                        help="a level passes with at most this share of the agent's frames played as holes")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = asyncio.run(_run(args))
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
