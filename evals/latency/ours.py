"""medvoice's side: the real service on loopback, called by scripted callers (WebSocket or WebRTC).

Every runner takes a ``Dial`` that opens a fresh ``ScriptedCall``, so the same turns and
barge-ins are measured over either transport.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from evals.latency.caller import Dial, ScriptedCall
from evals.latency.script import Utterance

FLOW = "triage"
TURNS_PER_CALL = 8


def serve(settings: Any) -> tuple[Any, Any, str]:
    """The app on 127.0.0.1 in a background thread: (server, engines, http://host:port)."""
    import uvicorn

    from agent.app import create_app
    from agent.engines import Engines

    engines = Engines(settings)
    app = create_app(settings, engines=engines)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 60 s")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, engines, f"http://127.0.0.1:{port}"


@dataclass
class TurnResult:
    kind: str
    turn_complete_s: float | None = None  # caller end of speech -> final transcript event
    v2v_s: float | None = None  # caller end of speech -> first agent audio
    finals: int = 0
    cut_off: bool = False

    @property
    def split(self) -> bool:
        """The utterance reached the dialogue as anything but one turn, or was cut off."""
        return self.finals != 1 or self.cut_off


@dataclass
class BargeResult:
    kind: str
    stop_s: float | None = None  # caller speech onset -> last agent audio before a stop gap
    interrupted: bool = False
    resumed: bool = False
    paused_s: float | None = None


@dataclass
class OursResult:
    turns: list[TurnResult] = field(default_factory=list)
    barges: list[BargeResult] = field(default_factory=list)


async def _fresh_call(dial: Dial) -> ScriptedCall:
    call = dial()
    await call.__aenter__()
    await call.wait_quiet(timeout_s=30)  # the greeting
    return call


async def run_turns(dial: Dial, utterances: list[Utterance]) -> list[TurnResult]:
    """Each utterance after the agent went quiet; a new call every few turns or when one ends.

    A call that drops while the caller speaks leaves that turn unmeasured (it counts as split).
    """
    results: list[TurnResult] = []
    call: ScriptedCall | None = None
    for i, utterance in enumerate(utterances):
        if call is None or call.ended.is_set() or i % TURNS_PER_CALL == 0:
            if call is not None:
                await call.__aexit__(None, None, None)
            call = await _fresh_call(dial)
        try:
            start, end = await call.speak(utterance.audio)
        except ConnectionError:
            results.append(TurnResult(utterance.kind))
            continue
        first_audio = await call.wait_audio(end)
        await call.wait_quiet(since=end)
        finals = call.received.finals(start)
        result = TurnResult(utterance.kind, finals=len(finals))
        if finals:
            result.turn_complete_s = finals[-1]["_t"] - end
        if first_audio is not None:
            result.v2v_s = first_audio - end
        if utterance.kind == "fragment":
            fragment_end = start + utterance.last_part_start_s - 1.5
            result.cut_off = bool(call.received.finals(fragment_end, start + utterance.last_part_start_s))
        results.append(result)
    if call is not None:
        await call.__aexit__(None, None, None)
    return results


async def run_barge_ins(dial: Dial, utterances: list[Utterance], *, after_s: float = 1.2) -> list[BargeResult]:
    """Each utterance spoken ``after_s`` into the agent's greeting, on a fresh call."""
    results = []
    for utterance in utterances:
        call = dial()
        await call.__aenter__()
        try:
            first = await call.wait_audio(0.0, timeout_s=30)
            if first is None:
                results.append(BargeResult(utterance.kind))
                continue
            await asyncio.sleep(max(0.0, first + after_s - time.monotonic()))
            try:
                onset, end = await call.speak(utterance.audio)
            except ConnectionError:
                results.append(BargeResult(utterance.kind))
                continue
            await asyncio.sleep(3.0)
            audio = call.received.audio_after(onset)
            gap = call.stop_gap_s
            stop = next((a for a, b in zip(audio, audio[1:], strict=False) if b - a >= gap), None)
            states = call.received.barge_states(onset - 0.5)
            resumed_audio = [a for a in audio if stop is not None and a > stop + gap]
            results.append(BargeResult(
                utterance.kind,
                stop_s=None if stop is None else stop - onset,
                interrupted="interrupted" in states,
                resumed="resumed" in states and bool(resumed_audio),
                paused_s=(resumed_audio[0] - stop) if (stop is not None and resumed_audio) else None,
            ))
        finally:
            await call.__aexit__(None, None, None)
    return results


async def run_concurrent(dial: Dial, utterances: list[Utterance], calls: int) -> tuple[int, int, list[float]]:
    """``calls`` calls at once, two turns each: (answered turns, audio underruns, v2v seconds)."""

    async def one(offset: int) -> tuple[int, int, list[float]]:
        call = await _fresh_call(dial)
        answered, underruns, v2v = 0, 0, []
        try:
            for k in range(2):
                utterance = utterances[(offset + k) % len(utterances)]
                _, end = await call.speak(utterance.audio)
                first = await call.wait_audio(end)
                await call.wait_quiet(since=end, quiet_s=1.0)
                if first is None:
                    continue
                answered += 1
                v2v.append(first - end)
                reply = call.received.audio_after(first)
                # Chunks arrive at speech pace; a gap inside a reply is an underrun the caller hears.
                underruns += sum(1 for a, b in zip(reply, reply[1:], strict=False) if 0.2 < b - a < 1.0)
        finally:
            await call.__aexit__(None, None, None)
        return answered, underruns, v2v

    outcomes = await asyncio.gather(*(one(i) for i in range(calls)))
    return (sum(o[0] for o in outcomes), sum(o[1] for o in outcomes), [x for o in outcomes for x in o[2]])
