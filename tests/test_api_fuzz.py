"""The HTTP API fuzzed from its own OpenAPI spec (schemathesis, issue 22), and regression tests for what
the fuzzer found, each naming the input.

The fast run here sends a few hundred generated requests to the real app (real models, a fresh SQLite
store) served by uvicorn on a random loopback port, with real bearer tokens of every role (and a forged
one, and none); ``python -m evals.reliability.fuzz --out DIR`` is the long run (10,000 or more).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agent.records_api import FHIR_JSON, build_records_router
from backends import Principal
from evals.reliability.fuzz import QUICK_RUN_CASES, LiveService, fuzz_api, serve
from transport import WebRTCCalls, WebRTCConfig, build_signalling_router

NOT_UTF8_JSON = b"yL\xff\\{"  # the fuzzer's body: bytes FastAPI cannot even decode as JSON text


@pytest.fixture(scope="module")
def service(engines: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with serve(engines=engines, root=tmp_path_factory.mktemp("fuzz")) as live:
        yield live


def test_a_few_hundred_generated_requests_get_no_5xx_and_match_the_spec(service: LiveService) -> None:
    report = fuzz_api(service, cases=QUICK_RUN_CASES, seed=2022)
    problems = "\n".join(f"{f.operation} {f.check} {f.status}: {f.title}\n  {f.reproduce}\n  {f.answer}" for f in report.findings)
    assert report.cases >= QUICK_RUN_CASES
    assert report.metrics() | {"fuzz_cases": 0} == {
        "fuzz_cases": 0, "fuzz_5xx": 0, "schema_violations": 0, "fuzz_crashes": 0, "fuzz_other_failures": 0,
    }, problems
    assert not service.errors.tracebacks, service.errors.tracebacks[0]
    # The tokens got the fuzzer past authentication into the handlers.
    assert sum(n for status, n in report.statuses.items() if status not in ("401",)) > report.cases / 2
    assert service.alive()


def test_every_route_of_the_app_is_fuzzed(service: LiveService) -> None:
    spec = service.app.openapi()
    operations = {f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item}
    for expected in ("POST /fhir/{resource_type}", "POST /consultation/appointments", "POST /campaign/attempts",
                     "POST /api/offer", "PATCH /api/offer", "DELETE /api/calls/{pc_id}"):
        assert expected in operations
    report = fuzz_api(service, cases=len(operations) * 2, seed=7)
    assert set(report.per_operation) == operations


# -- regressions: what the fuzzer found ----------------------------------------------------------------


async def test_a_body_that_is_not_utf8_json_is_an_operation_outcome(store: Any) -> None:
    """Was FastAPI's ``{"detail": "There was an error parsing the body"}`` as application/json,
    which neither the spec nor the API's "every error is an OperationOutcome" allowed."""
    app = FastAPI()
    app.include_router(build_records_router(store))
    token = store.tokens.issue(Principal("dr-li", "doctor", "demo-hospital", "dept-cardiology"))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        for path in ("/consultation/appointments", "/consultation/handoffs"):
            response = await http.post(path, content=NOT_UTF8_JSON, headers=headers)
            assert response.status_code == 400, response.text
            assert response.headers["content-type"].startswith(FHIR_JSON)
            outcome = response.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert "send UTF-8 JSON" in outcome["issue"][0]["diagnostics"]


async def test_an_offer_body_that_is_not_utf8_json_is_a_signalling_error() -> None:
    calls = WebRTCCalls(WebRTCConfig(), _never_called)
    app = FastAPI()
    app.include_router(build_signalling_router(calls, lambda flow, options: None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        for method in ("POST", "PATCH"):
            response = await http.request(method, "/api/offer", content=NOT_UTF8_JSON,
                                          headers={"Content-Type": "application/json"})
            assert response.status_code == 400, response.text
            assert response.json()["error"] == "bad_body" and "UTF-8 JSON" in response.json()["message"]
    assert calls.active_peers == 0


async def _never_called(flow: str, transport: Any, options: Any) -> None:
    raise AssertionError("no call may start from a refused offer")


async def test_only_the_workers_own_host_may_drain_it(service: LiveService) -> None:
    """The fuzzer's POST /drain, sent with no token, stopped the worker taking calls (every offer then
    503 busy): anyone who could reach the API could do it. Now only loopback (the preStop hook)."""
    state = service.app.state
    was = state.draining
    try:
        state.draining = False
        remote = httpx.ASGITransport(app=service.app, client=("10.1.2.3", 40000))
        async with httpx.AsyncClient(transport=remote, base_url="http://test") as http:
            refused = await http.post("/drain")
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        assert state.draining is False
        local = httpx.ASGITransport(app=service.app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=local, base_url="http://test") as http:
            assert (await http.post("/drain")).status_code == 200
        assert state.draining is True
    finally:
        state.draining = was
    from deploy.haproxy import render

    assert "http-request deny deny_status 403 if { path_beg /drain }" in render(["127.0.0.1:1"], "127.0.0.1:2")


async def test_a_start_frame_nested_4kb_deep_is_refused_with_bad_json(service: LiveService) -> None:
    """4 KB of "[" as the first WebSocket frame raised RecursionError out of json.loads in the handshake:
    the connection died with no error message. Now the declared error, then close 1003."""
    import websockets

    state = service.app.state
    was, state.draining = state.draining, False  # the fuzz run above ends with POST /drain
    try:
        async with websockets.connect(service.url.replace("http", "ws") + "/ws/call") as ws:
            await ws.send("[" * 4000)
            error = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
    finally:
        state.draining = was
    assert error["type"] == "error" and error["code"] == "bad_json" and "nests too deeply" in error["message"]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


def test_the_spec_declares_what_the_routes_answer(service: LiveService) -> None:
    """Undeclared before: signalling's 400/404/429/503 (the spec had only 200 and 422), FHIR answers as
    application/json while they are application/fhir+json, and OperationOutcome bodies had no schema."""
    paths = service.app.openapi()["paths"]
    offer = paths["/api/offer"]
    assert {"400", "404", "429", "503"} <= set(offer["post"]["responses"])
    assert {"400", "404"} <= set(offer["patch"]["responses"])
    assert "404" in paths["/api/calls/{pc_id}"]["delete"]["responses"]
    created = paths["/fhir/{resource_type}"]["post"]["responses"]
    assert list(created["201"]["content"]) == [FHIR_JSON]
    assert created["422"]["content"][FHIR_JSON]["schema"]["properties"]["resourceType"] == {
        "const": "OperationOutcome"}
    resource_type = next(p for p in paths["/fhir/{resource_type}"]["get"]["parameters"] if p["name"] == "resource_type")
    assert "Patient" in resource_type["schema"]["enum"]
    assert "503" in paths["/readyz"]["get"]["responses"]


def test_a_focused_run_sends_each_input_as_every_caller(service: LiveService) -> None:
    """An operation with no input (GET /healthz) is sent once per token (4 roles, forged, none)."""
    report = fuzz_api(service, cases=50, operations=("GET /healthz",))
    assert report.per_operation["GET /healthz"] >= 6 and report.statuses == {"200": report.cases}
