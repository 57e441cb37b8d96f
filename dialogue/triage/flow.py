"""The triage-line conversation: greet, listen, check red flags on every turn, ask a few questions,
decide level and department, then offer a booking or a human through the consultation backend.

Safety first: the engine runs every caller utterance (in any state, garbled or abusive ones too)
through the red-flag rules on the whole call so far; :meth:`TriageDialogue.on_red_flag` then switches
to the emergency state, queues a hand-off for a nurse and says "notified" only once it is recorded.
Flags are never lowered afterwards. The LLM, when plugged in, may only re-word questions.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from backends.interfaces import CHINA_STANDARD_TIME, ConsultationBackend, HandoffRequest, Principal, Slot
from dialogue.engine import FlowDialogue, FlowSpec, Phraser, Turn
from dialogue.facts import Vitals
from dialogue.people import Person, read_age_days
from dialogue.phrasebook import Phrasebook
from dialogue.requests import wants_human
from dialogue.safety import RedFlagHit
from dialogue.safety_floor import SafetyFloor, plain
from dialogue.triage.catalogue import DepartmentCatalogue
from dialogue.triage.decision import TriageDecision, decide
from dialogue.triage.discriminators import by_id as discriminator_by_id
from dialogue.triage.slots import (
    TriageSlots,
    complaint,
    is_no,
    is_unknown,
    is_yes,
    read_severity,
)

if TYPE_CHECKING:
    from dialogue.triage.llm import LLMPlugin

logger = logging.getLogger("dialogue")

_WHO = {"self": "您", "child": "孩子", "elder": "老人", "parent": "老人家", "partner": "病人", "other": "病人"}
_ABDOMINAL = {"abdominal_pain", "rlq_pain", "menstrual", "stomach_pain"}
_ANOTHER = re.compile(r"换一个|换个|别的时间|其他时间|下一个")
_QUESTION_ORDER = ("age", "onset", "severity", "pregnancy", "associated")
_DISCRIMINATOR = "discriminator:"  # prefix of a pending discriminator question (see discriminators.json)
_EXTRA_DISCRIMINATOR_QUESTIONS = 1  # a nurse may ask one more when it decides urgency (~3-4 in all)


class TriageDialogue(FlowDialogue):
    """One triage call.

    Args:
        consultation: Booking and hand-off backend; ``None`` = advice only (hand-off is then spoken as
            unavailable, never faked).
        principal: Identity used for bookings and hand-offs (default: the voice-agent service).
        hospital_id: Selects the department catalogue (an alias such as ``"demo"`` resolves to the
            catalogue's own id, which is then used for backend calls).
        patient_id: The caller's Patient id when the pipeline knows it; without it a chosen slot is
            passed to a human to verify identity and book (never booked for an unknown person).
        call_id: Used for the hand-off request and to seed prompt variety.
        llm: Optional LLM plug-in: re-words questions and proposes slots (validated, never lowering urgency).
        safety: The red-flag floor (default: the packaged rules).
    """

    def __init__(
        self,
        *,
        consultation: ConsultationBackend | None = None,
        principal: Principal | None = None,
        hospital_id: str = "demo",
        call_id: str = "call",
        patient_id: str | None = None,
        llm: LLMPlugin | None = None,
        safety: SafetyFloor | None = None,
        catalogue: DepartmentCatalogue | None = None,
    ) -> None:
        spec = FlowSpec.load("triage")
        phraser: Phraser | None = llm.phraser() if llm is not None else None
        super().__init__(spec, Phrasebook.for_flow("triage", seed=call_id), phraser, safety=safety, seed=call_id)
        self.llm = llm
        self.phrases.defaults["who"] = _WHO["self"]
        self.consultation = consultation
        self.catalogue = catalogue or DepartmentCatalogue.load(hospital_id)
        self.hospital_id = self.catalogue.hospital_id
        self.principal = principal or Principal("voice-agent", "service", self.hospital_id, purpose="triage")
        self.call_id = call_id
        self.patient_id = patient_id
        self.slots = TriageSlots()
        self.decision: TriageDecision | None = None
        self.handoff_id: str | None = None
        self.appointment_id: str | None = None
        self._asked: list[str] = []
        self._pending: str | None = None
        self._clarified = 0
        self._suspected: list[str] = []
        """Presentations opened by a detector's suspicion (ask mode): reason enough to start asking."""
        self._offers: list[Slot] = []
        self._unclear_offers = 0

    # -- engine hooks ------------------------------------------------------------------------------
    def opening(self) -> Turn:
        return Turn([self.phrases.say("greeting"), self.phrases.say("ask_complaint")], self.spec.start,
                    rephrase=(1,))

    def reask(self) -> str | None:
        if self.state == "clarify" and self._pending:
            return self._question(self._pending)
        if self.state == "emergency":
            return self.safety_phrases.say(self._emergency_action(), **self.phrases.defaults)
        return super().reask()

    def silence_goodbye(self) -> str:
        if self.hits:  # a red-flag call never closes without the 120 instruction
            return self.safety_phrases.say("emergency_goodbye")
        return super().silence_goodbye()

    def meta(self) -> dict[str, Any]:
        decision = self.decision
        return {
            "state": self.state,
            "level": decision.level if decision else (min(h.level for h in self.hits) if self.hits else None),
            "department": decision.department if decision else None,
            "reason": decision.reason if decision else None,
            "red_flags": [hit.code for hit in self.hits],
            "red_flag_evidence": {hit.code: hit.evidence for hit in self.hits},
            "alert": bool(self.hits),
            "handoff": self.handoff_id,
            "appointment": self.appointment_id,
            "slots": self.slots.as_dict(),
        }

    def observe(self, text: str) -> None:
        """The answer to the pending question, then the slots, before the engine's safety check (in
        simplified characters and ASCII digits, as the lexicons are written: 暈倒 is 晕倒, ３９ is 39)."""
        text = plain(text)
        if self.state == "clarify":
            self._read_answer(self._pending, text)
        self.slots.update(text)
        # A detector's hit that no rule raised (ask mode): ask the discriminators it points at.
        for code in self.safety.suspected(self.transcript, self.hits):
            self._suspected += self.slots.assessment.suspect(code, self.slots.person)
        self.phrases.defaults["who"] = self._who()

    def safety_inputs(self) -> tuple[Vitals | None, Person | None]:
        return self.slots.vitals, self.slots.person

    async def on_red_flag(self, new: list[RedFlagHit]) -> Turn:
        """Emergency: decide (the flag sets the level), queue a nurse, and say only what happened."""
        self.decision = decide(self.slots, self.hits, self.catalogue)
        handoff = await self._request_handoff()
        return Turn(self.emergency_words(new, handoff), "emergency")

    async def request_handoff(self, reason: str) -> bool:
        return await self._request_handoff(intent=reason)

    # -- states ------------------------------------------------------------------------------------
    async def on_complaint(self, text: str) -> Turn:
        await self._merge_llm_proposal(text)
        # A suspicion (ask mode) is asked about at once, not after "能再具体说说吗".
        if not self.slots.complaints and not self.slots.vitals_said and not self._suspected and self._clarified < 2:
            self._clarified += 1
            if self._clarified == 1:
                return Turn([self.phrases.say("clarify_complaint")], "complaint", rephrase=(0,))
            return Turn([self.phrases.say("off_topic"), self.phrases.say("ask_complaint")], "complaint",
                        rephrase=(1,))
        return await self._next_step(ack=True)

    async def on_clarify(self, text: str) -> Turn:
        await self._merge_llm_proposal(text)
        if wants_human(text):
            return await self._handoff_turn("clarify")
        return await self._next_step(ack=False)

    async def on_offer(self, text: str) -> Turn:
        if wants_human(text):
            return await self._handoff_turn("done")
        if is_yes(text) or "预约" in text or "挂号" in text:
            return await self._propose_slot(first=True)
        if is_no(text):
            return Turn([self.phrases.say("goodbye")], "done", end_call=True)
        self._unclear_offers += 1
        if self._unclear_offers >= 2:
            return Turn([self.phrases.say("goodbye")], "done", end_call=True)
        return Turn([self.phrases.say("offer_again")], "offer", rephrase=(0,))

    async def on_choose_slot(self, text: str) -> Turn:
        if wants_human(text):
            return await self._handoff_turn("done")
        if _ANOTHER.search(text):
            return await self._propose_slot(first=False)
        if is_yes(text):
            return await self._book()
        if is_no(text):
            return Turn([self.phrases.say("human_offer"), self.phrases.say("offer_again")], "offer")
        return Turn([self.phrases.say("slot_confirm_again")], "choose_slot")

    async def on_emergency(self, text: str) -> Turn:
        """After the emergency instruction: a human is queued on request, then the call ends with 120."""
        if wants_human(text):
            handoff = await self._request_handoff()
            return Turn([self.safety_phrases.say("nurse_notified" if handoff else "nurse_unreachable"),
                         self.safety_phrases.say("emergency_goodbye")], "done", end_call=True)
        if is_yes(text) or is_no(text) or "好的" in text or "知道了" in text:
            return Turn([self.safety_phrases.say("emergency_goodbye")], "done", end_call=True)
        return Turn([self.safety_phrases.say(self._emergency_action(), **self.phrases.defaults),
                     self.safety_phrases.say("emergency_repeat")], "emergency")

    async def on_done(self, text: str) -> Turn:
        return Turn([self.phrases.say("goodbye")], "done", end_call=True)

    # -- helpers -----------------------------------------------------------------------------------
    async def _merge_llm_proposal(self, text: str) -> None:
        """Let the LLM add what the lexicon missed: complaints, onset, a higher pain score. Never removes,
        never lowers; a proposal less urgent than the rules' level is dropped by the plug-in."""
        if self.llm is None:
            return
        level = decide(self.slots, self.hits, self.catalogue).level
        proposal = await self.llm.extract(text, level)
        if proposal is None:
            return
        known = {c.id for c in self.slots.complaints}
        position = len(self.slots.complaints) + 1000  # after anything the caller said
        self.slots.complaints += [complaint(cid, position) for cid in proposal.complaints if cid not in known]
        if self.slots.onset is None and proposal.onset:
            self.slots.onset = proposal.onset
        if proposal.severity is not None:  # only ever raises; the caller is still asked for a score
            self.slots.severity = max(proposal.severity, self.slots.severity or 0)

    def _emergency_action(self) -> str:
        return self.hits[0].action if self.hits else "call_120"

    def _who(self) -> str:
        return _WHO.get(self.slots.person.relation, "病人")

    def _question(self, slot: str) -> str:
        if slot.startswith(_DISCRIMINATOR):
            question = discriminator_by_id(slot.removeprefix(_DISCRIMINATOR)).question
            return self.phrases.say(question or "ask_associated", who=self._who())
        return self.phrases.say(f"ask_{slot}", who=self._who())

    def _needs(self, slot: str) -> bool:
        person = self.slots.person
        if slot == "age":
            return person.relation != "self" and person.age_days is None and person.age_group in (None, "child")
        if slot == "onset":
            return self.slots.onset is None
        if slot == "severity":
            return self.slots.asks_pain and not self.slots.severity_said
        if slot == "pregnancy":
            return (person.pregnant is None and person.female is not False
                    and person.age_group not in ("infant", "child", "elderly")
                    and person.relation in ("self", "partner")
                    and any(c.id in _ABDOMINAL for c in self.slots.complaints))
        return slot == "associated"

    async def _next_step(self, ack: bool) -> Turn:
        confirmed = self._discriminator_flags()
        if confirmed:  # a discriminator said or answered present raises its red flag (add-only)
            self.hits = sorted([*self.hits, *confirmed], key=lambda hit: hit.level)
            return await self.on_red_flag(confirmed)
        budget = int(self.spec.settings.get("max_questions", 3))
        discriminator = self.slots.assessment.next_question()
        if discriminator is not None and not self.hits and len(self._asked) < budget + _EXTRA_DISCRIMINATOR_QUESTIONS:
            slot = f"{_DISCRIMINATOR}{discriminator.id}"
            self._asked.append(slot)
            self._pending = slot
            say = ([self.phrases.say("ack")] if ack else []) + [self._question(slot)]
            return Turn(say, "clarify", rephrase=(len(say) - 1,))
        floor = self.slots.assessment.floor()
        if floor is not None and floor.nurse:  # an unknown that could mean level 1: a nurse re-asks
            await self._request_handoff(intent="discriminator_unknown")
        already_urgent = decide(self.slots, self.hits, self.catalogue).level <= 2
        if len(self._asked) < budget and not already_urgent:
            for slot in _QUESTION_ORDER:
                if slot not in self._asked and self._needs(slot):
                    self._asked.append(slot)
                    self._pending = slot
                    say = ([self.phrases.say("ack")] if ack else []) + [self._question(slot)]
                    return Turn(say, "clarify", rephrase=(len(say) - 1,))
        self._pending = None
        return self._decision_turn()

    def _discriminator_flags(self) -> list[RedFlagHit]:
        """Red flags of discriminators confirmed present that the rules have not raised, as hits."""
        known = {hit.code for hit in self.hits}
        rules = {rule.code: rule for rule in self.safety.rules.rules}
        hits = []
        for code, level, evidence in self.slots.assessment.flags():
            rule = rules.get(code)
            if code in known or rule is None:
                continue
            hits.append(RedFlagHit(code, rule.name, min(level, rule.level), rule.action, evidence,
                                   "dialogue/triage/data/discriminators.json; " + rule.source))
        return hits

    def _read_answer(self, slot: str | None, text: str) -> None:
        if slot is not None and slot.startswith(_DISCRIMINATOR):
            self.slots.assessment.answer(slot.removeprefix(_DISCRIMINATOR), text, self.slots.person)
        elif slot == "severity":
            self.slots.record_severity(read_severity(text))
        elif slot == "age" and self.slots.person.age_days is None:
            days = read_age_days(text) or read_age_days(f"孩子{text}")
            if days is not None:
                self.slots.person.update(f"孩子{text}" if days < 14 * 365 else text)
                self.slots.person.age_days = days
                self.slots.person.update("")
        elif slot == "pregnancy" and not is_unknown(text):
            if is_yes(text) or "怀" in text and not is_no(text):
                self.slots.person.pregnant = True
            elif is_no(text):
                self.slots.person.pregnant = False

    def _decision_turn(self) -> Turn:
        self.decision = decide(self.slots, self.hits, self.catalogue)
        level, department = self.decision.level, self.decision.department
        say = [self.phrases.say(f"level_{level}", department=department)]
        if level <= 2:
            say.append(self.safety_phrases.say("call_120"))
        else:
            say.append(self.phrases.say("watch_out"))
        say.append(self.phrases.say("offer", department=department))
        return Turn(say, "offer")

    async def _propose_slot(self, first: bool) -> Turn:
        if self.consultation is None:
            return Turn([self.phrases.say("no_backend"), self.phrases.say("goodbye")], "done", end_call=True)
        department = self.decision.department if self.decision else self.catalogue.name("general")
        if first or not self._offers:
            try:
                self._offers = await self.consultation.find_slots(self.hospital_id, department, limit=3)
            except Exception as error:  # unknown department or backend down: say so, offer a human
                logger.warning("slot search failed for call %s: %s", self.call_id, type(error).__name__)
                self._offers = []
        else:
            self._offers = self._offers[1:]
        if not self._offers:
            return Turn([self.phrases.say("no_slots", department=department), self.phrases.say("human_offer"),
                         self.phrases.say("offer_again")], "offer")
        slot = self._offers[0]
        return Turn([self.phrases.say("slot_offer", when=_spoken_time(slot), doctor=slot.doctor,
                                      department=department)], "choose_slot")

    async def _book(self) -> Turn:
        assert self.consultation is not None and self._offers
        slot = self._offers[0]
        if self.patient_id is None:
            if await self._request_handoff(intent="book"):
                return Turn([self.phrases.say("verify_to_book", when=_spoken_time(slot), doctor=slot.doctor)],
                            "done", end_call=True)
            return Turn([self.phrases.say("handoff_failed")], "done", end_call=True)
        try:
            self.appointment_id = await self.consultation.book(self.principal, slot.slot_id, self.patient_id)
        except Exception as error:  # the slot was taken or the backend failed: say so, offer the next
            logger.warning("booking failed for call %s: %s", self.call_id, type(error).__name__)
            self._offers = self._offers[1:]
            return Turn([self.phrases.say("booking_failed"), self.phrases.say("human_offer")], "offer")
        return Turn([self.phrases.say("booked", when=_spoken_time(slot), doctor=slot.doctor),
                     self.phrases.say("goodbye")], "done", end_call=True)

    async def _request_handoff(self, intent: str = "triage") -> bool:
        if self.handoff_id is not None:
            return True
        if self.consultation is None:
            return False
        decision = self.decision or decide(self.slots, self.hits, self.catalogue)
        request = HandoffRequest(
            call_id=self.call_id,
            flow=self.flow,
            summary=f"分诊热线：{decision.reason}",
            level=decision.level,
            red_flags=tuple(hit.code for hit in self.hits),
            patient_id=self.patient_id,
            extra={"intent": intent, "department": decision.department, "slots": self.slots.as_dict(),
                   **({"slot_id": self._offers[0].slot_id} if intent == "book" and self._offers else {})},
        )
        try:
            self.handoff_id = await self.consultation.request_handoff(self.principal, request)
        except Exception as error:  # never let a backend failure hide the emergency instruction
            logger.warning("hand-off request failed for call %s: %s", self.call_id, type(error).__name__)
            return False
        return True

    async def _handoff_turn(self, next_state: str) -> Turn:
        if self.decision is None:
            self.decision = decide(self.slots, self.hits, self.catalogue)
        if await self._request_handoff():
            return Turn([self.phrases.say("handoff_done")], "done", end_call=True)
        return Turn([self.phrases.say("handoff_failed")], "done", end_call=True)


def _spoken_time(slot: Slot) -> str:
    start = slot.start.astimezone(CHINA_STANDARD_TIME) if slot.start.tzinfo else slot.start  # spoken in clinic time
    return f"{start.month}月{start.day}日{start.hour}点" + (f"{start.minute}分" if start.minute else "")
