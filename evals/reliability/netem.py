"""WebRTC calls over a real impaired network path: a veth pair into a network namespace.

The service runs in this process (real models, uvicorn on the host end of the veth pair); the
scripted aiortc caller (``evals.netloss``: one dictation call scored by CER and timed to the final
transcript, and triage calls timed voice to voice) runs in a child process inside the namespace,
so every packet of the call (ICE, DTLS, SRTP, SCTP, the HTTP offer) crosses the veth pair and the
kernel impairs it there, both ways:

- ``tc qdisc ... netem`` on both ends when the kernel has ``sch_netem``: ``loss 10%``, ``loss 30%``,
  and ``delay 200ms 200ms`` (200 ms +- 200 ms uniform jitter each way; packets reorder);
- otherwise (a kernel built without netem, as this project's Firecracker VMs are) the same
  impairments from iptables in the namespace's INPUT and OUTPUT: loss with the ``statistic`` match
  (random, per packet), delay and jitter by sending every packet to an NFQUEUE whose verdicts
  ``evals.reliability.jitter`` gives after 200 +- 200 ms (uniform; packets reorder, as with netem).

Nothing leaves the machine: the namespace has no route but the veth pair. Needs root,
``iproute2`` and, for the fallback, ``iptables``. ``run(out_dir, quick)`` returns flat metrics
(``netem_<profile>_cer``, ``_transcript_p50_ms``, ``_v2v_p50_ms``, ``_calls_dropped``, ``_measured_loss``,
``_method``: netem, iptables or nfqueue ...) and writes ``netem.png``. ``python -m evals.reliability.netem --caller ...`` is the
namespace side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
NFQUEUE_NUMBER = 22


@dataclass(frozen=True)
class Profile:
    """One network condition. ``loss`` is per packet each way; ``delay_ms``/``jitter_ms`` need netem."""

    name: str
    loss: float = 0.0
    delay_ms: int = 0
    jitter_ms: int = 0

    @property
    def needs_netem(self) -> bool:
        return bool(self.delay_ms or self.jitter_ms)

    def netem_args(self) -> list[str]:
        args = []
        if self.delay_ms or self.jitter_ms:
            args += ["delay", f"{self.delay_ms}ms", f"{self.jitter_ms}ms"]
        if self.loss:
            args += ["loss", f"{self.loss * 100:g}%"]
        return args or ["delay", "0ms"]


PROFILES = (Profile("clean"), Profile("loss10", loss=0.1), Profile("loss30", loss=0.3),
            Profile("jitter200", delay_ms=200, jitter_ms=200))


def _sh(*command: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    full = ["ip", "netns", "exec", netns, *command] if netns else list(command)
    return subprocess.run(full, check=check, capture_output=True, text=True, timeout=30)


def unavailable() -> str | None:
    """Why the namespace path cannot be built here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 ('ip') is not installed"
    return None


def _free_subnet() -> int:
    """A third octet for 10.231.X.0/30 that no interface uses."""
    used = _sh("ip", "-4", "-o", "addr").stdout
    for octet in range(os.getpid() % 200 + 20, 256):
        if f"10.231.{octet}." not in used:
            return octet
    raise RuntimeError("no free 10.231.X.0/30 subnet for the veth pair")


