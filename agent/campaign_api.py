"""REST routes of the follow-up campaign for the care team (an ``APIRouter`` factory).

Mount it next to the records router::

    from agent.campaign_api import build_campaign_router
    app.include_router(build_campaign_router(store))

Every request carries the same bearer token as the records API (``store.tokens``); the caller's
principal (department, doctor or hospital admin; not the voice agent's service identity) is the care
team whose schedule is shown. Routes:

- ``GET /campaign/due``: refresh from the records and list the schedule.
- ``POST /campaign/attempts``: the dialer reports an attempt (``answered`` with the dialogue snapshot,
  or not answered: retried within calling hours, then unreachable).
- ``GET /campaign/summary``: rows for the care team, alerts first; ``GET /campaign/summary.csv``: the same as CSV.

Errors are FHIR ``OperationOutcome`` documents like the records API. The schedule is the store's
(shared by every worker); the router keeps nothing of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from agent.campaign import CallResult, Campaign, CampaignSettings
from agent.records_api import OUTCOME_RESPONSES, ApiError, OutcomeRoute
from backends import Principal, RecordsBackend, TokenError, TokenSigner


class AttemptIn(BaseModel):
    """One call attempt reported by the dialer."""

    patient_id: str = Field(min_length=1)
    program: str = Field(pattern="^(hypertension|diabetes)$")
    answered: bool
    snapshot: dict[str, Any] = Field(default_factory=dict, description="FollowupDialogue.snapshot() when answered")


def build_campaign_router(
    store: RecordsBackend,
    tokens: TokenSigner | None = None,
    *,
    settings: CampaignSettings | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    """The ``/campaign`` routes over ``store``.

    Args:
        store: Records backend (e.g. ``backends.embedded.open_store(...)``).
        tokens: Verifies bearer tokens; default ``store.tokens``.
        settings: Calling hours, retries, programmes (default :class:`CampaignSettings`).
        clock: Current time (tests).
    """
    signer = tokens if tokens is not None else getattr(store, "tokens", None)
    if signer is None:
        raise ValueError("build_campaign_router needs a TokenSigner: pass tokens=... (this store has none)")
    campaigns: dict[tuple[str, str, str | None], Campaign] = {}
    router = APIRouter(route_class=OutcomeRoute, responses=OUTCOME_RESPONSES, prefix="/campaign", tags=["Campaign"])

    async def care_team(request: Request) -> Campaign:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "login", "missing 'Authorization: Bearer <token>' header")
        try:
            principal: Principal = signer.verify(token.strip())
        except TokenError as error:
            raise ApiError(401, "login", str(error)) from error
        if principal.role == "service":
            raise ApiError(403, "forbidden", "the campaign is for the care team; the service identity may not read "
                                             "follow-up history")
        key = (principal.hospital_id, principal.role, principal.department_id)
        if key not in campaigns:
            campaigns[key] = Campaign(store, principal, settings)
        return campaigns[key]

    Team = Depends(care_team)

    @router.get("/due")
    async def list_due(campaign: Campaign = Team) -> list[dict[str, Any]]:
        await campaign.refresh(clock())
        return await asyncio.to_thread(campaign.summary)

    @router.post("/attempts")
    async def report_attempt(attempt: AttemptIn, campaign: Campaign = Team) -> dict[str, Any]:
        calls = await asyncio.to_thread(lambda: campaign.calls)
        call = calls.get((attempt.patient_id, attempt.program))
        if call is None:
            raise ApiError(404, "not-found", f"no scheduled {attempt.program} call for patient {attempt.patient_id!r}; "
                                             "GET /campaign/due first")
        await asyncio.to_thread(campaign.record, call, CallResult(attempt.answered, attempt.snapshot), clock())
        return {"status": call.status, "attempts": call.attempts, "next_attempt": call.next_attempt.isoformat()}

    @router.get("/summary")
    async def summary(campaign: Campaign = Team) -> list[dict[str, Any]]:
        return await asyncio.to_thread(campaign.summary)

    # Declared as text/csv (it was documented as application/json, which it never is).
    @router.get("/summary.csv", response_class=Response, responses={
        200: {"description": "The summary as CSV (UTF-8 with BOM, for spreadsheet programs)",
              "content": {"text/csv": {"schema": {"type": "string"}}}}})
    async def summary_csv(campaign: Campaign = Team) -> Response:
        return Response(await asyncio.to_thread(campaign.summary_csv), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="followup-summary.csv"'})

    return router
