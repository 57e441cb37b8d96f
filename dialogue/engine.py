"""The flow engine: one conversation = a flow spec (data) + a flow class (small code).

A :class:`FlowSpec` (``dialogue/data/flows/<flow>.json``) names the states, the slots each state
fills, the prompt that re-asks it, and the allowed transitions. :class:`FlowDialogue` runs it: it owns
what every flow shares (silence: re-prompt once then end; empty or garbled input; abusive callers;
ending; sentence-by-sentence replies; optional LLM phrasing with the rules' wording as fallback),
and calls the flow's ``on_<state>(text)`` for the rest. Triage, follow-up and dictation all fit:
follow-up is a fixed question list with slot validation, dictation a single open state.
"""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from dialogue.base import Dialogue, Reply
from dialogue.phrasebook import Phrasebook

_ABUSE = re.compile(
    r"傻[逼瓜子叉]|妈的|他妈|滚蛋|滚开|你滚|给我滚|去死吧你|废物|笨蛋|混蛋|王八|蠢货|垃圾机器|有病吧你|神经病啊|放屁|闭嘴"
)
_CJK_OR_DIGIT = re.compile(r"[\u4e00-\u9fff0-9]")
_MAX_ABUSE = 3
_SENTENCE = re.compile(r"[^。！？!?；;]+[。！？!?；;]?")


@dataclass(frozen=True)
class StateSpec:
    """One state: the prompt that (re-)asks it, the slots it fills, where it may go next."""

    name: str
    prompt: str | None
    slots: tuple[str, ...]
    next: tuple[str, ...]


@dataclass(frozen=True)
class FlowSpec:
    """A flow as data (see the module docstring)."""

    flow: str
    start: str
    states: dict[str, StateSpec]
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = {n for s in self.states.values() for n in s.next if n not in self.states}
        if self.start not in self.states or unknown:
            raise ValueError(
                f"flow {self.flow!r}: start {self.start!r} and transitions {sorted(unknown)} must be states; "
                f"states are {sorted(self.states)}"
            )

    @classmethod
    def load(cls, flow: str) -> FlowSpec:
        """Load ``dialogue/data/flows/<flow>.json``."""
        return _load_spec(flow)


@dataclass
class Turn:
    """What a state handler decided for one caller turn.

    Parameters:
        say: Sentences in order (rules' wording, already safe).
        next_state: The state to move to (must be allowed by the spec).
        end_call: Hang up after the last sentence.
        rephrase: Indices of ``say`` an LLM may re-word (questions; never safety instructions).
    """

    say: list[str]
    next_state: str
    end_call: bool = False
    rephrase: tuple[int, ...] = ()


Phraser = Callable[[str, dict[str, Any]], AsyncIterator[str]]
"""An LLM re-wording hook: given the rules' sentence and context, yields safe sentences (or the original)."""


