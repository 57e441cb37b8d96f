"""FHIR-style REST API over the records backend, plus consultation endpoints (an ``APIRouter`` factory).

Mount it in the app::

    from backends.embedded import open_store
    from agent.records_api import build_records_router

    store = open_store(database_url=settings.database_url, key_file=settings.key_file)
    app.include_router(build_records_router(store))
    # on shutdown: store.close()

Every request carries ``Authorization: Bearer <token>``, a token signed by the store's key ring
(``store.tokens.issue(principal)``, or ``medvoice records token`` on the command line). Every error
is a FHIR ``OperationOutcome``: 400 malformed JSON or bad parameters, 401 missing/invalid token,
403 denied, 404 unknown resource, 409 slot taken, 413 body too large, 422 invalid FHIR naming the
field, 500 data that failed its integrity check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any, Protocol

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from backends import (
    RESOURCE_TYPES,
    AccessDeniedError,
    BackendError,
    ConsultationBackend,
    HandoffRequest,
    HandoffTicket,
    InvalidResourceError,
    NotFoundError,
    Principal,
    RecordsBackend,
    ResourceIssue,
    SlotUnavailableError,
    TamperedDataError,
    TokenError,
    TokenSigner,
)

FHIR_JSON = "application/fhir+json"
DEFAULT_MAX_BODY_BYTES = 1 << 20

_STATUS_AND_CODE: dict[type[BackendError], tuple[int, str]] = {
    AccessDeniedError: (403, "forbidden"),
    NotFoundError: (404, "not-found"),
    SlotUnavailableError: (409, "conflict"),
    InvalidResourceError: (422, "invalid"),
    TamperedDataError: (500, "exception"),
}


class ApiError(Exception):
    """An HTTP error raised inside the API layer itself (bad JSON, size, token, URL mismatch)."""

    def __init__(self, status: int, code: str, message: str, expression: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.expression = status, code, expression


def operation_outcome(
    status: int, code: str, message: str, expressions: Sequence[str | None] | None = None
) -> JSONResponse:
    issues = [
        {"severity": "error", "code": code, "diagnostics": message, **({"expression": [e]} if e else {})}
        for e in (expressions or [None])
    ]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"resourceType": "OperationOutcome", "issue": issues},
        status_code=status,
        media_type=FHIR_JSON,
        headers=headers,
    )


def _issue_outcome(status: int, code: str, message: str, issues: tuple[ResourceIssue, ...]) -> JSONResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": code,
                "diagnostics": issue.message,
                "expression": [issue.expression],
            }
            for issue in issues
        ]
        or [{"severity": "error", "code": code, "diagnostics": message}],
    }
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


class OutcomeRoute(APIRoute):
    """Turns every failure of a route (ours, the backend's, FastAPI's validation) into an OperationOutcome,
    and refuses bodies over the size limit with 413 before they are parsed."""

    max_body_bytes = DEFAULT_MAX_BODY_BYTES

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        limit = self.max_body_bytes

        async def outcome_handler(request: Request) -> Response:
            try:
                await _enforce_body_limit(request, limit)
                return await handler(request)
            except ApiError as error:
                return operation_outcome(error.status, error.code, str(error), [error.expression])
            except InvalidResourceError as error:
                return _issue_outcome(422, "invalid", str(error), error.issues)
            except BackendError as error:
                status, code = _STATUS_AND_CODE.get(type(error), (500, "exception"))
                return operation_outcome(status, code, str(error))
            except RequestValidationError as error:
                expressions = [".".join(str(p) for p in item["loc"]) for item in error.errors()]
                messages = "; ".join(
                    f"{e}: {item['msg']}" for e, item in zip(expressions, error.errors(), strict=True)
                )
                # Unparseable JSON is a malformed request (400); well-formed but wrong fields are 422.
                status = 400 if any(item["type"] == "json_invalid" for item in error.errors()) else 422
                return operation_outcome(status, "invalid", messages, expressions)
            except HTTPException as error:
                # FastAPI's own refusal of a body it cannot decode at all (bytes that are not UTF-8
                # JSON): still an OperationOutcome, not {"detail": ...}.
                message = f"request body could not be read: {error.detail}; send UTF-8 JSON"
                return operation_outcome(error.status_code, "invalid", message)

        return outcome_handler


async def _enforce_body_limit(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too-long", f"request body is {declared} bytes; the limit is {limit} bytes")
    if request.method in ("POST", "PUT", "PATCH"):
        received = 0
        chunks = []
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise ApiError(413, "too-long", f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        request._body = b"".join(chunks)  # Starlette's cache: later reads see the same bytes


class RecordsStore(RecordsBackend, ConsultationBackend, Protocol):
    """What the router needs: both Protocols, plus the hand-off queue for staff."""

    async def handoff_queue(self, principal: Principal, status: str = "queued") -> list[HandoffTicket]: ...

    async def claim_handoff(self, principal: Principal, ticket_id: str) -> HandoffTicket: ...


# ------------------------------------------------------------------ consultation models


class SlotOut(BaseModel):
    slot_id: str
    department: str
    doctor: str
    start: datetime
    end: datetime


class DepartmentsOut(BaseModel):
    hospital_id: str
    departments: list[str]


class BookingIn(BaseModel):
    slot_id: str = Field(min_length=1, max_length=64)
    patient_id: str = Field(min_length=1, max_length=64)


class BookingOut(BaseModel):
    appointment_id: str


class HandoffIn(BaseModel):
    call_id: str = Field(min_length=1, max_length=128)
    flow: str = Field(min_length=1, max_length=32)
    summary: str = Field(max_length=2000)
    level: int | None = Field(None, ge=1, le=5)
    red_flags: list[str] = Field(default_factory=list, max_length=32)
    patient_id: str | None = None


class TicketOut(BaseModel):
    ticket_id: str
    status: str
    created_at: datetime
    claimed_by: str | None
    call_id: str
    flow: str
    summary: str
    level: int | None
    red_flags: list[str]
    patient_id: str | None

    @classmethod
    def of(cls, ticket: HandoffTicket) -> TicketOut:
        request = ticket.request
        return cls(
            ticket_id=ticket.ticket_id,
            status=ticket.status,
            created_at=ticket.created_at,
            claimed_by=ticket.claimed_by,
            call_id=request.call_id,
            flow=request.flow,
            summary=request.summary,
            level=request.level,
            red_flags=list(request.red_flags),
            patient_id=request.patient_id,
        )


FHIR_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            FHIR_JSON: {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        },
        "description": "A FHIR R4 resource (JSON).",
    }
}
# JSON Schemas of what the routes answer, declared so a client (and the fuzzer) can hold the answers
# to them; written out because a FHIR resource is no pydantic model of ours.
OPERATION_OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
RESOURCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "id"],
    "properties": {"resourceType": {"enum": list(RESOURCE_TYPES)}, "id": {"type": "string"}},
}
BUNDLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "type", "total", "entry"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "type": {"const": "searchset"},
        "total": {"type": "integer", "minimum": 0},
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["fullUrl", "resource"],
                "properties": {"fullUrl": {"type": "string"}, "resource": RESOURCE_SCHEMA},
            },
        },
    },
}
OUTCOME_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": f"OperationOutcome ({meaning})",
        "content": {FHIR_JSON: {"schema": OPERATION_OUTCOME_SCHEMA}},
    }
    for status, meaning in (
        (400, "malformed request"),
        (401, "missing or invalid token"),
        (403, "access denied"),
        (404, "not found"),
        (413, "body too large"),
        (422, "invalid resource, field named"),
    )
}
OUTCOME_RESPONSES[401]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}}


def _fhir_answer(status: int, description: str, schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": description, "content": {FHIR_JSON: {"schema": schema}}}}


class FhirResponse(JSONResponse):
    """JSON with FHIR's media type (``application/fhir+json``), so the spec declares it for the answers."""

    media_type = FHIR_JSON


