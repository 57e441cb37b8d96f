"""The triage flow's LLM plug-in: what the LLM may do in a triage call, and the fallbacks when it
cannot: re-word a question (streamed, first safe sentence spoken as soon as it is complete) and
propose triage slots from free speech, checked against the triage vocabulary (:mod:`.slots`).

It lives with triage because triage is the only flow that takes one and its slot proposals are
triage's; the endpoint plumbing it uses (client, output guard, local server) is ``dialogue.llm``.

Every output is checked: a timeout, an HTTP error, an unsafe sentence (diagnosis, drug advice,
reassurance, not Mandarin), a re-wording that no longer asks the question, or an invalid slot value
is discarded and the rules' wording / the rules' slots stand. Counters in :attr:`LLMPlugin.stats`
say how often each happened (no patient text is kept).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from dialogue.engine import Phraser, split_sentences
from dialogue.llm.client import LLMError, LLMSettings, OpenAICompatibleClient
from dialogue.llm.guard import OutputGuard
from dialogue.triage.slots import find_complaints, read_onset

logger = logging.getLogger("dialogue")

_SENTENCE_END = re.compile(r"[。！？!?]")
_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
_PHRASE_SYSTEM = (
    "你是医院分诊热线的语音助手。把用户给出的这句话换一种自然、礼貌的说法，意思不能变，"
    "只输出一句简体中文。不要诊断，不要推荐任何药物，不要说“没事”。"
)
_EXTRACT_SYSTEM = (
    "从病人的话里提取信息，只输出一个JSON对象，键为：complaint（主要症状，中文短语）、onset（什么时候开始，原话）、"
    "severity（疼痛0-10的整数，没说就null）、urgency（1最急到4不急的整数）。不要输出别的内容。"
)


@dataclass(frozen=True)
class SlotProposal:
    """Slots an LLM proposed that passed validation (``None`` = not proposed or rejected).

    Parameters:
        complaints: Concept ids from the complaint lexicon the LLM's complaint maps to.
        onset: Onset in words (must read as an onset).
        severity: 0-10.
        urgency: 1-4 as proposed (never adopted, only compared with the rules').
        rejected: Names of proposed fields that failed validation.
    """

    complaints: tuple[str, ...] = ()
    onset: str | None = None
    severity: int | None = None
    urgency: int | None = None
    rejected: tuple[str, ...] = field(default=())


class _Rejected(Exception):
    pass


class LLMPlugin:
    """The LLM plug-in shared by all calls of a service.

    Args:
        settings: Endpoint, model and time budget.
        client: A client to use instead of building one (tests pass one with a custom transport).
    """

    def __init__(self, settings: LLMSettings, client: OpenAICompatibleClient | None = None) -> None:
        self.settings = settings
        self.client = client or OpenAICompatibleClient(settings)
        self.guard = OutputGuard.load()
        self.stats: Counter[str] = Counter()

    def phraser(self) -> Phraser:
        """The re-wording hook the flow engine calls for questions."""
        return self.phrase

    async def phrase(self, text: str, context: dict[str, Any]) -> AsyncIterator[str]:
        """Yield a safe re-wording of ``text``'s first sentence (the question) followed by its other
        sentences verbatim (examples, safety screens); the rules' own first sentence when the LLM fails."""
        first, *rest = split_sentences(text) or [text]
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                sentences = await self._reword(first)
            self.stats["phrase_used"] += 1
        except TimeoutError:
            self.stats["phrase_timeout"] += 1
            sentences = [first]
        except LLMError as error:
            self.stats["phrase_error"] += 1
            logger.warning("LLM phrasing failed, using the rules' wording: %s", error)
            sentences = [first]
        except _Rejected as rejection:
            self.stats[f"phrase_rejected_{rejection}"] += 1
            sentences = [first]
        for sentence in [*sentences, *rest]:
            yield sentence

    async def _reword(self, text: str) -> list[str]:
        """Stream until the first sentence that keeps the question; stop generating there."""
        messages = [{"role": "system", "content": _PHRASE_SYSTEM}, {"role": "user", "content": text}]
        buffer, pending = "", []
        async with aclosing(self.client.stream_chat(messages, temperature=0.5)) as deltas:
            async for delta in deltas:
                buffer += delta
                while (end := _SENTENCE_END.search(buffer)) is not None:
                    sentence, buffer = buffer[: end.end()].strip(), buffer[end.end():]
                    reason = self.guard.unsafe_reason(sentence)
                    if reason is not None:
                        raise _Rejected(reason)
                    pending.append(sentence)
                    if self.guard.keeps_meaning(text, sentence):
                        return pending
                    if len(pending) >= 2:
                        raise _Rejected("meaning")
        raise _Rejected("meaning")

    async def extract(self, utterance: str, rules_level: int | None) -> SlotProposal | None:
        """Slots proposed from ``utterance``, validated; ``None`` on failure or unsafe urgency.

        Args:
            utterance: The caller's words.
            rules_level: The rules' current level; a proposal that is less urgent is unsafe and dropped.
        """
        messages = [{"role": "system", "content": _EXTRACT_SYSTEM}, {"role": "user", "content": utterance}]
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                answer = await self.client.complete(messages, temperature=0.0)
        except TimeoutError:
            self.stats["extract_timeout"] += 1
            return None
        except LLMError as error:
            self.stats["extract_error"] += 1
            logger.warning("LLM slot extraction failed, rules only: %s", error)
            return None
        proposal = validate_proposal(answer)
        if proposal is None:
            self.stats["extract_invalid"] += 1
            return None
        if proposal.urgency is not None and rules_level is not None and proposal.urgency > rules_level:
            self.stats["extract_lower_urgency"] += 1
            return None
        self.stats["extract_used" if not proposal.rejected else "extract_partly_invalid"] += 1
        return proposal

    async def aclose(self) -> None:
        await self.client.aclose()


def validate_proposal(answer: str) -> SlotProposal | None:
    """Parse and validate an LLM JSON answer; invalid fields are dropped (named in ``rejected``)."""
    match = _JSON_OBJECT.search(answer)
    if match is None:
        return None
    try:
        raw = json.loads(match.group())
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    rejected: list[str] = []
    complaints: tuple[str, ...] = ()
    if isinstance(raw.get("complaint"), str) and raw["complaint"].strip():
        complaints = tuple(c.id for c in find_complaints(raw["complaint"]))
        if not complaints:
            rejected.append("complaint")
    onset = raw.get("onset")
    if onset is not None and not (isinstance(onset, str) and len(onset) <= 12 and read_onset(onset)):
        rejected.append("onset")
        onset = None
    severity = _bounded_int(raw.get("severity"), 0, 10, "severity", rejected)
    urgency = _bounded_int(raw.get("urgency"), 1, 4, "urgency", rejected)
    return SlotProposal(complaints, onset, severity, urgency, tuple(rejected))


def _bounded_int(value: Any, low: int, high: int, name: str, rejected: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high or value != int(value):
        rejected.append(name)
        return None
    return int(value)
