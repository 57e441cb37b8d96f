"""HTTP signalling for WebRTC calls: offer/answer, trickled ICE candidates, hang-up, ICE config.

``POST /api/offer``   {"sdp", "type": "offer", "flow", "pc_id"?, "restart_pc"?} -> {"sdp", "type", "pc_id"}
``PATCH /api/offer``  {"pc_id", "candidates": [{"candidate", "sdp_mid", "sdp_mline_index"}]}
``DELETE /api/calls/{pc_id}``  hang up
``GET /api/webrtc/config``     STUN/TURN servers for the browser's RTCPeerConnection

Errors are JSON ``{"error": code, "message": ...}`` with 400 (bad offer), 404 (unknown peer),
429 (rate limited, with Retry-After) or 503 (busy / loading).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from transport.webrtc import SignallingError, WebRTCCalls


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


def _error(exc: SignallingError) -> JSONResponse:
    headers = {"Retry-After": str(math.ceil(exc.retry_after_s))} if exc.retry_after_s is not None else None
    return JSONResponse(exc.as_body(), status_code=exc.status, headers=headers)


def build_signalling_router(calls: WebRTCCalls, admit_call: Callable[[str, dict[str, str]], Any]) -> APIRouter:
    """Routes over ``calls``; ``admit_call(flow, options)`` returns the call's options, or raises
    ``SignallingError`` to refuse a new call."""
    router = APIRouter(prefix="/api", tags=["webrtc"])

    @router.post("/offer")
    async def offer(body: OfferRequest, request: Request) -> Any:
        """Answer a WebRTC offer (new call, renegotiation or reconnect)."""
        try:
            call_options = admit_call(body.flow, body.call_options()) if body.pc_id is None else None
            return await calls.offer(
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

    @router.patch("/offer", status_code=204)
    async def candidates(body: CandidatesRequest) -> Response:
        """Add ICE candidates the browser trickles after its offer."""
        try:
            await calls.add_candidates(body.pc_id, [c.model_dump() for c in body.candidates])
        except SignallingError as exc:
            return _error(exc)
        return Response(status_code=204)

    @router.delete("/calls/{pc_id}", status_code=204)
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
