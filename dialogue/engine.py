"""The flow engine: one conversation = a flow spec (data) + a flow class (small code).

A :class:`FlowSpec` (``dialogue/data/flows/<flow>.json``) names the states, the slots each state
fills, the prompt that re-asks it, and the allowed transitions. :class:`FlowDialogue` runs it: it owns
what every flow shares and calls the flow's ``on_<state>(text)`` for the rest. Triage, follow-up and
dictation all fit: follow-up is a fixed question list with slot validation, dictation a single open
state.

What the engine owns, in the order it happens for every caller utterance:

1. **The whole-call transcript** (:attr:`FlowDialogue.transcript`): every utterance, including those
   that are later re-prompted as garbled or abusive.
2. **The safety floor** (:mod:`dialogue.safety_floor`): the red-flag rules run on the transcript so
   far *before* any filter or state handler, whatever the utterance also contains (profanity,
   fillers, a half sentence) and whatever state the call is in. A new red flag goes to the flow's
   :meth:`FlowDialogue.on_red_flag` hook; flags are sticky. A crisis flag (self-harm) puts the call
   in crisis mode for good: the engine answers every later turn itself, keeps the line open and
   never ends the call (DOMAIN.md §1.4: stay on the line, 12356 / 120, a human).
3. Shared handling of empty or garbled input, abusive callers and silence (re-prompt once, then end;
   a red-flag call never ends without the 120 instruction, a crisis call never ends).
4. Sentence-by-sentence replies, with optional LLM re-wording of questions (never safety wording).
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
from dialogue.facts import Vitals
from dialogue.people import Person
from dialogue.phrasebook import Phrasebook
from dialogue.requests import wants_human
from dialogue.safety import RedFlagHit
from dialogue.safety_floor import SafetyFloor, is_crisis
from medical_terms.confidence import Confidence

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
    """Runs a :class:`FlowSpec`; subclasses implement ``opening()``, ``on_<state>(text)`` and
    :meth:`on_red_flag`.

    Args:
        spec: The flow as data.
        phrasebook: Prompts for this call.
        phraser: Optional LLM re-wording hook (see :data:`Phraser`); ``None`` = rules' wording only.
        safety: The red-flag floor (default: the packaged rules); checked on every utterance.
        seed: Seeds the emergency wording's variety (use the call id).
    """

    speaker_is_clinician: bool = False
    """Dictation: the speaker is a doctor describing a patient. Their words go to the state handler as
    they are (no garble or abuse screening) and a red flag never starts crisis mode; the safety floor
    still runs on every utterance and the flow's :meth:`on_red_flag` records what it found."""

    def __init__(self, spec: FlowSpec, phrasebook: Phrasebook, phraser: Phraser | None = None,
                 safety: SafetyFloor | None = None, seed: str | int = 0) -> None:
        self.spec = spec
        self.flow = spec.flow
        self.phrases = phrasebook
        self.phraser = phraser
        self.safety = safety or SafetyFloor.load()
        self.safety_phrases = Phrasebook.for_flow("safety", seed=seed)
        self.state = spec.start
        self.ended = False
        self.transcript: list[str] = []
        """Every caller utterance of the call, in order (patient data: never logged)."""
        self.confidence: Confidence | None = None
        """How sure the recogniser was of each word of the utterance being handled (None: not measured)."""
        self.hits: list[RedFlagHit] = []
        """Red flags raised so far, most urgent first; never removed."""
        self._silences = 0
        self._abuse = 0
        self._crisis_turns = 0

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

    # -- safety hooks ------------------------------------------------------------------------------
    def observe(self, text: str) -> None:  # noqa: B027 - optional hook
        """Read what the utterance says into the flow's slots before the safety check (default: nothing).

        Runs on every utterance, garbled and abusive ones included, so the rules see vitals, ages and
        answers to the pending question."""

    values_are_red_flags: bool = True
    """Whether blood pressure, glucose and heart rate said by the caller can raise a red flag. The
    follow-up flow turns it off: there they are the programme's danger criteria, read back first."""

    def safety_inputs(self) -> tuple[Vitals | None, Person | None]:
        """Vitals and person for the rules (default: ``None``, read from the transcript)."""
        return None, None

    async def on_red_flag(self, new: list[RedFlagHit]) -> Turn | None:
        """New red flags (most urgent first; :attr:`hits` already holds them): what to say and do.

        Return the turn to speak, or ``None`` to record the flags and go on with the normal handling
        of the utterance (dictation). Default: queue a hand-off, say :meth:`emergency_words`, and end
        the call after the 120 instruction (a crisis call stays open)."""
        handoff = await self.request_handoff("red_flag")
        return Turn(self.emergency_words(new, handoff), self.state, end_call=True)

    async def request_handoff(self, reason: str) -> bool:
        """Put the call in the human hand-off queue; True only once the hand-off is recorded.

        Default: no consultation backend, so no hand-off (never claimed)."""
        return False

    @property
    def in_crisis(self) -> bool:
        """A crisis flag (self-harm) was raised: the engine keeps the line open for good."""
        return not self.speaker_is_clinician and any(is_crisis(hit) for hit in self.hits)

    def emergency_words(self, new: list[RedFlagHit], handoff: bool) -> list[str]:
        """What every flow says on new red flags: the action script of each new flag (most urgent
        first, once per action), then the truth about the hand-off and what to do now.

        A crisis caller is told that we stay on the line and never to hang up. Anyone else, since a
        hand-off is a queued request that a nurse answers by calling back and no live transfer
        exists, is told to hang up and dial 120 now (DOMAIN.md §1.4: 120 first, "do not queue")."""
        actions = list(dict.fromkeys(hit.action for hit in new))
        say = [self.safety_phrases.say(action, **self.phrases.defaults) for action in actions]
        if self.in_crisis:
            say.append(self.safety_phrases.say("crisis_notified" if handoff else "crisis_unreachable"))
        else:
            say.append(self.safety_phrases.say("nurse_notified" if handoff else "nurse_unreachable"))
            say.append(self.safety_phrases.say("hang_up_dial_120"))
        return say

    # -- the Dialogue contract ---------------------------------------------------------------------
    async def open(self) -> AsyncIterator[Reply]:
        async for reply in self._emit(self.opening()):
            yield reply

    async def handle(self, utterance: str, confidence: Confidence | None = None) -> AsyncIterator[Reply]:
        if self.ended:
            return
        text = utterance.strip()
        self.confidence = confidence if confidence is None or confidence.text == text else confidence.realign(text)
        self._silences = 0
        self.transcript.append(text)
        self.observe(text)
        turn = await self._safety_turn()
        if turn is None:
            turn = await self._crisis_turn(text) if self.in_crisis else await self._route(text)
        elif not self.speaker_is_clinician and _ABUSE.search(text):  # an angry caller in danger: calm first
            turn.say.insert(0, self.phrases.say("abuse"))
        async for reply in self._emit(turn):
            yield reply

    async def handle_silence(self) -> AsyncIterator[Reply]:
        if self.ended:
            return
        self._silences += 1
        if self.in_crisis:
            turn = Turn([self.safety_phrases.say("crisis_silence")], self.state)
        elif self._silences == 1:
            turn = self._reprompt("silence_reprompt")
        else:
            turn = Turn([self.silence_goodbye()], self.state, end_call=True)
        async for reply in self._emit(turn):
            yield reply

    async def human_requested(self) -> AsyncIterator[Reply]:
        """The keypad's 0: the flow's own hand-off (:meth:`request_handoff`), then the truth about it;
        unless a person is on the way, the open question is asked again."""
        if self.ended:
            return
        handoff = await self.request_handoff("keypad")
        if self.in_crisis:
            say = [self.safety_phrases.say("crisis_notified" if handoff else "crisis_unreachable")]
        else:
            say = [self.safety_phrases.say("nurse_notified" if handoff else "nurse_unreachable")]
            question = None if handoff else self.reask()
            say += [question] if question else []
        async for reply in self._emit(Turn(say, self.state)):
            yield reply

    def snapshot(self) -> dict[str, Any]:
        return {"flow": self.flow, **self.meta()}

    # -- machinery ---------------------------------------------------------------------------------
    async def _safety_turn(self) -> Turn | None:
        vitals, person = self.safety_inputs()
        new = self.safety.new_hits(self.transcript, self.hits, vitals, person, self.values_are_red_flags)
        if not new:
            return None
        self.hits = sorted([*self.hits, *new], key=lambda hit: hit.level)  # sticky: never removed
        return await self.on_red_flag(new)

    async def _crisis_turn(self, text: str) -> Turn:
        """Crisis mode: listen, repeat the numbers now and then, queue a human when asked; never end."""
        if wants_human(text):
            handoff = await self.request_handoff("crisis")
            return Turn([self.safety_phrases.say("crisis_notified" if handoff else "crisis_unreachable")],
                        self.state)
        self._crisis_turns += 1
        say = [self.safety_phrases.say("crisis_listen")]
        if self._crisis_turns % 2 == 0:  # the numbers again, but not on every turn of a conversation
            say.append(self.safety_phrases.say("crisis_numbers"))
        return Turn(say, self.state)

    async def _route(self, text: str) -> Turn:
        if self.speaker_is_clinician:
            return await self._dispatch(text)
        if not _CJK_OR_DIGIT.search(text):
            return self._reprompt("garbled")
        if _ABUSE.search(text):
            self._abuse += 1
            if self._abuse >= _MAX_ABUSE:
                return self._abuse_goodbye()
            if len(_ABUSE.sub("", text)) > 4:  # insults around real content: answer the content calmly
                return await self._dispatch(text, prefix=self.phrases.say("abuse"))
            return self._reprompt("abuse")
        return await self._dispatch(text)

    def _abuse_goodbye(self) -> Turn:
        if self.hits:  # a red-flag call never closes without the 120 instruction
            return Turn([self.safety_phrases.say("emergency_goodbye")], self.state, end_call=True)
        return self.on_abuse_limit()

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
        if turn.end_call and self.in_crisis:  # never hang up on a caller in crisis, whatever a flow asks
            turn = Turn([*turn.say, self.safety_phrases.say("crisis_listen")], turn.next_state)
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
