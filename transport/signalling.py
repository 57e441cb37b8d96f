"""HTTP signalling for WebRTC calls: offer/answer, trickled ICE candidates, hang-up, ICE config.

``POST /api/offer``   {"sdp", "type": "offer", "flow", "pc_id"?, "restart_pc"?} -> {"sdp", "type", "pc_id"}
``PATCH /api/offer``  {"pc_id", "candidates": [{"candidate", "sdp_mid", "sdp_mline_index"}]}
``DELETE /api/calls/{pc_id}``  hang up
``GET /api/webrtc/config``     STUN/TURN servers for the browser's RTCPeerConnection

Errors are JSON ``{"error": code, "message": ...}`` with 400 (bad offer, or a body that is no
UTF-8 JSON), 404 (unknown peer), 429 (rate limited, with Retry-After) or 503 (busy / loading); a
body whose fields are wrong gets FastAPI's 422 ``{"detail": [...]}`` naming them. The spec
declares each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from transport.webrtc import SignallingError, WebRTCCalls

PC_ID_HEADER = "X-Medvoice-Pc-Id"
"""Response header of an answered offer naming its peer connection (for balancers' stickiness)."""


class OfferRequest(BaseModel):
    sdp: str = Field(description="The browser's offer SDP (pc.localDescription.sdp).")
    type: str = Field("offer", description='Always "offer".')
    flow: str = Field("triage", description="triage, followup or dictation.")
    pc_id: str | None = Field(None, description="Set to renegotiate or reconnect a live call.")
    restart_pc: bool = Field(False, description="With pc_id: replace the peer connection (reconnect).")
    program: str | None = Field(None, description="Follow-up programme: hypertension or diabetes.")
    patient: str | None = Field(None, description="Patient id the call is about (follow-up, dictation).")
    encounter: str | None = Field(None, description="Encounter id a dictated note belongs to.")
    token: str | None = Field(None, description="Signed token of the person the call acts for.")

    def call_options(self) -> dict[str, str]:
        """The options a WebSocket call gives in its query string, as a mapping."""
        fields = {"program": self.program, "patient": self.patient, "encounter": self.encounter, "token": self.token}
        return {name: value for name, value in fields.items() if value}


class IceCandidateBody(BaseModel):
    candidate: str = ""
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None


class CandidatesRequest(BaseModel):
    pc_id: str
    candidates: list[IceCandidateBody]


class AnswerOut(BaseModel):
    sdp: str = Field(description="The service's answer SDP.")
    type: str = Field(description='Always "answer".')
    pc_id: str = Field(description="The peer connection's id: renegotiate, trickle candidates, hang up.")


class SignallingErrorOut(BaseModel):
    error: str = Field(description="Machine-readable code (bad_sdp, no_opus, unknown_peer, busy, ...).")
    message: str = Field(description="What was wrong and what to send instead.")
    retry_after_s: float | None = Field(None, description="With 429: seconds until an offer is taken again.")


def _declared(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meanings = {400: "bad offer, candidate or body", 404: "no live call with that pc_id",
                429: "too many call attempts from this address", 503: "all call slots busy, or still loading"}
    return {status: {"model": SignallingErrorOut, "description": meanings[status]} for status in statuses}


def _error(exc: SignallingError) -> JSONResponse:
    headers = {"Retry-After": str(math.ceil(exc.retry_after_s))} if exc.retry_after_s is not None else None
    return JSONResponse(exc.as_body(), status_code=exc.status, headers=headers)


class SignallingRoute(APIRoute):
    """Answers a body FastAPI cannot decode at all (bytes that are not UTF-8 JSON) with the signalling
    error shape, not ``{"detail": ...}``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def signalling_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                if exc.status_code != 400:
                    raise
                return _error(SignallingError(400, "bad_body", f"the request body could not be read ({exc.detail}); "
                                                               "send UTF-8 JSON"))

        return signalling_handler


def build_signalling_router(calls: WebRTCCalls, admit_call: Callable[[str, dict[str, str]], Any]) -> APIRouter:
    """Routes over ``calls``; ``admit_call(flow, options)`` returns the call's options, or raises
    ``SignallingError`` to refuse a new call."""
    router = APIRouter(prefix="/api", tags=["webrtc"], route_class=SignallingRoute)

    @router.post("/offer", response_model=AnswerOut, responses=_declared(400, 404, 429, 503))
    async def offer(body: OfferRequest, request: Request) -> Any:
        """Answer a WebRTC offer (new call, renegotiation or reconnect)."""
        try:
            call_options = admit_call(body.flow, body.call_options()) if body.pc_id is None else None
            answer = await calls.offer(
                body.sdp,
                body.type,
                flow=body.flow,
                client=request.client.host if request.client else "unknown",
                pc_id=body.pc_id,
                restart_pc=body.restart_pc,
                call_options=call_options,
            )
        except SignallingError as exc:
            return _error(exc)
        # A balancer keeps the peer's later requests (trickled ICE, hang-up) on this worker by this
        # header (deploy/haproxy.py stores it: a header is whole when the response is processed).
        return JSONResponse(answer, headers={PC_ID_HEADER: str(answer["pc_id"])})

    @router.patch("/offer", status_code=204, responses=_declared(400, 404))
    async def candidates(body: CandidatesRequest) -> Response:
        """Add ICE candidates the browser trickles after its offer."""
        try:
            await calls.add_candidates(body.pc_id, [c.model_dump() for c in body.candidates])
        except SignallingError as exc:
            return _error(exc)
        return Response(status_code=204)

    @router.delete("/calls/{pc_id}", status_code=204, responses=_declared(404))
    async def hang_up(pc_id: str) -> Response:
        """End a call."""
        try:
            await calls.hang_up(pc_id)
        except SignallingError as exc:
            return _error(exc)
        return Response(status_code=204)

    @router.get("/webrtc/config")
    async def webrtc_config() -> dict[str, Any]:
        """ICE servers (host candidates only when empty) and the connect deadline."""
        return calls.browser_config()

    return router