class NamespacePath:
    """A network namespace joined to this one by a veth pair (10.231.X.1 here, .2 there)."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.netns = f"medvoice-rel-{tag}"
        self.host_if, self.ns_if = f"mvrh{tag}", f"mvrn{tag}"
        octet = _free_subnet()
        self.host_ip, self.ns_ip = f"10.231.{octet}.1", f"10.231.{octet}.2"
        self._iptables: str | None = None

    def __enter__(self) -> NamespacePath:
        _sh("ip", "netns", "add", self.netns)
        try:
            _sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _sh("ip", "link", "set", self.ns_if, "netns", self.netns)
            _sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            _sh("ip", "link", "set", self.host_if, "up")
            _sh("ip", "-n", self.netns, "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
            _sh("ip", "-n", self.netns, "link", "set", self.ns_if, "up")
            _sh("ip", "-n", self.netns, "link", "set", "lo", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        _sh("ip", "link", "del", self.host_if, check=False)
        _sh("ip", "netns", "del", self.netns, check=False)

    def has_netem(self) -> bool:
        probe = _sh("tc", "qdisc", "add", "dev", self.host_if, "root", "netem", "delay", "0ms", check=False)
        if probe.returncode == 0:
            _sh("tc", "qdisc", "del", "dev", self.host_if, "root", check=False)
        return probe.returncode == 0

    def iptables(self) -> str | None:
        """An iptables that works in the namespace (nft first, then legacy), or None."""
        for binary in ("iptables", "iptables-legacy"):
            if shutil.which(binary) and _sh(binary, "-L", "-n", netns=self.netns, check=False).returncode == 0:
                return binary
        return None

    @contextlib.contextmanager
    def impaired(self, profile: Profile, method: str) -> Iterator[dict[str, int]]:
        """Apply ``profile`` with ``method`` (netem | iptables | none) for the block; the yielded dict
        gets the packets seen and dropped (iptables counts them; netem's drops are read from tc)."""
        counts = {"packets": 0, "dropped": 0}
        if method == "netem":
            for command, netns in ((["tc", "qdisc", "replace", "dev", self.host_if, "root", "netem"], None),
                                   (["tc", "qdisc", "replace", "dev", self.ns_if, "root", "netem"], self.netns)):
                _sh(*command, *profile.netem_args(), netns=netns)
        elif method == "iptables":
            self._iptables = self.iptables()
            assert self._iptables is not None
            probability = f"{profile.loss:.4f}"
            for chain, direction in (("INPUT", "-i"), ("OUTPUT", "-o")):
                _sh(self._iptables, "-A", chain, direction, self.ns_if, netns=self.netns)  # counts every packet
                _sh(self._iptables, "-A", chain, direction, self.ns_if, "-m", "statistic", "--mode", "random",
                    "--probability", probability, "-j", "DROP", netns=self.netns)
        delayer: subprocess.Popen[str] | None = None
        if method == "nfqueue":
            self._iptables = self.iptables()
            assert self._iptables is not None
            for chain, direction in (("INPUT", "-i"), ("OUTPUT", "-o")):
                _sh(self._iptables, "-A", chain, direction, self.ns_if, "-j", "NFQUEUE", "--queue-num",
                    str(NFQUEUE_NUMBER), "--queue-bypass", netns=self.netns)
            delayer = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, sys.executable, "-m", "evals.reliability.jitter", "--queue",
                 str(NFQUEUE_NUMBER), "--delay-ms", str(profile.delay_ms), "--jitter-ms", str(profile.jitter_ms)],
                cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
            assert delayer.stdout is not None
            if delayer.stdout.readline().strip() != "ready":
                raise RuntimeError("the NFQUEUE delayer did not bind its queue")
        try:
            yield counts
        finally:
            if delayer is not None:
                delayer.terminate()
                out, _ = delayer.communicate(timeout=30)
                counts["packets"] = int(out.split()[1]) if out.startswith("delayed") else 0
                for chain in ("INPUT", "OUTPUT"):
                    _sh(str(self._iptables), "-F", chain, netns=self.netns)
            if method == "netem":
                for interface, netns in ((self.host_if, None), (self.ns_if, self.netns)):
                    stats = _sh("tc", "-s", "qdisc", "show", "dev", interface, netns=netns).stdout
                    counts["packets"] += _tc_number(stats, "pkt")
                    counts["dropped"] += _tc_number(stats, "dropped")
                    _sh("tc", "qdisc", "del", "dev", interface, "root", netns=netns, check=False)
            elif method == "iptables" and self._iptables:
                for chain in ("INPUT", "OUTPUT"):
                    listing = _sh(self._iptables, "-L", chain, "-v", "-n", "-x", netns=self.netns).stdout
                    rows = [line.split() for line in listing.splitlines()[2:] if line.strip()]
                    counts["packets"] += int(rows[0][0]) if rows else 0
                    counts["dropped"] += sum(int(r[0]) for r in rows if len(r) > 2 and r[2] == "DROP")
                    _sh(self._iptables, "-F", chain, netns=self.netns)