class FlowDialogue(Dialogue):
    """Runs a :class:`FlowSpec`; subclasses implement ``opening()`` and ``on_<state>(text)``.

    Args:
        spec: The flow as data.
        phrasebook: Prompts for this call.
        phraser: Optional LLM re-wording hook (see :data:`Phraser`); ``None`` = rules' wording only.
    """

    def __init__(self, spec: FlowSpec, phrasebook: Phrasebook, phraser: Phraser | None = None) -> None:
        self.spec = spec
        self.flow = spec.flow
        self.phrases = phrasebook
        self.phraser = phraser
        self.state = spec.start
        self.ended = False
        self._silences = 0
        self._abuse = 0

    # -- what subclasses provide -------------------------------------------------------------------
    @abstractmethod
    def opening(self) -> Turn:
        """The greeting and first question."""

    def reask(self) -> str | None:
        """The question of the current state, for re-prompts (default: the state's prompt)."""
        prompt = self.spec.states[self.state].prompt
        return self.phrases.say(prompt) if prompt else None

    def silence_goodbye(self) -> str:
        return self.phrases.say("silence_goodbye")

    def meta(self) -> dict[str, Any]:
        """Structured state attached to every reply (patient data: never logged)."""
        return {"state": self.state}

    def on_abuse_limit(self) -> Turn:
        """The caller kept abusing: hand over politely (default: say so and end)."""
        return Turn([self.phrases.say("abuse_goodbye")], self.state, end_call=True)

    # -- the Dialogue contract ---------------------------------------------------------------------
    async def open(self) -> AsyncIterator[Reply]:
        async for reply in self._emit(self.opening()):
            yield reply

    async def handle(self, utterance: str) -> AsyncIterator[Reply]:
        if self.ended:
            return
        text = utterance.strip()
        self._silences = 0
        if not _CJK_OR_DIGIT.search(text):
            turn = self._reprompt("garbled")
        elif _ABUSE.search(text):
            self._abuse += 1
            if self._abuse >= _MAX_ABUSE:
                turn = self.on_abuse_limit()
            elif len(_ABUSE.sub("", text)) > 4:  # insults around real content: answer the content calmly
                turn = await self._dispatch(text, prefix=self.phrases.say("abuse"))
            else:
                turn = self._reprompt("abuse")
        else:
            turn = await self._dispatch(text)
        async for reply in self._emit(turn):
            yield reply

    async def handle_silence(self) -> AsyncIterator[Reply]:
        if self.ended:
            return
        self._silences += 1
        if self._silences == 1:
            turn = self._reprompt("silence_reprompt")
        else:
            turn = Turn([self.silence_goodbye()], self.state, end_call=True)
        async for reply in self._emit(turn):
            yield reply

    def snapshot(self) -> dict[str, Any]:
        return {"flow": self.flow, **self.meta()}

    # -- machinery ---------------------------------------------------------------------------------
    async def _dispatch(self, text: str, prefix: str | None = None) -> Turn:
        handler: Callable[[str], Awaitable[Turn]] = getattr(self, f"on_{self.state}")
        turn = await handler(text)
        if turn.next_state not in self.spec.states[self.state].next:
            raise RuntimeError(
                f"flow {self.flow!r}: transition {self.state!r} -> {turn.next_state!r} is not in the spec; "
                f"allowed: {self.spec.states[self.state].next}"
            )
        if prefix:
            turn.say.insert(0, prefix)
            turn.rephrase = tuple(i + 1 for i in turn.rephrase)
        return turn

    def _reprompt(self, key: str) -> Turn:
        question = self.reask()
        return Turn([self.phrases.say(key), *([question] if question else [])], self.state)

    async def _emit(self, turn: Turn) -> AsyncIterator[Reply]:
        self.state = turn.next_state
        self.ended = self.ended or turn.end_call
        meta = self.meta()
        if turn.end_call:  # the last sentence must carry end_call, so closing turns are never re-worded
            sentences = [s for text in turn.say for s in split_sentences(text)]
            for index, sentence in enumerate(sentences):
                yield Reply(sentence, end_call=index == len(sentences) - 1, meta=meta)
            return
        for index, text in enumerate(turn.say):
            if self.phraser is not None and index in turn.rephrase:
                async for sentence in self.phraser(text, meta):
                    yield Reply(sentence, meta=meta)
            else:
                for sentence in split_sentences(text):
                    yield Reply(sentence, meta=meta)


def split_sentences(text: str) -> list[str]:
    """Split Mandarin text into sentences (each keeps its final punctuation)."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


@cache
def _load_spec(flow: str) -> FlowSpec:
    resource = resources.files("dialogue.data").joinpath("flows", f"{flow}.json")
    data = json.loads(resource.read_text("utf-8"))
    states = {
        name: StateSpec(name, raw.get("prompt"), tuple(raw.get("slots", [])), tuple(raw.get("next", [])))
        for name, raw in data["states"].items()
    }
    settings = {k: v for k, v in data.items() if k not in ("flow", "start", "states") and not k.startswith("_")}
    return FlowSpec(data["flow"], data["start"], states, settings)
