"""``python -m deploy.cluster up|down|status [--workers N]``: a cluster on this machine.

PostgreSQL (``scripts/postgres.sh``, the cluster's own database on it), N workers (``medvoice
serve``, each on its own port, all running the call queue) and HAProxy with the configuration
``deploy.haproxy`` generates, in front of them. ``up`` returns once every worker is ready;
``down`` stops HAProxy and the workers (SIGTERM, then SIGKILL after a grace period) and leaves
PostgreSQL running (it is shared; its data stays). State lives in ``var/cluster`` (pids, ports,
logs, the generated config). Tests and the benchmark drive the same ``LocalCluster`` in-process.

Environment: ``MEDVOICE_*`` settings pass through to the workers (e.g. ``MEDVOICE_MAX_CALLS``);
``MEDVOICE_CLUSTER_PORT`` is HAProxy's port (default 8100; workers take the next ones).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from deploy.haproxy import render

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class LocalCluster:
    """PostgreSQL + N workers + HAProxy on this machine.

    Args:
        state_dir: Pids, logs, keys and the generated HAProxy config.
        workers: How many workers.
        port: HAProxy's port; worker ``i`` (1-based) listens on ``port + i``.
        database: The cluster's database name on the shared PostgreSQL server.
        env: Extra ``MEDVOICE_*`` settings for every worker.
    """

    state_dir: Path
    workers: int = 2
    port: int = 8100
    database: str = "medvoice_cluster"
    env: Mapping[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.port + index}"

    @property
    def key_file(self) -> Path:
        return self.state_dir / "keys.json"

    def database_url(self) -> str:
        """The cluster's database on the local PostgreSQL (started if needed, database created once)."""
        from backends.embedded.local_postgres import server_url

        base = sa.make_url(server_url())
        admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": self.database}).first()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{self.database}"')
        admin.dispose()
        return base.set(database=self.database).render_as_string(hide_password=False)

    def prepare(self) -> str:
        """Migrate and seed the database and create the shared key ring once, before any worker starts
        (workers must share one key ring; two creating it at once would not)."""
        from backends.embedded import open_store

        self.state_dir.mkdir(parents=True, exist_ok=True)
        url = self.database_url()
        open_store(url, self.key_file, seed_days=3).close()
        return url

    def worker_env(self, index: int, database_url: str) -> dict[str, str]:
        return {
            **os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
            "MEDVOICE_DATABASE_URL": database_url, "MEDVOICE_KEY_FILE": str(self.key_file),
            "MEDVOICE_PORT": str(self.port + index), "MEDVOICE_HOST": "127.0.0.1",
            "MEDVOICE_QUEUE_WORKER": "true", "MEDVOICE_WORKER_NAME": f"w{index}",
            **self.env,
        }

    def start_worker(self, index: int, database_url: str) -> None:
        log = (self.state_dir / f"w{index}.log").open("ab")
        self.processes[f"w{index}"] = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "serve"], cwd=ROOT, env=self.worker_env(index, database_url),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def start_haproxy(self) -> None:
        config = self.state_dir / "haproxy.cfg"
        workers = [f"127.0.0.1:{self.port + i}" for i in range(1, self.workers + 1)]
        config.write_text(render(workers, f"127.0.0.1:{self.port}", check_interval_ms=500), encoding="utf-8")
        log = (self.state_dir / "haproxy.log").open("ab")
        self.processes["haproxy"] = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=log,
                                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def up(self, timeout_s: float = 300.0) -> None:
        """Start everything and wait until every worker is ready and HAProxy answers."""
        url = self.prepare()
        for index in range(1, self.workers + 1):
            self.start_worker(index, url)
        self.start_haproxy()
        self.save()
        self.wait_ready(range(1, self.workers + 1), timeout_s)

    def wait_ready(self, indexes: Sequence[int] | range, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        waiting = set(indexes)
        while waiting:
            for index in sorted(waiting):
                process = self.processes.get(f"w{index}")
                if process is not None and process.poll() is not None:
                    tail = (self.state_dir / f"w{index}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"worker w{index} exited with {process.returncode}:\n{tail}")
                try:
                    if httpx.get(f"{self.worker_url(index)}/readyz", timeout=2).status_code == 200:
                        waiting.discard(index)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers {sorted(waiting)} not ready within {timeout_s:.0f} s")
            time.sleep(0.5)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.get(name)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, sig)

    def down(self, grace_s: float = 10.0) -> None:
        """Stop HAProxy and the workers; PostgreSQL stays up (shared)."""
        for name in list(self.processes):
            self.kill(name, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for name, process in list(self.processes.items()):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(name, signal.SIGKILL)
                process.wait(timeout=10)
            del self.processes[name]
        (self.state_dir / "state.json").unlink(missing_ok=True)

    def save(self) -> None:
        state = {"port": self.port, "workers": self.workers, "database": self.database,
                 "pids": {name: p.pid for name, p in self.processes.items()}}
        (self.state_dir / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")


def down_from_state(state_dir: Path, grace_s: float = 10.0) -> list[str]:
    """``down`` for a cluster another process started (``up`` from the shell): by the saved pids."""
    path = state_dir / "state.json"
    if not path.is_file():
        return []
    pids = json.loads(path.read_text())["pids"]
    for pid in pids.values():
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids.values()):
        time.sleep(0.2)
    for pid in pids.values():
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
    path.unlink()
    return sorted(pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=int(os.environ.get("MEDVOICE_CLUSTER_PORT", "8100")))
    parser.add_argument("--state-dir", type=Path, default=ROOT / "var" / "cluster")
    args = parser.parse_args(argv)
    if args.command == "down":
        stopped = down_from_state(args.state_dir)
        print(f"stopped {', '.join(stopped) or 'nothing (no cluster running)'}; PostgreSQL left running (shared)")
        return 0
    if args.command == "status":
        path = args.state_dir / "state.json"
        print(path.read_text() if path.is_file() else "no cluster running")
        return 0
    if (args.state_dir / "state.json").is_file():
        print(f"a cluster is already up ({args.state_dir / 'state.json'}); run 'down' first", file=sys.stderr)
        return 1
    env = {k: v for k, v in os.environ.items() if k.startswith("MEDVOICE_")}
    cluster = LocalCluster(args.state_dir, args.workers, args.port, env=env)
    try:
        cluster.up()
    except BaseException:
        cluster.down()
        raise
    print(f"cluster up: {cluster.url} (HAProxy) -> " + ", ".join(cluster.worker_url(i) for i in range(1, args.workers + 1)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