def _tc_number(stats: str, word: str) -> int:
    """``Sent 1234 bytes 56 pkt (dropped 7, ...`` -> the number before ``pkt`` or after ``dropped``."""
    tokens = stats.replace(",", " ").replace("(", " ").split()
    for i, token in enumerate(tokens):
        if word == "pkt" and token == "pkt" and i > 0:
            return int(tokens[i - 1])
        if word == "dropped" and token == "dropped" and i + 1 < len(tokens):
            return int(tokens[i + 1])
    return 0


# -- the namespace side ------------------------------------------------------------------------------


def caller_main(argv: list[str]) -> int:
    """Inside the namespace: one ``evals.netloss.runner.run_rate`` at loss 0 (the kernel drops)."""
    parser = argparse.ArgumentParser(prog="python -m evals.reliability.netem --caller")
    parser.add_argument("--caller", action="store_true")
    parser.add_argument("--url", required=True)
    parser.add_argument("--speech", type=Path, required=True, help=".npz: complaint, sentence_<i>, texts")
    parser.add_argument("--triage-calls", type=int, default=1)
    parser.add_argument("--options", type=Path, required=True, help="JSON: the dictation offer's fields")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    from evals.netloss.runner import run_rate

    speech = np.load(args.speech)
    texts = json.loads(str(speech["texts"]))
    sentences = [(text, speech[f"sentence_{i}"]) for i, text in enumerate(texts)]
    options = json.loads(args.options.read_text())
    result = asyncio.run(run_rate(args.url, 0.0, sentences, speech["complaint"], args.triage_calls,
                                  dictation_options=options))
    args.out.write_text(json.dumps(asdict(result), ensure_ascii=False))
    return 0


# -- the host side ------------------------------------------------------------------------------------


def _serve(app: Any, host: str) -> tuple[Any, threading.Thread, str]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return server, thread, f"http://{host}:{server.servers[0].sockets[0].getsockname()[1]}"


def _profile_metrics(name: str, raw: dict[str, Any], counts: dict[str, int], method: str,
                     seconds: float) -> dict[str, Any]:
    from evals.netloss.__main__ import _pct

    key = f"netem_{name}"
    return {
        f"{key}_method": method,
        f"{key}_cer": round(raw["cer_errors"] / raw["cer_chars"], 4) if raw["cer_chars"] else None,
        f"{key}_utterances": raw["utterances"],
        f"{key}_utterances_missed": raw["utterances_missed"],
        f"{key}_transcript_p50_ms": _pct(raw["transcript_ms"], 50),
        f"{key}_transcript_p95_ms": _pct(raw["transcript_ms"], 95),
        f"{key}_v2v_p50_ms": _pct(raw["v2v_ms"], 50),
        f"{key}_v2v_p95_ms": _pct(raw["v2v_ms"], 95),
        f"{key}_calls": raw["calls"],
        f"{key}_calls_dropped": raw["calls_dropped"],
        f"{key}_measured_loss": round(counts["dropped"] / counts["packets"], 4) if counts["packets"] else None,
        f"{key}_packets": counts["packets"],
        f"{key}_seconds": round(seconds, 1),
        f"{key}_drop_reasons": "; ".join(raw.get("drop_reasons", []))[:400],
    }


