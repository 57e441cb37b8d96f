"""The FHIR-style REST API and consultation endpoints: tokens, OperationOutcome on every error, OpenAPI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agent.records_api import build_records_router
from backends.embedded import EmbeddedStore
from backends.interfaces import Principal
from backends.tokens import TokenSigner
from evals.records.resources import examples, patient

HOSPITAL = "demo-hospital"
SERVICE = Principal("voice-agent", "service", HOSPITAL, purpose="triage")
DOCTOR = Principal("dr-li", "doctor", HOSPITAL, "dept-cardiology")
DERMATOLOGIST = Principal("dr-zhou", "doctor", HOSPITAL, "dept-dermatology")
NURSE = Principal("nurse-wu", "department", HOSPITAL, "dept-cardiology")
FOREIGN = Principal("dr-x", "doctor", "other-hospital", "dept-cardiology")
BODY_LIMIT = 64 * 1024


@pytest.fixture
async def client(store: EmbeddedStore) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(build_records_router(store, max_body_bytes=BODY_LIMIT))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


def auth(store: EmbeddedStore, who: Principal) -> dict[str, str]:
    return {"Authorization": f"Bearer {store.tokens.issue(who)}"}


def outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["severity"] == "error"
    return body


async def booked_patient(client: httpx.AsyncClient, store: EmbeddedStore) -> str:
    created = await client.post("/fhir/Patient", json=patient(), headers=auth(store, SERVICE))
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    assert created.headers["location"] == f"/fhir/Patient/{patient_id}"
    slots = await client.get(
        "/consultation/slots", params={"department": "心血管内科"}, headers=auth(store, SERVICE)
    )
    booking = await client.post(
        "/consultation/appointments",
        json={"slot_id": slots.json()[0]["slot_id"], "patient_id": patient_id},
        headers=auth(store, SERVICE),
    )
    assert booking.status_code == 201, booking.text
    return patient_id


async def test_create_read_search_update_through_the_api(
    client: httpx.AsyncClient, store: EmbeddedStore
) -> None:
    patient_id = await booked_patient(client, store)
    read = await client.get(f"/fhir/Patient/{patient_id}", headers=auth(store, DOCTOR))
    assert read.status_code == 200 and read.json()["name"] == [{"text": "张三丰"}]
    bp = await client.post(
        "/fhir/Observation",
        content=json.dumps(examples(patient_id)["bp"]),
        headers={**auth(store, DOCTOR), "Content-Type": "application/fhir+json"},
    )
    assert bp.status_code == 201, bp.text
    search = await client.get(
        "/fhir/Patient",
        params={"identifier": "urn:oid:2.16.156.10011.1.3|110101199001011234"},
        headers=auth(store, DOCTOR),
    )
    assert search.json()["type"] == "searchset" and search.json()["total"] == 1
    assert search.json()["entry"][0]["resource"]["id"] == patient_id
    by_patient = await client.get(
        "/fhir/Observation", params={"patient": patient_id}, headers=auth(store, NURSE)
    )
    assert [e["resource"]["id"] for e in by_patient.json()["entry"]] == [bp.json()["id"]]
    changed = {**bp.json(), "status": "amended"}
    updated = await client.put(
        f"/fhir/Observation/{changed['id']}", json=changed, headers=auth(store, DOCTOR)
    )
    assert updated.status_code == 200 and updated.json()["meta"]["versionId"] == "2"


async def test_consultation_endpoints(client: httpx.AsyncClient, store: EmbeddedStore) -> None:
    departments = await client.get("/consultation/departments", headers=auth(store, SERVICE))
    assert departments.json()["hospital_id"] == HOSPITAL and "急诊科" in departments.json()["departments"]
    patient_id = (await client.post("/fhir/Patient", json=patient(), headers=auth(store, SERVICE))).json()[
        "id"
    ]
    slot = (
        await client.get(
            "/consultation/slots", params={"department": "眼科", "limit": 2}, headers=auth(store, SERVICE)
        )
    ).json()
    assert len(slot) == 2 and slot[0]["department"] == "眼科"
    booking = {"slot_id": slot[0]["slot_id"], "patient_id": patient_id}
    first = await client.post("/consultation/appointments", json=booking, headers=auth(store, SERVICE))
    assert first.status_code == 201
    taken = await client.post("/consultation/appointments", json=booking, headers=auth(store, SERVICE))
    assert "already booked" in outcome(taken, 409)["issue"][0]["diagnostics"]
    cancelled = await client.delete(
        f"/consultation/appointments/{first.json()['appointment_id']}", headers=auth(store, SERVICE)
    )
    assert cancelled.status_code == 204
    again = await client.post("/consultation/appointments", json=booking, headers=auth(store, SERVICE))
    assert again.status_code == 201
    queued = await client.post(
        "/consultation/handoffs",
        json={
            "call_id": "c-1",
            "flow": "triage",
            "summary": "胸痛伴出汗",
            "level": 2,
            "red_flags": ["chest_pain"],
        },
        headers=auth(store, SERVICE),
    )
    assert queued.status_code == 201
    queue = await client.get("/consultation/handoffs", headers=auth(store, NURSE))
    assert [t["summary"] for t in queue.json()] == ["胸痛伴出汗"]
    claimed = await client.post(
        f"/consultation/handoffs/{queued.json()['ticket_id']}/claim", headers=auth(store, NURSE)
    )
    assert claimed.json()["status"] == "claimed" and claimed.json()["claimed_by"] == "nurse-wu"
    outcome(
        await client.post(
            f"/consultation/handoffs/{queued.json()['ticket_id']}/claim", headers=auth(store, NURSE)
        ),
        404,
    )
    outcome(await client.get("/consultation/handoffs", headers=auth(store, SERVICE)), 403)
    outcome(
        await client.get(
            "/consultation/slots", params={"department": "美容科"}, headers=auth(store, SERVICE)
        ),
        404,
    )


@pytest.mark.parametrize(
    "header, reason",
    [
        (None, "missing 'Authorization"),
        ("Basic dXNlcjpwYXNz", "missing 'Authorization"),
        ("Bearer not-a-token", "not a mvt1 token"),
        ("Bearer mvt1.e30.AAAA", "signature does not verify"),
    ],
)
async def test_requests_without_a_valid_token_get_401(
    client: httpx.AsyncClient, header: str | None, reason: str
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/fhir/Patient/any", headers=headers)
    assert reason in outcome(response, 401)["issue"][0]["diagnostics"]
    assert response.headers["www-authenticate"] == "Bearer"


async def test_tokens_signed_with_another_key_or_expired_get_401(client: httpx.AsyncClient) -> None:
    forged = TokenSigner(b"attacker-key-0123456789abcdef!!").issue(DOCTOR)
    outcome(await client.get("/fhir/Patient/any", headers={"Authorization": f"Bearer {forged}"}), 401)
    expired = TokenSigner(b"k" * 32).issue(DOCTOR, ttl_s=-1)
    outcome(await client.get("/fhir/Patient/any", headers={"Authorization": f"Bearer {expired}"}), 401)


async def test_denials_are_403(client: httpx.AsyncClient, store: EmbeddedStore) -> None:
    patient_id = await booked_patient(client, store)
    for who in (DERMATOLOGIST, FOREIGN):
        body = outcome(await client.get(f"/fhir/Patient/{patient_id}", headers=auth(store, who)), 403)
        assert body["issue"][0]["code"] == "forbidden"
    outcome(
        await client.post(
            "/fhir/Condition", json=examples(patient_id)["condition"], headers=auth(store, SERVICE)
        ),
        403,
    )


async def test_malformed_json_is_400_and_invalid_fhir_is_422_naming_the_field(
    client: httpx.AsyncClient, store: EmbeddedStore
) -> None:
    headers = {**auth(store, SERVICE), "Content-Type": "application/fhir+json"}
    broken = outcome(
        await client.post("/fhir/Patient", content=b'{"resourceType": "Patient",', headers=headers), 400
    )
    assert "not valid JSON" in broken["issue"][0]["diagnostics"]
    outcome(await client.post("/fhir/Patient", content=b"[1, 2]", headers=headers), 400)
    outcome(
        await client.post(
            "/fhir/Patient", content="\udcff".encode("utf-8", "surrogatepass"), headers=headers
        ),
        400,
    )
    mismatch = outcome(
        await client.post("/fhir/Patient", json={"resourceType": "Observation"}, headers=headers), 400
    )
    assert mismatch["issue"][0]["expression"] == ["resourceType"]
    invalid = outcome(
        await client.post(
            "/fhir/Patient",
            json={"resourceType": "Patient", "birthDate": "yesterday", "name": [{"family": 7}]},
            headers=headers,
        ),
        422,
    )
    assert {e for issue in invalid["issue"] for e in issue["expression"]} == {
        "Patient.birthDate",
        "Patient.name[0].family",
    }
    unknown_type = outcome(
        await client.post("/fhir/Spaceship", json={"resourceType": "Spaceship"}, headers=headers), 400
    )
    assert "not supported" in unknown_type["issue"][0]["diagnostics"]
    bad_param = outcome(await client.get("/fhir/Patient", params={"birthdate": "1990"}, headers=headers), 400)
    assert bad_param["issue"][0]["expression"] == ["birthdate"]
    bad_booking = outcome(
        await client.post("/consultation/appointments", json={"slot_id": ""}, headers=headers), 422
    )
    assert {e for issue in bad_booking["issue"] for e in issue["expression"]} >= {
        "body.slot_id",
        "body.patient_id",
    }
    garbled = await client.post(
        "/consultation/appointments",
        content=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert "JSON" in outcome(garbled, 400)["issue"][0]["diagnostics"]
    bad_limit = outcome(
        await client.get("/consultation/slots", params={"department": "眼科", "limit": 0}, headers=headers),
        422,
    )
    assert bad_limit["issue"][0]["expression"] == ["query.limit"]
    put_mismatch = outcome(
        await client.put("/fhir/Patient/abc", json={**patient(), "id": "xyz"}, headers=headers), 400
    )
    assert put_mismatch["issue"][0]["expression"] == ["id"]


async def test_unknown_patient_is_404(client: httpx.AsyncClient, store: EmbeddedStore) -> None:
    body = outcome(await client.get("/fhir/Patient/does-not-exist", headers=auth(store, DOCTOR)), 404)
    assert (
        body["issue"][0]["code"] == "not-found"
        and "Patient/does-not-exist" in body["issue"][0]["diagnostics"]
    )
    outcome(await client.delete("/consultation/appointments/nope", headers=auth(store, SERVICE)), 404)


async def test_oversized_bodies_get_413_whether_declared_or_streamed(
    client: httpx.AsyncClient, store: EmbeddedStore
) -> None:
    big = patient(name="大" * BODY_LIMIT)
    declared = outcome(await client.post("/fhir/Patient", json=big, headers=auth(store, SERVICE)), 413)
    assert "limit" in declared["issue"][0]["diagnostics"]

    async def chunks() -> AsyncIterator[bytes]:
        payload = json.dumps(big).encode()
        for start in range(0, len(payload), 8192):
            yield payload[start : start + 8192]

    streamed = await client.post("/fhir/Patient", content=chunks(), headers=auth(store, SERVICE))
    assert "Content-Length" not in streamed.request.headers
    outcome(streamed, 413)


async def test_tampered_record_is_a_500_not_silently_served(
    client: httpx.AsyncClient, store: EmbeddedStore
) -> None:
    patient_id = await booked_patient(client, store)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE resources SET author = 'intruder' WHERE id = %s"
            if store.engine.dialect.name == "postgresql"
            else "UPDATE resources SET author = 'intruder' WHERE id = ?",
            (patient_id,),
        )
    body = outcome(await client.get(f"/fhir/Patient/{patient_id}", headers=auth(store, DOCTOR)), 500)
    assert "authentication failed" in body["issue"][0]["diagnostics"]


async def test_openapi_documents_fhir_and_consultation_routes(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path in (
        "/fhir/{resource_type}",
        "/fhir/{resource_type}/{resource_id}",
        "/consultation/departments",
        "/consultation/slots",
        "/consultation/appointments",
        "/consultation/appointments/{appointment_id}",
        "/consultation/handoffs",
        "/consultation/handoffs/{ticket_id}/claim",
    ):
        assert path in paths, path
    assert "application/fhir+json" in paths["/fhir/{resource_type}"]["post"]["requestBody"]["content"]
    assert "413" in paths["/fhir/{resource_type}"]["post"]["responses"]