# The resource type in a URL: declared as the supported ones; checked by the route (400 naming them).
RESOURCE_TYPE_PATH = Path(
    description="A supported FHIR resource type.", json_schema_extra={"enum": list(RESOURCE_TYPES)}
)


def _check_type(resource_type: str) -> None:
    if resource_type not in RESOURCE_TYPES:
        raise ApiError(
            400,
            "not-supported",
            f"resource type {resource_type!r} is not supported; use one of {', '.join(RESOURCE_TYPES)}",
            "resourceType",
        )


async def _json_body(request: Request, resource_type: str) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, "invalid", f"request body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise ApiError(400, "invalid", f"request body must be a JSON object, got {type(body).__name__}")
    if body.get("resourceType") != resource_type:
        raise ApiError(
            400,
            "invalid",
            f"body resourceType {body.get('resourceType')!r} does not match the URL's {resource_type!r}",
            "resourceType",
        )
    return body


def _fhir(resource: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(resource, status_code=status, media_type=FHIR_JSON, headers=headers)


def build_records_router(
    store: RecordsStore,
    tokens: TokenSigner | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> APIRouter:
    """The ``/fhir`` and ``/consultation`` routes over ``store``.

    Args:
        store: The records + consultation backend (e.g. ``backends.embedded.open_store(...)``).
        tokens: Verifies bearer tokens; defaults to ``store.tokens`` (the embedded store's key ring).
        max_body_bytes: Larger request bodies get 413.
    """
    signer = tokens if tokens is not None else getattr(store, "tokens", None)
    if signer is None:
        raise ValueError("build_records_router needs a TokenSigner: pass tokens=... (this store has none)")
    route_class = type("LimitedOutcomeRoute", (OutcomeRoute,), {"max_body_bytes": max_body_bytes})
    router = APIRouter(route_class=route_class, responses=OUTCOME_RESPONSES)
    caller = Depends(_bearer_principal(signer))
    _add_fhir_routes(router, store, caller)
    _add_consultation_routes(router, store, caller)
    return router


def _bearer_principal(signer: TokenSigner) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """The dependency that reads who calls from ``Authorization: Bearer <token>`` (401 otherwise)."""

    async def principal(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "login", "missing 'Authorization: Bearer <token>' header")
        try:
            return signer.verify(token.strip())
        except TokenError as error:
            raise ApiError(401, "login", str(error)) from error

    return principal


def _add_fhir_routes(router: APIRouter, store: RecordsStore, caller: Any) -> None:
    """Create, read, update and search FHIR resources."""

    @router.post(
        "/fhir/{resource_type}", tags=["FHIR records"], status_code=201, openapi_extra=FHIR_BODY,
        response_class=FhirResponse, responses=_fhir_answer(201, "The created resource", RESOURCE_SCHEMA),
    )
    async def create_resource(
        request: Request, resource_type: str = RESOURCE_TYPE_PATH, who: Principal = caller
    ) -> JSONResponse:
        """Create a resource; the server assigns id and meta."""
        _check_type(resource_type)
        created = await store.create(who, await _json_body(request, resource_type))
        return _fhir(created, 201, {"Location": f"/fhir/{resource_type}/{created['id']}"})

    @router.get(
        "/fhir/{resource_type}/{resource_id}", tags=["FHIR records"],
        response_class=FhirResponse, responses=_fhir_answer(200, "The resource", RESOURCE_SCHEMA),
    )
    async def read_resource(
        resource_id: str, resource_type: str = RESOURCE_TYPE_PATH, who: Principal = caller
    ) -> JSONResponse:
        """Read one resource by id."""
        _check_type(resource_type)
        return _fhir(await store.read(who, resource_type, resource_id))

    @router.put(
        "/fhir/{resource_type}/{resource_id}", tags=["FHIR records"], openapi_extra=FHIR_BODY,
        response_class=FhirResponse, responses=_fhir_answer(200, "The new version", RESOURCE_SCHEMA),
    )
    async def update_resource(
        resource_id: str, request: Request, resource_type: str = RESOURCE_TYPE_PATH, who: Principal = caller
    ) -> JSONResponse:
        """Replace a resource (a new version); the body's id must match the URL."""
        _check_type(resource_type)
        body = await _json_body(request, resource_type)
        if body.get("id") != resource_id:
            raise ApiError(
                400, "invalid", f"body id {body.get('id')!r} does not match the URL's {resource_id!r}", "id"
            )
        return _fhir(await store.update(who, body))

    @router.get(
        "/fhir/{resource_type}", tags=["FHIR records"],
        response_class=FhirResponse, responses=_fhir_answer(200, "A searchset Bundle", BUNDLE_SCHEMA),
    )
    async def search_resources(
        request: Request, resource_type: str = RESOURCE_TYPE_PATH, who: Principal = caller
    ) -> JSONResponse:
        """Search: ``identifier`` (system|value or value), ``phone``, ``name``, ``code``, ``patient``."""
        _check_type(resource_type)
        params = dict(request.query_params)
        try:
            found = await store.search(who, resource_type, params)
        except InvalidResourceError as error:
            return _issue_outcome(400, "invalid", str(error), error.issues)
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in found],
        }
        return _fhir(bundle)