def plot(flat: dict[str, Any], names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ran = [n for n in names if flat.get(f"netem_{n}_run")]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.bar(ran, [flat.get(f"netem_{n}_cer") or 0 for n in ran], color="#0b4f8a")
    ax1.set_title("Dictation CER over the impaired veth path")
    ax1.set_ylabel("CER")
    x = np.arange(len(ran))
    for offset, metric, label in ((-0.2, "transcript", "speech end -> final transcript"), (0.2, "v2v", "voice-to-voice")):
        ax2.bar(x + offset, [flat.get(f"netem_{n}_{metric}_p50_ms") or 0 for n in ran], 0.4, label=f"{label} p50")
        ax2.scatter(x + offset, [flat.get(f"netem_{n}_{metric}_p95_ms") or 0 for n in ran], marker="_", s=300,
                    color="black")
    ax2.set_xticks(x, ran)
    ax2.set_ylabel("ms")
    ax2.set_title("Latency (bar p50, tick p95)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(out_dir: Path, quick: bool, *, sentences: int | None = None, triage_calls: int | None = None,
        profiles: tuple[Profile, ...] = PROFILES) -> dict[str, Any]:
    """Every profile through the namespace path; ``quick``: 2 dictated sentences and 1 triage call each."""
    reason = unavailable()
    if reason is not None:
        return {"netem_run": False, "netem_error": reason}
    sentences = sentences if sentences is not None else (2 if quick else 8)
    triage_calls = triage_calls if triage_calls is not None else (1 if quick else 3)
    out_dir.mkdir(parents=True, exist_ok=True)
    from agent.app import create_app
    from agent.config import Settings
    from agent.engines import Engines
    from backends.embedded import open_store
    from evals.netloss.__main__ import DATA, dictation_options
    from evals.netloss.runner import TRIAGE_COMPLAINT
    from evals.render import render_caller

    settings = Settings(_env_file=None, silence_timeout_s=10.0)
    engines = Engines(settings)
    flat: dict[str, Any] = {"netem_run": True}
    try:
        texts = [json.loads(line)["text"] for line in DATA.read_text().splitlines() if line.strip()][:sentences]
        with tempfile.TemporaryDirectory(prefix="medvoice-netem-") as tmp_name, NamespacePath() as path:
            tmp = Path(tmp_name)
            speech = tmp / "speech.npz"
            arrays: dict[str, Any] = {f"sentence_{i}": render_caller(engines.voice, t) for i, t in enumerate(texts)}
            arrays["complaint"] = render_caller(engines.voice, TRIAGE_COMPLAINT)
            arrays["texts"] = np.array(json.dumps(texts, ensure_ascii=False))
            np.savez(speech, **arrays)
            netem = path.has_netem()
            fallback = path.iptables()
            flat["netem_kernel_netem"] = netem
            store = open_store(database_url=f"sqlite:///{tmp}/medvoice.db", key_file=tmp / "keys.json")
            options = tmp / "options.json"
            options.write_text(json.dumps(dictation_options(store)))
            server, thread, url = _serve(create_app(settings, engines=engines, store=store), path.host_ip)
            try:
                for profile in profiles:
                    name = profile.name
                    method = "netem" if netem else ("nfqueue" if profile.needs_netem else "iptables") if fallback else ""
                    if profile.name == "clean":
                        method = "none"
                    if not method:
                        flat[f"netem_{name}_run"] = False
                        flat[f"netem_{name}_error"] = "the kernel has no sch_netem and no iptables works in the namespace"
                        print(f"netem {name}: not run, {flat[f'netem_{name}_error']}", flush=True)
                        continue
                    print(f"netem {name}: {method}, {len(texts)} dictated sentences, {triage_calls} triage calls",
                          flush=True)
                    started = time.monotonic()
                    with path.impaired(profile, method) as counts:
                        result = tmp / f"{name}.json"
                        caller = subprocess.run(
                            ["ip", "netns", "exec", path.netns, sys.executable, "-m", "evals.reliability.netem",
                             "--caller", "--url", url, "--speech", str(speech), "--triage-calls", str(triage_calls),
                             "--options", str(options), "--out", str(result)],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                            timeout=900)
                    if caller.returncode != 0 or not result.is_file():
                        flat[f"netem_{name}_run"] = False
                        flat[f"netem_{name}_error"] = f"caller exited {caller.returncode}: {caller.stderr[-400:]}"
                        print(f"netem {name}: caller failed: {caller.stderr[-1500:]}", flush=True)
                        continue
                    flat[f"netem_{name}_run"] = True
                    flat.update(_profile_metrics(name, json.loads(result.read_text()), counts, method,
                                                 time.monotonic() - started))
                    print("  " + ", ".join(f"{k.removeprefix(f'netem_{name}_')}={v}" for k, v in flat.items()
                                           if k.startswith(f"netem_{name}_")), flush=True)
            finally:
                server.should_exit = True
                thread.join(timeout=10)
                store.close()
    finally:
        engines.close()
    flat["netem_calls_dropped"] = sum(v for k, v in flat.items() if k.endswith("_calls_dropped") and isinstance(v, int))
    plot(flat, [p.name for p in profiles], out_dir / "netem.png")
    return flat


if __name__ == "__main__":
    if "--caller" in sys.argv[1:]:
        sys.exit(caller_main(sys.argv[1:]))
    print("use: python -m evals.reliability --parts netem --out DIR [--quick]", file=sys.stderr)
    sys.exit(2)
