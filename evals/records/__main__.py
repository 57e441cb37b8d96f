"""Records store benchmark: write and read throughput with and without SM4-GCM, on SQLite and PostgreSQL.

    python -m evals.records --out evals/out/records [--n 400] [--concurrency 8] [--rounds 3]
        [--databases sqlite,postgres]

Each configuration gets a fresh database. A write is one FHIR blood-pressure Observation created
through the async store API (validation, SM4-GCM sealing, blind indexes, SM3 audit entry, commit);
a read is one ``read`` of it (access check, audit entry, decryption). Writes and reads run once
sequentially (per-operation latency, alternating SM4 and plaintext stores operation by operation so
machine load hits both alike) and in ``--rounds`` rounds with ``--concurrency`` tasks (throughput,
median of rounds). The raw primitives (SM4-GCM, SM3 through OpenSSL vs pure-Python gmssl) are
timed too. Prints a table, writes ``results.json`` (flat metric names) and ``records.png``; exits 0
whenever it ran.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from backends.crypto import sm3, sm4_gcm_encrypt
from backends.embedded import EmbeddedStore, open_store
from backends.embedded.local_postgres import PostgresUnavailable, server_url, temporary_database
from backends.interfaces import Principal
from evals.records.resources import blood_pressure, patient

SERVICE = Principal("voice-agent", "service", "demo-hospital")
DOCTOR = Principal("dr-bench", "doctor", "demo-hospital", "dept-cardiology")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def timed_sequential(
    n: int, operation: Callable[[int], Awaitable[Any]]
) -> tuple[list[float], list[Any]]:
    latencies, results = [], []
    for index in range(n):
        started = time.perf_counter()
        results.append(await operation(index))
        latencies.append(time.perf_counter() - started)
    return latencies, results


async def timed_concurrent(n: int, concurrency: int, operation: Callable[[int], Awaitable[Any]]) -> float:
    """Operations per second with ``concurrency`` tasks sharing ``n`` operations."""
    counter = iter(range(n))

    async def worker() -> None:
        for index in counter:
            await operation(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def booked_patient(store: EmbeddedStore) -> str:
    person = await store.create(SERVICE, patient())
    slot = (await store.find_slots("demo-hospital", "心血管内科", limit=1))[0]
    await store.book(SERVICE, slot.slot_id, person["id"])
    return person["id"]


async def bench_pair(
    stores: dict[str, EmbeddedStore], n: int, concurrency: int, rounds: int
) -> dict[str, float]:
    """Bench the SM4 and plaintext stores of one database side by side.

    Sequential operations alternate between the two stores, and the concurrent rounds alternate
    too, so load from other processes on the machine hits both modes alike.
    """
    patients = {mode: await booked_patient(store) for mode, store in stores.items()}
    ids: dict[str, list[str]] = {mode: [] for mode in stores}
    latencies: dict[tuple[str, str], list[float]] = {(m, op): [] for m in stores for op in ("write", "read")}

    async def write(mode: str, index: int) -> None:
        reading = blood_pressure(patients[mode], 110 + index % 80, 70 + index % 30)
        ids[mode].append((await stores[mode].create(DOCTOR, reading))["id"])

    async def read(mode: str, index: int) -> None:
        await stores[mode].read(DOCTOR, "Observation", ids[mode][index % len(ids[mode])])

    for op, operation in (("write", write), ("read", read)):
        for index in range(n):
            for mode in stores:
                started = time.perf_counter()
                await operation(mode, index)
                latencies[(mode, op)].append(time.perf_counter() - started)
    parallel: dict[tuple[str, str], list[float]] = {(m, op): [] for m in stores for op in ("write", "read")}
    for _ in range(rounds):
        for op, operation in (("write", write), ("read", read)):
            for mode in stores:
                rate = await timed_concurrent(n, concurrency, functools.partial(operation, mode))
                parallel[(mode, op)].append(rate)
    results: dict[str, float] = {}
    for mode, store in stores.items():
        report = await store.verify_audit()
        if not report.intact:
            raise RuntimeError(report.describe())
        results[f"{mode}_audit_entries"] = float(report.entries)
        for op in ("write", "read"):
            values = latencies[(mode, op)]
            results[f"{mode}_{op}_ops_s"] = n / sum(values)
            results[f"{mode}_{op}_ms_median"] = 1000 * statistics.median(values)
            results[f"{mode}_{op}_ms_p95"] = 1000 * percentile(values, 0.95)
            results[f"{mode}_{op}_parallel_ops_s"] = statistics.median(parallel[(mode, op)])
    return results


def bench_primitives() -> dict[str, float]:
    """MB/s of SM4-GCM and SM3 in OpenSSL, and of pure-Python gmssl SM3 for comparison."""
    from gmssl import func
    from gmssl import sm3 as gm_sm3

    key, payload = os.urandom(16), os.urandom(1 << 20)
    results: dict[str, float] = {}
    for name, function in (
        ("sm4_gcm", lambda: sm4_gcm_encrypt(key, payload, b"aad")),
        ("sm3", lambda: sm3(payload)),
    ):
        started = time.perf_counter()
        for _ in range(20):
            function()
        results[f"primitive_{name}_openssl_mb_s"] = 20 / (time.perf_counter() - started)
    small = payload[: 32 << 10]
    started = time.perf_counter()
    gm_sm3.sm3_hash(func.bytes_to_list(small))
    results["primitive_sm3_gmssl_mb_s"] = (len(small) / (1 << 20)) / (time.perf_counter() - started)
    results["primitive_sm3_openssl_over_gmssl"] = (
        results["primitive_sm3_openssl_mb_s"] / results["primitive_sm3_gmssl_mb_s"]
    )
    return results


def plot(results: dict[str, float], databases: list[str], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    labels = [f"{db}\n{op}" for db in databases for op in ("write", "read", "write ∥", "read ∥")]
    keys = [
        (db, metric)
        for db in databases
        for metric in ("write_ops_s", "read_ops_s", "write_parallel_ops_s", "read_parallel_ops_s")
    ]
    positions = range(len(keys))
    for offset, mode in ((-0.2, "sm4"), (0.2, "plain")):
        axes[0].bar(
            [p + offset for p in positions],
            [results.get(f"{db}_{mode}_{metric}", 0) for db, metric in keys],
            width=0.4,
            label="SM4-GCM" if mode == "sm4" else "no encryption",
        )
    axes[0].set_xticks(list(positions), labels, fontsize=7)
    axes[0].set_ylabel("operations / s")
    axes[0].set_title("Records store throughput (∥ = concurrent)")
    axes[0].legend()
    latency_labels = [f"{db} {op}" for db in databases for op in ("write", "read")]
    for offset, mode in ((-0.2, "sm4"), (0.2, "plain")):
        axes[1].bar(
            [i + offset for i in range(len(latency_labels))],
            [results.get(f"{db}_{mode}_{op}_ms_p95", 0) for db in databases for op in ("write", "read")],
            width=0.4,
            label="SM4-GCM" if mode == "sm4" else "no encryption",
        )
    axes[1].set_xticks(range(len(latency_labels)), latency_labels, fontsize=7)
    axes[1].set_ylabel("p95 latency (ms)")
    axes[1].set_title("Per-operation p95 latency (sequential)")
    axes[1].legend()
    figure.tight_layout()
    path = out / "records.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


RATIO_METRICS = (
    "write_ops_s",
    "read_ops_s",
    "write_parallel_ops_s",
    "read_parallel_ops_s",
    "write_ms_median",
    "read_ms_median",
)


async def run(args: argparse.Namespace) -> tuple[dict[str, float], list[str]]:
    """All configurations; returns the flat metrics and the databases that actually ran."""
    results: dict[str, float] = {"n": float(args.n), "concurrency": float(args.concurrency)}
    databases: list[str] = []
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="medvoice-bench-")))
        for database in args.databases.split(","):
            urls: dict[str, str] = {}
            for mode in ("sm4", "plain"):
                if database == "sqlite":
                    urls[mode] = f"sqlite:///{scratch}/{mode}.db"
                    continue
                try:
                    base = server_url()
                except PostgresUnavailable as error:
                    print(f"PostgreSQL unavailable, skipped: {error}", file=sys.stderr)
                    break
                urls[mode] = stack.enter_context(temporary_database(base, prefix="medvoice_bench"))
            if len(urls) < 2:
                continue
            stores = {
                mode: open_store(url, scratch / "keys.json", seed_days=2, encrypt=mode == "sm4")
                for mode, url in urls.items()
            }
            try:
                metrics = await bench_pair(stores, args.n, args.concurrency, args.rounds)
            finally:
                for store in stores.values():
                    store.close()
            databases.append(database)
            results.update({f"{database}_{k}": v for k, v in metrics.items()})
            for metric in RATIO_METRICS:
                results[f"{database}_sm4_over_plain_{metric}"] = (
                    results[f"{database}_sm4_{metric}"] / results[f"{database}_plain_{metric}"]
                )
    results.update(bench_primitives())
    return results, databases


def print_table(results: dict[str, float], databases: list[str]) -> None:
    header = f"{'database':10} {'mode':6} {'write/s':>8} {'w med ms':>9} {'w p95 ms':>9} {'read/s':>8} {'r med ms':>9} {'r p95 ms':>9} {'write∥/s':>9} {'read∥/s':>8}"
    print(header)
    for db in databases:
        for mode in ("sm4", "plain"):
            p = f"{db}_{mode}_"
            print(
                f"{db:10} {mode:6} {results[p + 'write_ops_s']:8.0f} {results[p + 'write_ms_median']:9.2f} "
                f"{results[p + 'write_ms_p95']:9.2f} {results[p + 'read_ops_s']:8.0f} {results[p + 'read_ms_median']:9.2f} "
                f"{results[p + 'read_ms_p95']:9.2f} {results[p + 'write_parallel_ops_s']:9.0f} {results[p + 'read_parallel_ops_s']:8.0f}"
            )
        ratio = f"{db}_sm4_over_plain_"
        print(
            f"{db:10} ratio  SM4/plain median latency: write {results[ratio + 'write_ms_median']:.2f}, "
            f"read {results[ratio + 'read_ms_median']:.2f}"
        )
        print(
            f"{db:10} ratio  SM4/plain throughput: write {results[ratio + 'write_ops_s']:.2f}, "
            f"read {results[ratio + 'read_ops_s']:.2f}, write∥ {results[ratio + 'write_parallel_ops_s']:.2f}, "
            f"read∥ {results[ratio + 'read_parallel_ops_s']:.2f}"
        )
    print(
        f"primitives: SM4-GCM {results['primitive_sm4_gcm_openssl_mb_s']:.0f} MB/s, SM3 {results['primitive_sm3_openssl_mb_s']:.0f} MB/s "
        f"(OpenSSL); gmssl SM3 {results['primitive_sm3_gmssl_mb_s']:.2f} MB/s "
        f"({results['primitive_sm3_openssl_over_gmssl']:.0f}x slower)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.records", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for results.json and records.png")
    parser.add_argument("--n", type=int, default=400, help="writes and reads per configuration")
    parser.add_argument("--concurrency", type=int, default=8, help="tasks in the concurrent phase")
    parser.add_argument("--rounds", type=int, default=3, help="concurrent rounds per mode (median taken)")
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--data", type=Path, help="unused: the benchmark generates its FHIR resources")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results, databases = asyncio.run(run(args))
    print_table(results, databases)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True), encoding="utf-8")
    print(f"wrote {args.out / 'results.json'} and {plot(results, databases, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
