"""API fuzzing from the service's own OpenAPI spec (schemathesis), and a coverage-guided run of the
spoken-number reader (atheris, in a child process).

The service is the real app (``agent.app.create_app``: records, consultation, campaign and WebRTC
signalling routes, and whatever else the spec lists) with the real models loaded, on a fresh SQLite
store, served by uvicorn on a random loopback port. Every generated request carries a real bearer
token, rotating over the four roles plus a forged and a missing one, so the fuzzer gets past 401 into
the handlers. Each response is checked by schemathesis' default checks:

- ``fuzz_5xx``: any 5xx answer (the ``not_a_server_error`` check);
- ``schema_violations``: an undeclared status code, content type or header, or a body that does not
  match the declared response model;
- ``fuzz_crashes``: a request that got no answer (connection reset, timeout: a hung handler), or a
  server that is no longer serving;
- ``fuzz_other_failures``: the other default checks (negative data accepted, ...), listed too.

``positive_data_acceptance`` (a request valid by the spec must get a 2xx) is left out: the spec can
say an offer's ``sdp`` is a string and a FHIR body an object, not that the string is SDP with an Opus
audio section or that the object is a valid R4 Patient, so its "valid" requests are mostly 400s by
design; those grammars are held to their invariants by the property tests (``tests/test_properties_*``).

``run(out_dir, quick)`` writes ``fuzz.json`` (counts per operation, every failure with a reproducing
curl command) and returns the flat metrics. ``python -m evals.reliability.fuzz --out DIR [--quick]``
runs it alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("medvoice.evals.reliability")

LONG_RUN_CASES = 10_000
QUICK_RUN_CASES = 300
REQUEST_TIMEOUT_S = 15.0
ATHERIS_RUNS = 100_000
ATHERIS_QUICK_RUNS = 2_000

SCHEMA_CHECKS = frozenset(
    {"status_code_conformance", "content_type_conformance", "response_headers_conformance",
     "response_schema_conformance"}
)
SERVER_ERROR_CHECKS = frozenset({"not_a_server_error"})

HOSPITAL = "demo-hospital"

ENDS_INTAKE = frozenset({"POST /drain"})
"""Operations after which the service takes no new call (a 503 to every offer): fuzzed last."""


@dataclass
class FuzzFinding:
    """One failed check: where, which check, the status, a command that reproduces it, and the start of
    the answer (generated data only: the fuzz store holds no patient's)."""

    operation: str
    check: str
    status: int | None
    title: str
    reproduce: str
    answer: str = ""

    def key(self) -> tuple[str, str, int | None, str]:
        return self.operation, self.check, self.status, self.title


@dataclass
class FuzzReport:
    """What a fuzz run did and found."""

    cases: int = 0
    server_errors: int = 0
    schema_violations: int = 0
    crashes: int = 0
    other_failures: int = 0
    per_operation: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    findings: list[FuzzFinding] = field(default_factory=list)

    def add(self, finding: FuzzFinding) -> None:
        # Keep one example per distinct failure; the counters count every case.
        if all(f.key() != finding.key() for f in self.findings):
            self.findings.append(finding)

    def metrics(self) -> dict[str, int]:
        return {
            "fuzz_cases": self.cases,
            "fuzz_5xx": self.server_errors,
            "schema_violations": self.schema_violations,
            "fuzz_crashes": self.crashes,
            "fuzz_other_failures": self.other_failures,
        }


# -- the service under test ----------------------------------------------------------------------


class _ServerErrors(logging.Handler):
    """Keeps the tracebacks uvicorn logs for unhandled exceptions in the app (the 500s' causes)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.tracebacks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and len(self.tracebacks) < 50:
            self.tracebacks.append(logging.Formatter().formatException(record.exc_info)[-3000:])


@dataclass(frozen=True)
class LiveService:
    """A served app: its base ``url``, the ``app``, its records ``store`` and the tracebacks of
    unhandled exceptions the server logged."""

    url: str
    app: Any
    store: Any
    thread: threading.Thread
    errors: _ServerErrors

    def alive(self) -> bool:
        return self.thread.is_alive()


def fuzz_principals() -> list[Any]:
    """One principal of each role of the seeded demo hospital."""
    from backends import Principal

    return [
        Principal("voice-agent", "service", HOSPITAL, purpose="triage"),
        Principal("dr-li", "doctor", HOSPITAL, "dept-cardiology"),
        Principal("nurse-wu", "department", HOSPITAL, "dept-cardiology"),
        Principal("admin-1", "hospital_admin", HOSPITAL),
    ]


def auth_headers(store: Any) -> list[dict[str, str]]:
    """The Authorization headers the fuzzer rotates through: every role, a forged token, none."""
    headers = [{"Authorization": f"Bearer {store.tokens.issue(p, ttl_s=24 * 3600)}"} for p in fuzz_principals()]
    forged = headers[1]["Authorization"][:-4] + "AAAA"
    return [*headers, {"Authorization": forged}, {}]


@contextlib.contextmanager
def serve(engines: Any = None, root: Path | None = None) -> Iterator[LiveService]:
    """The real app with the real models on a fresh store under ``root``, on a random loopback port.

    Args:
        engines: Loaded ``agent.engines.Engines`` to share (tests); loaded here (and closed) when None.
        root: Where the database and key file go; a temporary directory when None.
    """
    import uvicorn

    from agent.app import create_app
    from agent.config import Settings
    from agent.engines import Engines
    from backends.embedded import open_store

    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="medvoice-fuzz-")))
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{root / 'fuzz.db'}",
            key_file=root / "keys.json",
            # Every fuzzed offer comes from 127.0.0.1: the per-address limit would answer 429 to all
            # but the first 20 and hide the SDP checks behind it.
            webrtc_offers_per_minute=1_000_000,
        )
        if engines is None:
            engines = Engines(settings)
            stack.callback(engines.close)
        store = open_store(database_url=settings.database_url, key_file=settings.key_file, seed_days=3)
        stack.callback(store.close)
        app = create_app(settings, engines=engines, store=store)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", log_config=None))
        errors = _ServerErrors()
        uvicorn_errors = logging.getLogger("uvicorn.error")
        uvicorn_errors.addHandler(errors)
        uvicorn_errors.propagate = False  # counted and kept in fuzz.json, not printed 10,000 times
        stack.callback(uvicorn_errors.removeHandler, errors)
        thread = threading.Thread(target=server.run, name="fuzz-uvicorn", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start for the fuzz run")
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield LiveService(f"http://127.0.0.1:{port}", app, store, thread, errors)
        finally:
            server.should_exit = True
            thread.join(timeout=10)


# -- the fuzzer ----------------------------------------------------------------------------------


def _classify(check: str) -> str:
    if check in SERVER_ERROR_CHECKS:
        return "5xx"
    if check in SCHEMA_CHECKS:
        return "schema"
    return "other"


def fuzz_api(
    service: LiveService,
    *,
    cases: int,
    seed: int = 22,
    operations: tuple[str, ...] | None = None,
    report: FuzzReport | None = None,
) -> FuzzReport:
    """Generate at least ``cases`` requests (positive and negative) spread over every operation of
    the service's OpenAPI spec, send them over HTTP and check every response.

    Args:
        service: The served app (:func:`serve`).
        cases: How many requests to send at least (operations with few distinct inputs send fewer,
            the others more).
        seed: Hypothesis seed, so a run can be repeated.
        operations: Only these operations (``"GET /healthz"``), for a focused run.
        report: Add to this report instead of a new one.
    """
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.core.failures import Failure, FailureGroup
    from schemathesis.core.result import Ok
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    report = report or FuzzReport()
    schema = schemathesis.openapi.from_dict(service.app.openapi())
    ops = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise RuntimeError(f"schemathesis cannot read an operation of the spec: {result.err()}")
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if operations is None or label in operations:
            ops.append((label, operation))
    headers_cycle = auth_headers(service.store)
    session = requests.Session()
    checks_kwargs = {"base_url": service.url, "session": session, "timeout": REQUEST_TIMEOUT_S}

    def send_and_check(case: Any, headers: dict[str, str]) -> None:
        label = f"{case.operation.method.upper()} {case.operation.path}"
        report.cases += 1
        report.per_operation[label] += 1
        try:
            response = case.call(base_url=service.url, session=session, headers=headers, timeout=REQUEST_TIMEOUT_S)
        except Exception as error:  # no answer at all: reset, timeout, refused
            report.crashes += 1
            report.add(FuzzFinding(label, "crash", None, f"{type(error).__name__}: {error}"[:300],
                                   case.as_curl_command(headers=headers)[:2000]))
            return
        report.statuses[str(response.status_code)] += 1
        try:
            case.validate_response(response, headers=headers, excluded_checks=[positive_data_acceptance],
                                   transport_kwargs={**checks_kwargs, "headers": headers})
        except FailureGroup as group:
            kinds: set[str] = set()
            for failure in group.exceptions:
                check = failure.checks[0] if isinstance(failure, Failure) and failure.checks else "custom"
                kinds.add(_classify(check))
                report.add(FuzzFinding(label, check, response.status_code, failure.title,
                                       case.as_curl_command(headers=headers)[:2000], response.text[:500]))
            report.server_errors += "5xx" in kinds
            report.schema_violations += "schema" in kinds
            report.other_failures += "other" in kinds

    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    exhausted: set[tuple[str, GenerationMode]] = set()
    counter = 0

    def generate_and_send(strategy: Any, examples: int, run_seed: int) -> list[Any]:
        """Up to ``examples`` cases of ``strategy``, each sent and checked; the cases drawn."""
        drawn: list[Any] = []

        @hypothesis_seed(run_seed)
        @settings(max_examples=examples, deadline=None, database=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def one(case: Any) -> None:
            nonlocal counter
            counter += 1
            drawn.append(case)
            send_and_check(case, headers_cycle[counter % len(headers_cycle)])

        one()
        return drawn

    def rounds(ops: list[tuple[str, Any]], target: int) -> bool:
        """Fuzz ``ops`` until ``target`` cases were sent or their inputs ran out; False if the server died."""
        nonlocal counter
        round_no = 0
        while report.cases < target:
            runnable = [(label, op, mode) for label, op in ops for mode in modes if (label, mode) not in exhausted]
            if not runnable:
                break
            per_strategy = max(1, -(-(target - report.cases) // len(runnable)))
            for label, operation, mode in runnable:
                try:
                    strategy = operation.as_strategy(generation_mode=mode)
                except Exception as error:  # an operation schemathesis cannot negate (nothing to break)
                    logger.debug("no %s cases for %s: %s", mode.value, label, error)
                    exhausted.add((label, mode))
                    continue
                try:
                    drawn = generate_and_send(strategy, per_strategy, seed + round_no * 1009 + counter)
                except Unsatisfiable:  # nothing in the operation can be made invalid (GET /healthz)
                    exhausted.add((label, mode))
                    continue
                if len(drawn) < per_strategy:
                    exhausted.add((label, mode))  # hypothesis ran out of distinct inputs
                    # Few inputs (GET /campaign/summary.csv has none): each one as every caller.
                    for case in drawn[: len(headers_cycle)]:
                        for headers in headers_cycle:
                            send_and_check(case, headers)
                if not service.alive():
                    report.crashes += 1
                    report.add(FuzzFinding(label, "crash", None, "the server stopped serving", ""))
                    return False
            round_no += 1
        return True

    main = [(label, op) for label, op in ops if label not in ENDS_INTAKE]
    last = [(label, op) for label, op in ops if label in ENDS_INTAKE]
    if rounds(main, report.cases + cases) and last:
        rounds(last, report.cases + 2 * len(headers_cycle) * len(last))
    return report


# -- atheris: the spoken-number reader, coverage-guided ------------------------------------------


def run_atheris(runs: int, out_dir: Path) -> dict[str, Any]:
    """``evals.reliability.number_fuzz`` under atheris for ``runs`` inputs in a child process (libFuzzer
    exits the process when it ends); ``atheris_available`` is False when atheris is not installed."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        return {"atheris_available": False, "atheris_runs": 0, "atheris_crashes": 0}
    artifacts = out_dir / "atheris"
    artifacts.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "evals.reliability.number_fuzz", f"-runs={runs}",
               f"-artifact_prefix={artifacts}/", "-max_len=64", "-rss_limit_mb=2048"]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    (artifacts / "log.txt").write_text(done.stdout + done.stderr, encoding="utf-8")
    crashed = done.returncode != 0
    return {
        "atheris_available": True,
        "atheris_runs": runs,
        "atheris_crashes": int(crashed),
        "atheris_seconds": round(time.monotonic() - started, 1),
    }


# -- the entry point -----------------------------------------------------------------------------


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Fuzz the API (``QUICK_RUN_CASES`` or ``LONG_RUN_CASES`` requests) and the number reader; write
    ``fuzz.json`` into ``out_dir`` and return the flat metrics."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with serve() as service:
        report = fuzz_api(service, cases=QUICK_RUN_CASES if quick else LONG_RUN_CASES)
        tracebacks = list(service.errors.tracebacks)
    api_seconds = time.monotonic() - started
    atheris = run_atheris(ATHERIS_QUICK_RUNS if quick else ATHERIS_RUNS, out_dir)
    metrics: dict[str, Any] = {**report.metrics(), "fuzz_api_seconds": round(api_seconds, 1), **atheris}
    detail = {
        "metrics": metrics,
        "per_operation": dict(sorted(report.per_operation.items())),
        "statuses": dict(sorted(report.statuses.items())),
        "findings": [f.__dict__ for f in report.findings],
        "server_tracebacks": tracebacks,
    }
    (out_dir / "fuzz.json").write_text(json.dumps(detail, ensure_ascii=False, indent=1), encoding="utf-8")
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    metrics = run(args.out, args.quick)
    for name, value in metrics.items():
        print(f"{name:24s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
