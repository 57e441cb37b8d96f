"""Writes each triage call to the records as it goes (``dialogue.triage.records``), so the staff console
sees live and recent calls: created when the call is first routed or flagged, rewritten after each
agent turn, finished at hang-up. Written by the call's own principal (the voice agent's service
identity) through the store's ordinary, audited create/update; a records failure never touches the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from backends import DEPARTMENT_TAG_SYSTEM, Principal
from dialogue import triage_encounter

logger = logging.getLogger("medvoice.triage_records")

__all__ = ["TriageCallRecorder"]


class TriageCallRecorder:
    """Follows one triage call's events and keeps its Encounter current.

    Args:
        store: The records store (``create``, ``update``, ``department_id``).
        principal: Who writes (the call's principal).
        call_id: The call's id (the Encounter's identifier).
        clock: Current time.
    """

    def __init__(
        self,
        store: Any,
        principal: Principal,
        call_id: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store, self._principal, self.call_id, self._clock = store, principal, call_id, clock
        self.started = clock()
        self.transcript: list[tuple[str, str]] = []
        self.state: dict[str, Any] = {}
        self.encounter: dict[str, Any] | None = None
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def observe(self, event: dict[str, Any]) -> None:
        """Take one call event (transcript line or state); the write happens off the call's path."""
        if event.get("type") == "transcript" and event.get("text"):
            self.transcript.append((str(event.get("role", "")), str(event["text"])))
        elif event.get("type") == "state":
            self.state.update({k: event.get(k) for k in ("level", "department", "reason", "red_flags", "handoff")})
            self._dirty.set()
            if self._task is None:
                self._task = asyncio.get_running_loop().create_task(self._writer())

    async def _writer(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self.state.get("department") or self.state.get("red_flags"):
                await self._write(ended=None)

    async def finish(self) -> None:
        """The call ended: write the final Encounter (only if the call got as far as a decision or a flag)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.encounter is not None or self.state.get("department") or self.state.get("red_flags"):
            await self._write(ended=self._clock())

    async def _write(self, ended: datetime | None) -> None:
        resource = triage_encounter(
            self.call_id,
            self.started,
            level=self.state.get("level"),
            department=self.state.get("department"),
            reason=self.state.get("reason"),
            red_flags=list(self.state.get("red_flags") or []),
            transcript=self.transcript,
            handoff=self.state.get("handoff"),
            ended=ended,
        )
        try:
            if self.encounter is None:
                department = self.state.get("department")
                tag = await self._store.department_id(self._principal.hospital_id, department) if department else None
                if tag:
                    resource["meta"] = {"tag": [{"system": DEPARTMENT_TAG_SYSTEM, "code": tag}]}
                self.encounter = await self._store.create(self._principal, resource)
            else:
                self.encounter = await self._store.update(self._principal, {**resource, "id": self.encounter["id"]})
        except Exception as error:  # the call goes on; the console misses this call's record
            logger.warning("recording triage call %s failed: %s", self.call_id, type(error).__name__)

