"""No patient words, identifiers or key material in the service's output at any log level.

Every logger (the standard library's and loguru's) is turned to DEBUG while a real WebSocket triage
call with rendered caller speech runs through the live service (real models) and a patient is
created, read and searched through the records API; everything logged, and everything written to
stdout/stderr, is then searched for the caller's words (as spoken and as recognised), the agent's
replies, the patient's name, national ID and phone, every key of the key ring and the bearer token,
as plain text and in the escaped forms logs use (``\\uXXXX``, ``\\xNN``).

The test's own clients (httpx, httpcore, websockets.client) log what the CALLER sent and received;
those records are the caller's side, not the service's, and are left out.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from loguru import logger as loguru_logger

from agent.logs import FRAME_LOGGERS
from backends.interfaces import Principal
from evals.records.resources import patient
from evals.ws_caller import call

CALLER = "我叫欧阳明月，胸口疼得厉害，出了很多汗。"
CALLER_WORDS = ("欧阳明月", "胸口疼", "出了很多汗")
NAME, NATIONAL_ID, PHONE = "司马青山", "110105198503157719", "13912345678"
CLIENT_LOGGERS = ("httpx", "httpcore", "websockets.client")
SERVICE = Principal("voice-agent", "service", "demo-hospital")


class _Collect(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(CLIENT_LOGGERS):
            return
        try:
            self.lines.append(self.format(record))
        except Exception as error:  # noqa: BLE001 - a record that cannot format is still evidence
            self.lines.append(f"{record.name} UNFORMATTABLE {record.msg!r} {record.args!r} ({error!r})")


@contextmanager
def every_logger_at_debug() -> Iterator[list[str]]:
    """Every existing and future logger at DEBUG, all records collected (restored afterwards)."""
    lines: list[str] = []
    handler = _Collect(lines)
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict))]
    saved = [(lg, lg.level, lg.disabled, list(lg.handlers)) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        if lg is root or not lg.propagate:
            lg.addHandler(handler)
    sink = loguru_logger.add(lambda message: lines.append(f"loguru {message}"), level="DEBUG")
    try:
        yield lines
    finally:
        loguru_logger.remove(sink)
        for lg, level, disabled, handlers in saved:
            lg.setLevel(level)
            lg.disabled = disabled
            lg.handlers[:] = handlers


def forms(secret: str) -> set[str]:
    """The ways ``secret`` can appear in a log line."""
    escaped = json.dumps(secret)[1:-1]
    as_bytes = repr(secret.encode())[2:-1]
    return {secret, escaped, escaped.replace("\\", "\\\\"), as_bytes}


async def test_a_call_and_record_access_at_debug_leak_nothing(
    live_server, records_store, speak, capfd: pytest.CaptureFixture[str]
) -> None:
    speech = speak(CALLER)
    token = records_store.tokens.issue(SERVICE)
    auth = {"Authorization": f"Bearer {token}"}
    capfd.readouterr()
    with every_logger_at_debug() as lines:
        async with httpx.AsyncClient(base_url=live_server.url, headers=auth, timeout=30) as client:
            created = await client.post(
                "/fhir/Patient",
                content=json.dumps(patient(name=NAME, national_id=NATIONAL_ID, phone=PHONE)),
                headers={"Content-Type": "application/fhir+json"},
            )
            assert created.status_code == 201, created.text
            patient_id = created.json()["id"]
            assert (await client.get(f"/fhir/Patient/{patient_id}")).json()["name"] == [{"text": NAME}]
            found = await client.get("/fhir/Patient", params={"identifier": f"urn:oid:2.16.156.10011.1.3|{NATIONAL_ID}"})
            assert found.json()["total"] == 1
            assert (await client.get("/fhir/Patient", params={"phone": PHONE})).json()["total"] == 1
            missing = await client.get("/fhir/Patient/no-such-id")
            assert missing.status_code == 404
        result = await call(f"{live_server.ws}/ws/call?flow=triage", [speech])
    out, err = capfd.readouterr()
    heard, said = result.texts("caller"), result.texts("agent")
    assert heard and said, result.events
    ring = records_store.ring
    secrets = {
        **{f"caller word {w}": w for w in CALLER_WORDS},
        **{f"recognised caller text {n}": t for n, t in enumerate(heard) if len(t) >= 2},
        **{f"agent reply {n}": t for n, t in enumerate(said) if len(t) >= 4},
        "patient name": NAME,
        "national id": NATIONAL_ID,
        "phone": PHONE,
        "bearer token": token,
        "bearer token signature": token.rsplit(".", 1)[-1],
        **{f"data key {k}": v.hex() for k, v in ring.data_keys.items()},
        "index key": ring.index_key.hex(),
        "token key": ring.token_key.hex(),
        "audit key": ring.audit_key.hex(),
    }
    output = [*lines, *out.splitlines(), *err.splitlines()]
    assert len(lines) > 20  # the loggers really were at DEBUG
    leaks = [
        f"{what}: {line[:200]}"
        for what, secret in secrets.items()
        for line in output
        if any(form in line for form in forms(secret))
    ]
    assert leaks == [], "\n".join(leaks)
    # Caller audio and transcript frames are not dumped by the WebSocket server at DEBUG either.
    frames = [line for line in lines if line.startswith(FRAME_LOGGERS) and re.search(r"[<>] (BINARY|TEXT) ", line)]
    assert frames == [], frames[:5]
