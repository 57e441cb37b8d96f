"""Runs WebRTC calls through packet loss against a live service and measures what the loss costs.

Per loss rate: one dictation call (the caller dictates sentences; recognition is scored by CER and
timed from the caller's end of speech to the final transcript arriving on the data channel) and a
few triage calls (voice-to-voice: the caller's end of speech to the first agent audio heard).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from evals.asr.metrics import char_errors
from evals.netloss.caller import SPEECH_RMS, WebRTCCall, connect

TRIAGE_COMPLAINT = "我胸口疼，出了很多汗。"


@dataclass
class RateResult:
    loss_rate: float
    cer_errors: int = 0
    cer_chars: int = 0
    transcript_ms: list[float] = field(default_factory=list)
    v2v_ms: list[float] = field(default_factory=list)
    utterances: int = 0
    utterances_missed: int = 0
    calls: int = 0
    calls_dropped: int = 0
    datagrams: int = 0
    datagrams_dropped: int = 0
    hypotheses: list[tuple[str, str]] = field(default_factory=list)
    drop_reasons: list[str] = field(default_factory=list)

    def dropped(self, flow: str, why: str, call: WebRTCCall | None = None) -> None:
        """A call that did not survive: counted, with why and how the service said it ended."""
        self.calls_dropped += 1
        ends = [e.get("reason") for _, e in call.events if e.get("type") == "end"] if call is not None else []
        self.drop_reasons.append(f"{flow}: {why}" + (f" (service's end event: {ends[-1]})" if ends else ""))


async def wait_agent_silent(call: WebRTCCall, quiet_s: float = 0.6, timeout: float = 15.0) -> None:
    """Until the agent has not spoken for ``quiet_s`` (it may not speak at all)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = next((t for t, rms in reversed(call.agent_speech) if rms >= SPEECH_RMS), 0.0)
        if time.monotonic() - last >= quiet_s:
            return
        await asyncio.sleep(0.05)


def _count_loss(result: RateResult, call: WebRTCCall) -> None:
    if call.loss is not None:
        stats = call.loss.stats
        result.datagrams += stats.sent + stats.received
        result.datagrams_dropped += stats.dropped_out + stats.dropped_in


async def dictation_call(base_url: str, result: RateResult, sentences: list[tuple[str, np.ndarray]], seed: int,
                         options: dict[str, str] | None = None) -> None:
    """``options``: the offer's patient, encounter and a doctor's token (dictation acts for a doctor).
    A call that ends early counts as dropped and its unspoken sentences as missed."""
    result.calls += 1
    try:
        call = await connect(base_url, "dictation", loss_rate=result.loss_rate, seed=seed, options=options)
    except RuntimeError as error:
        result.dropped("dictation", str(error))
        _missed(result, [text for text, _ in sentences])
        return
    try:
        await call.wait_agent_quiet(timeout=30)
        for number, (text, pcm) in enumerate(sentences):
            before = len(call.texts("caller"))
            try:
                ended = await call.say(pcm)
            except ConnectionError as error:
                result.dropped("dictation", str(error), call)
                _missed(result, [t for t, _ in sentences[number:]])
                return
            result.utterances += 1
            heard = await call.wait_for(lambda c, n=before: len(c.texts("caller")) > n, 20)
            if not heard:
                result.utterances_missed += 1
                errors, chars = char_errors(text, "")
            else:
                arrived = next(t for t, e in reversed(call.events)
                               if e.get("type") == "transcript" and e.get("role") == "caller" and e.get("final", True))
                result.transcript_ms.append((arrived - ended) * 1000)
                hypothesis = "".join(call.texts("caller")[before:])
                result.hypotheses.append((text, hypothesis))
                errors, chars = char_errors(text, hypothesis)
            result.cer_errors += errors
            result.cer_chars += chars
            await asyncio.sleep(1.0)
            await wait_agent_silent(call)
        if call.pc.connectionState != "connected":
            result.dropped("dictation", f"connection {call.pc.connectionState} at the end", call)
    finally:
        _count_loss(result, call)
        await call.hang_up()


def _missed(result: RateResult, texts: list[str]) -> None:
    for text in texts:
        errors, chars = char_errors(text, "")
        result.utterances += 1
        result.utterances_missed += 1
        result.cer_errors += errors
        result.cer_chars += chars


async def triage_call(base_url: str, result: RateResult, complaint: np.ndarray, seed: int) -> None:
    result.calls += 1
    try:
        call = await connect(base_url, "triage", loss_rate=result.loss_rate, seed=seed)
    except RuntimeError as error:
        result.dropped("triage", str(error))
        return
    try:
        await call.wait_agent_quiet(timeout=30)
        try:
            ended = await call.say(complaint)
        except ConnectionError as error:
            result.dropped("triage", str(error), call)
            return
        answered = None
        if await call.wait_for(lambda c: c.first_speech_after(ended) is not None, 20):
            answered = call.first_speech_after(ended)
        if answered is not None:
            result.v2v_ms.append((answered - ended) * 1000)
        await asyncio.sleep(1.0)
        if call.pc.connectionState != "connected":
            result.dropped("triage", f"connection {call.pc.connectionState} at the end", call)
    finally:
        _count_loss(result, call)
        await call.hang_up()


async def run_rate(
    base_url: str,
    loss_rate: float,
    sentences: list[tuple[str, np.ndarray]],
    complaint: np.ndarray,
    triage_calls: int,
    seed: int = 7,
    dictation_options: dict[str, str] | None = None,
) -> RateResult:
    result = RateResult(loss_rate)
    await dictation_call(base_url, result, sentences, seed, dictation_options)
    for i in range(triage_calls):
        await triage_call(base_url, result, complaint, seed + 1 + i)
    return result
