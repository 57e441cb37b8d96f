"""What a worker tells its balancer and orchestrator: how many call slots are taken, and draining.

``occupied_slots`` is the one count every admission decision and ``/readyz`` use: live calls plus
the slots this worker's outbound queue jobs hold, less those already answered (counted live).
``POST /drain`` (the Kubernetes preStop hook) makes the worker refuse new calls and take no new
queue job, so ``/readyz`` turns 503 and the balancer moves on, while calls in progress finish;
``GET /drain`` says how many are left. Only the worker's own host may drain it (the hook calls
127.0.0.1): from anywhere else it is 403, and the balancer refuses the path (``deploy/haproxy.py``),
since behind a balancer on the same host every client arrives from loopback.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse


def occupied_slots(state: Any) -> int:
    """Call slots in use on this worker (``app.state``)."""
    sessions = state.sessions
    active = sessions.active if sessions is not None else 0
    return int(active + state.outbound.reserved - state.outbound.live)


def build_cluster_router() -> APIRouter:
    """``/drain``: stop taking calls (POST) and see the calls still in progress (GET)."""
    router = APIRouter(tags=["service"])

    def status(state: Any) -> dict[str, Any]:
        sessions = state.sessions
        return {"draining": state.draining, "active_calls": sessions.active if sessions is not None else 0,
                "outbound_jobs": state.call_queue.gate.held if state.call_queue is not None else 0}

    @router.post("/drain", responses={403: {"description": "Not from the worker's own host"}})
    async def drain(request: Request) -> Any:
        """Refuse new calls and queue jobs from now on; calls in progress go on (loopback callers only)."""
        client = request.client.host if request.client else ""
        if not _loopback(client):
            # Anyone who could reach the API could stop the worker taking calls (found by the fuzzer).
            return JSONResponse({"error": "forbidden", "message": f"POST /drain is for the worker's own preStop "
                                 f"hook on 127.0.0.1, not {client or 'an unknown client'}"}, status_code=403)
        state = request.app.state
        state.draining = True
        if state.call_queue is not None:
            state.call_queue.drain()
        return status(state)

    @router.get("/drain")
    async def drained(request: Request) -> dict[str, Any]:
        """Whether the worker drains and what still runs (the preStop hook waits for 0 calls)."""
        return status(request.app.state)

    return router


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
