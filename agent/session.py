"""A call session: one dialogue, one pipeline, one worker, run to the end and always cleaned up.

``CallSessions`` counts live calls (``/readyz`` and the leak tests read it) and refuses calls
beyond ``max_calls``. ``run_call`` is the single code path for every transport.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.transports.base_transport import BaseTransport
from pipecat.workers.runner import WorkerRunner

from agent.engines import Engines
from agent.pipeline import build_pipeline
from dialogue import create_dialogue

logger = logging.getLogger("medvoice.session")


class TooManyCalls(RuntimeError):
    """All call slots are busy."""


@dataclass
class CallLog:
    """What happened in a call: the events the client saw, in order."""

    call_id: str
    flow: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def transcript(self) -> list[tuple[str, str]]:
        """(role, text) for every final caller and agent line."""
        return [(e["role"], e["text"]) for e in self.events if e.get("type") == "transcript"]


class CallSessions:
    """Runs calls on the shared engines and keeps count of the live ones."""

    def __init__(
        self,
        engines: Engines,
        *,
        store: Any = None,
        dialogue_factory: Callable[..., Any] = create_dialogue,
    ) -> None:
        self.engines = engines
        self.store = store
        self._dialogue_factory = dialogue_factory
        self.active = 0

    def new_dialogue(self, flow: str, call_id: str):
        """Create the flow's dialogue (raises ``UnknownFlowError`` for an unknown flow).

        The records store, when there is one, is the flows' consultation backend (booking, hand-off).
        """
        return self._dialogue_factory(flow, call_id=call_id, consultation=self.store)

    async def run_call(
        self,
        flow: str,
        transport: BaseTransport,
        *,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        silence_timeout_s: float = 7.0,
    ) -> CallLog:
        """Run one call to its end (the flow hangs up, the caller hangs up, or it is cancelled)."""
        if self.active >= self.engines.settings.max_calls:
            raise TooManyCalls(f"all {self.engines.settings.max_calls} call slots are busy")
        call_id = uuid.uuid4().hex[:12]
        log = CallLog(call_id, flow)
        dialogue = self.new_dialogue(flow, call_id)

        def record(event: dict[str, Any]) -> None:
            log.events.append(event)
            if on_event is not None:
                on_event(event)

        pipeline = build_pipeline(
            self.engines, transport, dialogue, on_event=record, silence_timeout_s=silence_timeout_s
        )
        sample_rate = self.engines.settings.output_sample_rate
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=sample_rate),
            idle_timeout_secs=None,
            enable_rtvi=False,
            enable_turn_tracking=False,
        )
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        self.active += 1
        logger.info("call %s started (flow=%s, active=%d)", call_id, flow, self.active)
        try:
            await runner.run()
        except BaseException:
            await worker.cancel(reason="call aborted")
            raise
        finally:
            self.active -= 1
            logger.info("call %s ended (active=%d)", call_id, self.active)
        return log