def _add_consultation_routes(router: APIRouter, store: RecordsStore, caller: Any) -> None:
    """Departments, slots, appointments and the hand-off queue."""

    @router.get("/consultation/departments", tags=["Consultation"], response_model=DepartmentsOut)
    async def list_departments(who: Principal = caller) -> DepartmentsOut:
        """Departments of the caller's hospital."""
        return DepartmentsOut(
            hospital_id=who.hospital_id, departments=await store.departments(who.hospital_id)
        )

    @router.get("/consultation/slots", tags=["Consultation"], response_model=list[SlotOut])
    async def list_slots(
        department: str = Query(..., min_length=1, max_length=64, description="Department name or id"),
        limit: int = Query(3, ge=1, le=50),
        who: Principal = caller,
    ) -> list[SlotOut]:
        """The next free slots of a department."""
        found = await store.find_slots(who.hospital_id, department, limit)
        return [
            SlotOut(slot_id=s.slot_id, department=s.department, doctor=s.doctor, start=s.start, end=s.end)
            for s in found
        ]

    @router.post(
        "/consultation/appointments", tags=["Consultation"], status_code=201, response_model=BookingOut
    )
    async def book_slot(booking: BookingIn, who: Principal = caller) -> BookingOut:
        """Book a slot for a patient; 409 if someone else got it first."""
        return BookingOut(appointment_id=await store.book(who, booking.slot_id, booking.patient_id))

    @router.delete("/consultation/appointments/{appointment_id}", tags=["Consultation"], status_code=204)
    async def cancel_appointment(appointment_id: str, who: Principal = caller) -> Response:
        """Cancel an appointment and free its slot."""
        await store.cancel(who, appointment_id)
        return Response(status_code=204)

    @router.post(
        "/consultation/handoffs", tags=["Consultation"], status_code=201, response_model=dict[str, str]
    )
    async def queue_handoff(handoff: HandoffIn, who: Principal = caller) -> dict[str, str]:
        """Queue a warm transfer to a human with a short summary and the red flags."""
        request = HandoffRequest(
            call_id=handoff.call_id,
            flow=handoff.flow,
            summary=handoff.summary,
            level=handoff.level,
            red_flags=tuple(handoff.red_flags),
            patient_id=handoff.patient_id,
        )
        return {"ticket_id": await store.request_handoff(who, request)}

    @router.get("/consultation/handoffs", tags=["Consultation"], response_model=list[TicketOut])
    async def list_handoffs(
        status: str = Query("queued", pattern="^(queued|claimed)$"), who: Principal = caller
    ) -> list[TicketOut]:
        """The hand-off queue, most urgent first (staff only)."""
        return [TicketOut.of(t) for t in await store.handoff_queue(who, status)]

    @router.post("/consultation/handoffs/{ticket_id}/claim", tags=["Consultation"], response_model=TicketOut)
    async def claim_handoff(ticket_id: str, who: Principal = caller) -> TicketOut:
        """Take a queued hand-off; 404 if it is gone or already claimed."""
        return TicketOut.of(await store.claim_handoff(who, ticket_id))

