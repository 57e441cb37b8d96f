"""A call session: one dialogue, one pipeline, one worker, run to the end and always cleaned up.

``CallSessions`` counts live calls (``/readyz`` and the leak tests read it) and refuses calls
beyond ``max_calls``. ``run_call`` is the single code path for every transport.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.transports.base_transport import BaseTransport
from pipecat.workers.runner import WorkerRunner

from agent.config import Settings
from agent.engines import Engines
from agent.pipeline import build_pipeline
from agent.triage_records import TriageCallRecorder
from backends import Principal
from dialogue import PROGRAMS, LLMPlugin, LLMSettings, create_dialogue

logger = logging.getLogger("medvoice.session")

def _llm_plugin(settings: Settings) -> LLMPlugin | None:
    """The shared LLM plug-in, or None for the rules-only embedded default."""
    if not settings.llm_base_url:
        return None
    return LLMPlugin(
        LLMSettings(base_url=settings.llm_base_url, model=settings.llm_model, timeout_s=settings.llm_timeout_s)
    )


@dataclass(frozen=True)
class CallOptions:
    """Who and what a call is about, beyond its flow (from the URL of the call or the campaign).

    Parameters:
        program: Follow-up programme, ``hypertension`` (default) or ``diabetes``.
        patient_id: The Patient the call is about (follow-up, dictation; triage if known).
        encounter_id: Dictation: the visit the note belongs to.
        principal: Who acts (a doctor for dictation, from a signed token); None = the voice agent.
    """

    program: str = "hypertension"
    patient_id: str | None = None
    encounter_id: str | None = None
    principal: Principal | None = None

    def __post_init__(self) -> None:
        if self.program not in PROGRAMS:
            raise ValueError(f"program {self.program!r} is not one of {', '.join(PROGRAMS)}")

    @classmethod
    def from_query(cls, query: Mapping[str, str], tokens: Any = None) -> CallOptions:
        """``?program=&patient=&encounter=&token=``; the token is verified with ``tokens``.

        Raises:
            ValueError: unknown programme, or a token that does not verify.
        """
        principal = None
        if query.get("token"):
            if tokens is None:
                raise ValueError("this deployment has no token signer; omit the token")
            try:
                principal = tokens.verify(query["token"])
            except Exception as exc:
                raise ValueError(f"token rejected: {exc}") from exc
        return cls(
            program=query.get("program", "hypertension"),
            patient_id=query.get("patient") or None,
            encounter_id=query.get("encounter") or None,
            principal=principal,
        )


class TooManyCalls(RuntimeError):
    """All call slots are busy."""


@dataclass
class CallLog:
    """What happened in a call: the events the client saw, in order."""

    call_id: str
    flow: str
    events: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)  # the dialogue's snapshot() at the end, if it has one

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
        self.llm = _llm_plugin(engines.settings)
        self._dialogue_factory = dialogue_factory
        self.active = 0

    def new_dialogue(self, flow: str, call_id: str, options: CallOptions | None = None):
        """Create the flow's dialogue (raises ``UnknownFlowError`` for an unknown flow).

        The records store, when there is one, is the flows' consultation backend (booking, hand-off);
        the LLM plug-in, when ``MEDVOICE_LLM_BASE_URL`` is set, re-words questions and proposes slots.
        """
        options = options or CallOptions()
        return self._dialogue_factory(
            flow,
            call_id=call_id,
            consultation=self.store,
            records=self.store,
            llm=self.llm,
            program=options.program,
            patient_id=options.patient_id,
            encounter_id=options.encounter_id,
            principal=options.principal,
            safety=self.engines.safety,
        )

    async def run_call(
        self,
        flow: str,
        transport: BaseTransport,
        *,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        silence_timeout_s: float = 7.0,
        options: CallOptions | None = None,
    ) -> CallLog:
        """Run one call to its end (the flow hangs up, the caller hangs up, or it is cancelled)."""
        if self.active >= self.engines.settings.max_calls:
            raise TooManyCalls(f"all {self.engines.settings.max_calls} call slots are busy")
        call_id = uuid.uuid4().hex[:12]
        log = CallLog(call_id, flow)
        dialogue = self.new_dialogue(flow, call_id, options)

        recorder = self._triage_recorder(flow, call_id, dialogue)

        def record(event: dict[str, Any]) -> None:
            log.events.append(event)
            if recorder is not None:
                recorder.observe(event)
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
            snapshot = getattr(dialogue, "snapshot", None)
            if callable(snapshot):  # the campaign records what a follow-up call found
                log.result = snapshot()
            if recorder is not None:
                await recorder.finish()
        return log

    def _triage_recorder(self, flow: str, call_id: str, dialogue: Any) -> TriageCallRecorder | None:
        """A triage call on a service with records is written there as it goes (the staff console's queue)."""
        principal = getattr(dialogue, "principal", None)
        if flow != "triage" or self.store is None or not hasattr(self.store, "department_id") or principal is None:
            return None
        return TriageCallRecorder(self.store, principal, call_id)
