"""The chronic-care follow-up call (hypertension or type-2 diabetes) on the flow engine.

The programme's question list (data) is asked in order; every value is read back and corrected by
voice; an approximate or implausible value is asked again, never guessed. Every caller turn goes
through the triage safety rules (symptom red flags: 120 instruction, hand-off, end) and the programme's
danger criteria (advice, same-day hand-off, then only what the clinician needs: the key value and
adherence). At the end the visit is classified, the cross-call state machine decides the next step, and
the results are written to the records. Refusal or silence ends politely as ``incomplete``; a hang-up
(:meth:`FollowupDialogue.hangup`) saves what was answered as ``partial``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any

from backends.interfaces import (
    CHINA_STANDARD_TIME,
    ConsultationBackend,
    HandoffRequest,
    Principal,
    RecordsBackend,
)
from dialogue.base import Reply
from dialogue.engine import FlowDialogue, FlowSpec, StateSpec, Turn
from dialogue.facts import read_temperature
from dialogue.followup import answers, confirm, values
from dialogue.followup.classify import (
    Danger,
    bound_dangers,
    classify_visit,
    next_step,
    pregnancy_dangers,
    symptom_dangers,
    value_dangers,
)
from dialogue.followup.program import Program
from dialogue.followup.records import (
    History,
    encounter,
    load_history,
    observations,
    questionnaire_response,
)
from dialogue.phrasebook import Phrasebook
from dialogue.safety import RedFlagHit
from dialogue.safety_floor import SafetyFloor
from medical_terms.blood_pressure import speaks_of_pressure
from medical_terms.confidence import Confidence

logger = logging.getLogger("dialogue")

_VALUE_QUESTIONS = ("blood_pressure", "glucose", "heart_rate", "weight")
_MAX_VALUE_TRIES = 3
_MAX_TRIES = 2
_LABELS = {
    "symptoms": "症状", "adherence": "服药依从性", "missed_doses": "近7天漏服次数", "missed_reasons": "漏服原因",
    "hypoglycemia": "低血糖反应", "side_effects": "药物不良反应", "smoking": "日吸烟量（支）",
    "drinking": "日饮酒量（两）", "exercise_times": "运动（次/周）", "exercise_minutes": "运动（分钟/次）",
    "salt": "摄盐情况", "staple_food": "主食（克/天）", "systolic": "收缩压", "diastolic": "舒张压",
    "glucose": "空腹血糖", "heart_rate": "心率", "weight": "体重", "visit_class": "此次随访分类",
    "action": "处理", "next_due": "下次随访日期", "method": "随访方式",
}


class FollowupDialogue(FlowDialogue):
    """One follow-up call.

    Args:
        program: ``"hypertension"`` or ``"diabetes"``.
        records: Where results and the cross-call state live (``None``: nothing is saved, history empty).
        principal: The care team's identity (department or doctor role): it must read the patient's previous
            follow-up Encounters. The voice agent's service identity may not, so it is refused.
        patient_id: The Patient called (required when ``records`` is given).
        consultation: Hand-off queue for danger criteria and red flags (``None``: advice only).
        call_id: Seeds prompt variety; names the hand-off.
        today: The call date (tests); default: today in China.
        safety: The red-flag floor (default: the packaged triage rules), run by the engine on every turn.
    """

    def __init__(
        self,
        *,
        program: str,
        records: RecordsBackend | None = None,
        principal: Principal | None = None,
        patient_id: str | None = None,
        consultation: ConsultationBackend | None = None,
        call_id: str = "call",
        today: date | None = None,
        safety: SafetyFloor | None = None,
    ) -> None:
        if records is not None and (patient_id is None or principal is None or principal.role == "service"):
            raise ValueError(
                "a follow-up call with records needs patient_id and the care team's principal (role 'department' "
                f"or 'doctor'), got patient_id={patient_id!r}, role={getattr(principal, 'role', None)!r}; the "
                "service identity may not read previous follow-ups"
            )
        super().__init__(_spec(), Phrasebook({**_prompts("common"), **_prompts("followup"), **confirm.prompts()},
                                             seed=call_id), safety=safety, seed=call_id)
        self.program: Program = Program.load(program)
        self.phrases.defaults.update(program=self.program.name,
                                     drug="降压药" if self.program.id == "hypertension" else "降糖药")
        self.phrases.defaults["who"] = "您"
        self.records, self.principal, self.patient_id = records, principal, patient_id
        self.consultation, self.call_id = consultation, call_id
        self.today = today or datetime.now(CHINA_STANDARD_TIME).date()
        self.started = datetime.now(UTC)
        self.history = History()
        self.age: int | None = None
        self.answers: dict[str, Any] = {}
        self.values: dict[str, float] = {}
        self.question: str | None = None
        self.pending: dict[str, float] = {}
        self.tries = 0
        self.dangers: list[Danger] = []
        self.handoff_id: str | None = None
        self.outcome: str | None = None
        self.result: dict[str, Any] = {}
        self.saved: dict[str, Any] | None = None
        self._asked: list[str] = []
        # Read-back denials and digit-by-digit re-asks (dialogue.followup.confirm).
        self.readback_denials = 0
        self.digit_retry: confirm.DigitRetry | None = None
        self.final_check: confirm.FinalCheck | None = None
        self.unconfirmed: dict[str, float] = {}
        """Values recorded without a read-back (danger mode, the recogniser sure of them)."""
        self.partial: dict[str, float] = {}
        """One half of a blood pressure said in an earlier answer, waiting for the other."""
        self.bounds: dict[str, tuple[float, float]] = {}
        """Values known only approximately (一百八十几, 快两百, HI) or volunteered unasked: danger criteria only,
        never recorded."""
        self.unresolved: set[str] = set()
        """Values asked for and left unknown while their bounds straddle a danger threshold."""
        self._final_asked: set[str] = set()

    # -- engine hooks ------------------------------------------------------------------------------
    def opening(self) -> Turn:
        self.question = self.program.questions[0]
        self._asked.append(self.question)
        return Turn([self.phrases.say("greeting"), self._ask(self.question)], "ask")

    def reask(self) -> str | None:
        again = confirm.reask(self)
        if again is not None:
            return again
        if self.state == "confirm":
            return self._readback()
        return self._ask(self.question) if self.question and self.state in ("ask", "final") else None

    def meta(self) -> dict[str, Any]:
        return {
            "state": self.state, "program": self.program.id, "question": self.question,
            "values": dict(self.values), "adherence": self.answers.get("adherence"),
            "answers": dict(self.answers), "alert": bool(self.hits or self.dangers),
            "dangers": [d.code for d in self.dangers], "red_flags": [h.code for h in self.hits],
            "handoff": self.handoff_id, "outcome": self.outcome, "unconfirmed": sorted(self.unconfirmed),
            "digits": self.expects_digits(), **self.result,
        }

    def expects_digits(self) -> bool:
        """The open question asks for a value digit by digit (the decoder writes digits only; a phone
        line may take the keypad)."""
        return self.state == "ask" and self.digit_retry is not None

    def asr_hints(self) -> str | None:
        """The open question's expected answer words (a read-back expects 对 / 不对)."""
        key = "confirm" if self.state == "confirm" or self.final_check is not None else self.question
        words = _answer_hints().get(key or "")
        return " ".join(words) if words else None

    # -- the Dialogue contract, with saving before the last sentence --------------------------------
    async def open(self) -> AsyncIterator[Reply]:
        await self._load_context()
        async for reply in super().open():
            yield reply

    async def handle(self, utterance: str, confidence: Confidence | None = None) -> AsyncIterator[Reply]:
        async for reply in self._saving(super().handle(utterance, confidence)):
            yield reply

    async def handle_silence(self) -> AsyncIterator[Reply]:
        async for reply in self._saving(super().handle_silence()):
            yield reply

    async def hangup(self) -> None:
        """The patient hung up: save what was answered as ``partial`` (nothing answered: ``incomplete``).

        A danger said in a turn the flow had not yet acted on (the patient hung up first) still raises
        the alert and queues the same-day hand-off."""
        if not self.ended and self.saved is None:
            self.ended = True
            dangers = self._new_dangers()
            if dangers:
                self.dangers += dangers
                await self._handoff(f"{self.program.name}随访危险指标：" + "、".join(d.name for d in self.dangers))
            await self._finish("partial" if self.values or self.answers else "incomplete")

    def observe(self, text: str) -> None:
        """Who answers (a relative for the patient: later questions say 她/他), and a reading volunteered
        while another question is open ("就是昨天在药店量了个血压，高压一百八十五，
        低压一百一十二", "心跳一百二", "血压一百九十多"): a named reading, exact or rough, counts for the danger
        criteria (it is not recorded: its own question reads it back); one told of long ago does not."""
        if self.phrases.defaults.get("who") == "您":  # a relative answering: the questions name the patient
            self.phrases.defaults["who"] = answers.answering_for(text) or "您"
        if self.state not in ("ask", "final") or self.question in _VALUE_QUESTIONS or _LONG_AGO.search(text):
            return
        plain = values.strip_units(text)
        readings = []
        if speaks_of_pressure(text):
            readings.append(values.read_blood_pressure(plain, self.program.ranges))
        if "血糖" in text:
            readings.append(values.read_glucose(plain, self.program.ranges["glucose"]))
        if _HEART_WORDS.search(text):
            readings.append(values.read_heart_rate(plain, self.program.ranges["heart_rate"]))
        for reading in readings:  # exact, or only roughly known (血压一百九十多): bounds either way
            heard = {name: (value, value) for name, value in reading.values.items()} if reading.ok else reading.bounds
            for name, bound in heard.items():
                self.bounds.setdefault(name, bound)

    # -- states ------------------------------------------------------------------------------------
    async def on_ask(self, text: str) -> Turn:
        early = self._refusal(text)
        if early:
            return early
        question = self.question or ""
        if self.digit_retry is not None:
            return await confirm.on_digits(self, text)
        if question in _VALUE_QUESTIONS:
            return await self._value_answer(question, text)
        value = _READERS[question](self, text)
        if value is None and question != "wellbeing" and self.tries + 1 < _MAX_TRIES:
            self.tries += 1
            return Turn([self.phrases.say("reask_unclear"), self._ask(question)], "ask")
        self._store(question, value, text)
        return await self._advance()

    async def on_confirm(self, text: str) -> Turn:
        early = self._refusal(text)
        if early:
            return early
        question = self.question or ""
        reading = _read_value(self.program, question, text)
        if answers.is_yes(text) and (not reading.ok or reading.values == self.pending):  # 对，一百八十五，一百一
            self.values.update(self.pending)
            self.pending = {}
            self.digit_retry, self.readback_denials = None, 0
            return await self._advance()
        if confirm.denied(text):
            said = reading.values if reading.ok else (
                values.read_blood_pressure_part(text, self.program.ranges) if question == "blood_pressure" else {})
            retry = await confirm.on_denied_readback(self, text, said)
            if retry is not None:
                return retry
        if reading.ok:  # a corrected value, with or without "不对"
            if reading.values == self.pending and answers.is_no(text):  # denied, then the same words again
                self.tries += 1
                if self.tries >= _MAX_VALUE_TRIES:
                    self.pending = {}
                    return await self._advance(prefix=[self.phrases.say("value_unknown")])
            self.pending = reading.values
            return Turn([self._readback()], "confirm")
        part = values.read_blood_pressure_part(text, self.program.ranges) if question == "blood_pressure" else {}
        if part:
            self.pending = {**self.pending, **part}
            return Turn([self._readback()], "confirm")
        if answers.is_no(text):
            self.pending = {}
            return Turn([self.phrases.say("reask_unclear"), self._ask(question)], "ask")
        self.tries += 1
        if self.tries >= _MAX_VALUE_TRIES:
            self.pending = {}
            return await self._advance(prefix=[self.phrases.say("value_unknown")])
        return Turn([self.phrases.say("reask_confirm"), self._readback()], "confirm")

    async def on_final(self, text: str) -> Turn:
        """Danger mode: only the clinician's questions (key value, adherence), then end."""
        early = self._refusal(text)
        if early:
            return early
        question = self.question or ""
        if question in _VALUE_QUESTIONS:
            reading = _read_value(self.program, question, text)
            if question == "blood_pressure" and self.partial and not reading.ok:  # the half still missing
                reading = values.complete_blood_pressure(self.partial, values.strip_units(text), self.program.ranges)
            # No read-back (the clinician calls back today), unless the recogniser was unsure; a reading the
            # words allow two ways is never stored unconfirmed; a rough one counts for the danger criteria only.
            self.bounds.update(reading.bounds)
            readback = confirm.on_final_value(self, text, reading.values if reading.ok and not reading.alternatives else None)
            if readback is not None:
                return Turn([readback], "final")
        else:
            self._store(question, _READERS[question](self, text), text)
        self.dangers += self._new_dangers()
        return await self._danger_next()

    async def on_done(self, text: str) -> Turn:
        return Turn([self.phrases.say("goodbye")], "done", end_call=True)

    # -- helpers -----------------------------------------------------------------------------------
    async def _load_context(self) -> None:
        if self.records is None or self.principal is None or self.patient_id is None:
            return
        self.history = await load_history(self.records, self.principal, self.patient_id, self.program.id)
        patient = await self.records.read(self.principal, "Patient", self.patient_id)
        born = patient.get("birthDate")
        if born and len(born) >= 4:
            self.age = self.today.year - int(born[:4])

    async def _saving(self, replies: AsyncIterator[Reply]) -> AsyncIterator[Reply]:
        async for reply in replies:
            if reply.end_call and self.saved is None:
                await self._finish(self.outcome or "incomplete")
                reply = Reply(reply.text, end_call=True, meta=self.meta())
            yield reply

    values_are_red_flags = False

    async def on_red_flag(self, new: list[RedFlagHit]) -> Turn:
        """A red flag ends the survey: queue a clinician, give the 120 (or crisis) words; a physical
        emergency ends the call after the 120 instruction, a crisis call stays open."""
        self._keep_answer()
        handoff = await self.request_handoff(f"{self.program.name}随访：红旗症状 " + "、".join(h.name for h in self.hits))
        self.outcome = "partial"
        say = self.emergency_words(new, handoff)
        if self.in_crisis:
            return Turn(say, self.state)
        return Turn(say, "done", end_call=True)

    def _keep_answer(self) -> None:
        """The turn that raised a red flag also answered the open question ("格列美脲每天吃" after the
        hypoglycaemia signs): keep the answer for the clinician; a value only as danger mode keeps it
        (said once, exact, one reading)."""
        question = self.question or ""
        if self.state not in ("ask", "final") or not self.transcript:
            return
        text = self.transcript[-1]
        if question in _VALUE_QUESTIONS:
            reading = _read_value(self.program, question, text)
            if self.state == "final" and reading.ok and not reading.alternatives:
                self.values.update(reading.values)
            self.bounds.update(reading.bounds)
        elif question in _READERS:
            self._store(question, _READERS[question](self, text), text)

    async def request_handoff(self, reason: str) -> bool:
        await self._handoff(reason)
        return self.handoff_id is not None

    def _refusal(self, text: str) -> Turn | None:
        """The patient does not want the call: end politely as ``incomplete``."""
        if answers.is_refusal(text):
            self.outcome = "incomplete"
            return Turn([self.phrases.say("refusal_goodbye")], "done", end_call=True)
        return None

    def _new_dangers(self) -> list[Danger]:
        """Danger criteria met so far (confirmed values, symptoms in the whole call) not yet acted on."""
        known = {d.code for d in self.dangers}
        transcript = "。".join(self.transcript)
        temperature = read_temperature(transcript)
        measured = {**self.values, **({"temperature": temperature} if temperature is not None else {})}
        approximate = {name: bound for name, bound in self.bounds.items() if name not in self.values}
        found = (value_dangers(self.program, measured) + bound_dangers(self.program, approximate, self.unresolved)
                 + pregnancy_dangers(self.program, self.values, transcript) + symptom_dangers(self.program, transcript))
        return [d for d in dict((d.code, d) for d in found).values() if d.code not in known]

    async def _danger(self, dangers: list[Danger]) -> Turn:
        self.dangers += dangers
        advice = []
        for key in dict.fromkeys(d.advice for d in dangers):
            advice.append(self.program.advice[key])
        summary = f"{self.program.name}随访危险指标：" + "、".join(d.name for d in self.dangers)
        await self._handoff(summary)
        say = [*advice, self.phrases.say("handoff_urgent" if self.handoff_id else "handoff_unavailable")]
        turn = await self._danger_next()
        return Turn([*say, *turn.say], turn.next_state, end_call=turn.end_call)

    async def _danger_next(self) -> Turn:
        for question in (self.program.measurement, "adherence"):
            again = question == self.question and question not in _VALUE_QUESTIONS  # just answered, unreadable
            if question not in self.answers and not _has_value(self, question) and not again \
                    and question not in self._final_asked:
                self._final_asked.add(question)
                self.question = question
                return Turn([self.phrases.say("last_question"), self._ask(question)], "final")
        self.outcome = "completed"
        return Turn([self.phrases.say("done_urgent")], "done", end_call=True)

    async def _value_answer(self, question: str, text: str) -> Turn:
        reading = _read_value(self.program, question, text)
        if question == "blood_pressure" and self.partial and not reading.ok:
            reading = values.complete_blood_pressure(self.partial, values.strip_units(text), self.program.ranges)
        if reading.ok:
            self.pending = reading.values
            self.partial = {}
            self.tries = 0
            return Turn([self._readback()], "confirm")
        heard = dict(reading.bounds)
        if reading.status == "incomplete" and reading.values:
            self.partial.update(reading.values)
            heard.update({name: (value, value) for name, value in reading.values.items()})  # 高压一百九十五 alone
        self.bounds.update(heard)
        if heard and bound_dangers(self.program, heard, set()):  # 一百八十几, or one half past 180: already
            return await self._advance()
        if answers.says_none(text) or "不知道" in text or "没量" in text or "没测" in text or "忘了" in text:
            return await self._value_unknown(question)
        digits = confirm.on_unreadable_value(self, question, reading.status, text)
        if digits is not None:
            return digits
        self.tries += 1
        if self.tries >= _MAX_VALUE_TRIES:
            return await self._value_unknown(question)
        key = {"approximate": "reask_value_ambiguous", "ambiguous": "reask_value_which",
               "out_of_range": "reask_value_out_of_range",
               "incomplete": "reask_value_incomplete", "unit": "reask_value_unit"}.get(reading.status, "reask_unclear")
        return Turn([self.phrases.say(key), self._ask(question)], "ask")

    async def _value_unknown(self, question: str) -> Turn:
        """The value stays empty; one heard only approximately still counts for the danger criteria when it
        may meet one (快一百八了, left at that)."""
        self.partial = {}
        self.unresolved |= {name for name in self.bounds if name not in self.values}
        return await self._advance(prefix=[self.phrases.say("value_unknown")])

    def _readback(self) -> str:
        fields = {name: values.spoken(value) for name, value in self.pending.items()}
        return self.phrases.say(f"readback_{self.question}", **fields)

    def _ask(self, question: str | None) -> str:
        if question == "symptoms":
            return self.phrases.say(f"ask_symptoms_{self.program.id}")
        if question == "missed_doses" and self.answers.get("adherence") == "不服药":
            return self.phrases.say("ask_stop_reason")
        return self.phrases.say(f"ask_{question}")

    def _store(self, question: str, value: Any, text: str) -> None:
        if question == "wellbeing":
            found = answers.read_symptoms(text, list(self.program.symptoms))
            if found and found != ["1"]:
                self.answers["symptoms_mentioned"] = found
            return
        if value is None:
            return
        if question == "exercise":
            self.answers["exercise_times"], self.answers["exercise_minutes"] = value
            return
        if question == "symptoms":
            value = sorted(set(value) | set(self.answers.get("symptoms_mentioned", [])) - ({"1"} if len(value) > 1 else set()))
        self.answers[question] = value
        if question in ("adherence", "missed_doses"):
            reasons = answers.read_reasons(text)
            if reasons:
                self.answers["missed_reasons"] = sorted(set(self.answers.get("missed_reasons", [])) | set(reasons))

    def _skip(self, question: str) -> bool:
        if question in self.answers or _has_value(self, question):
            return True
        if question == "missed_doses":
            adherence = self.answers.get("adherence")
            return adherence in (None, "规律") or (adherence == "不服药" and "missed_reasons" in self.answers)
        if question == "exercise":
            return "exercise_times" in self.answers
        return False

    async def _advance(self, prefix: list[str] | None = None) -> Turn:
        self.tries = 0
        dangers = self._new_dangers()
        if dangers:
            return await self._danger(dangers)
        for question in self.program.questions:
            if not self._skip(question) and question not in self._asked:
                self.question = question
                self._asked.append(question)
                return Turn([*(prefix or [self.phrases.say("ack")]), self._ask(question)], "ask")
        self.outcome = "completed"
        self._classify()
        return Turn([*(prefix or []), self.phrases.say(_CLOSING[self.result["action"]])], "done", end_call=True)

    def _classify(self) -> None:
        visit_class = classify_visit(self.program, self.values, self.answers.get("symptoms", []),
                                     self.answers.get("side_effects"), self.answers.get("hypoglycemia"), self.age)
        urgent = bool(self.dangers or self.hits)
        decision = next_step(visit_class, self.history.streak, self.history.previous_class, urgent, self.today)
        self.result = {"visit_class": visit_class, "action": decision.action, "streak": decision.streak,
                       "next_due": decision.next_due.isoformat()}

    async def _handoff(self, summary: str) -> None:
        if self.handoff_id is not None or self.consultation is None or self.principal is None:
            return
        request = HandoffRequest(
            call_id=self.call_id, flow="followup", summary=summary, level=2 if self.hits else None,
            red_flags=tuple([h.code for h in self.hits] + [d.code for d in self.dangers]),
            patient_id=self.patient_id,
            extra={"program": self.program.id, "same_day": True, "values": dict(self.values)},
        )
        try:
            self.handoff_id = await self.consultation.request_handoff(self.principal, request)
        except Exception as error:  # never let a backend failure hide the advice
            logger.warning("follow-up hand-off failed for call %s: %s", self.call_id, type(error).__name__)

    async def _finish(self, outcome: str) -> None:
        """Classify (complete calls) and write Encounter, Observations and QuestionnaireResponse."""
        self.outcome = outcome
        if not self.result:
            self._classify()
            if outcome != "completed":  # an unfinished call does not move the state machine
                decision = next_step(None, 0, None, bool(self.dangers or self.hits), self.today)
                self.result.update(visit_class=None, action=decision.action, streak=self.history.streak,
                                   next_due=decision.next_due.isoformat())
        self.saved = {}
        if self.records is None or self.principal is None or self.patient_id is None:
            return
        ended = datetime.now(UTC)
        result = {**self.result, "outcome": outcome, "alert": bool(self.hits or self.dangers)}
        try:
            enc = await self.records.create(self.principal, encounter(self.patient_id, self.program.id,
                                                                      self.started, ended, result))
            obs = [await self.records.create(self.principal, o)
                   for o in observations(self.patient_id, enc["id"], ended, self.values)]
            qr = await self.records.create(self.principal, questionnaire_response(
                self.patient_id, enc["id"], self.program.questionnaire, ended, outcome == "completed",
                self._form_items()))
        except Exception as error:  # the call has ended either way; the care team sees the failure in the log
            logger.warning("saving follow-up call %s failed: %s", self.call_id, type(error).__name__)
            self.result["save_error"] = type(error).__name__
            return
        self.saved = {"encounter": enc["id"], "observations": [o["id"] for o in obs], "questionnaire_response": qr["id"]}
        self.result["saved"] = self.saved

    def _form_items(self) -> list[tuple[str, str, Any]]:
        items: list[tuple[str, str, Any]] = [("method", _LABELS["method"], "3 电话")]
        for name, value in {**self.values, **self.answers}.items():
            if name in _LABELS and value not in (None, [], ""):
                if name == "symptoms":
                    value = [f"{c} {_symptom_text(self.program, c)}" for c in value]
                elif name == "side_effects":
                    value = "有" if value else "无"
                items.append((name, _LABELS[name], value))
        for name in ("visit_class", "action", "next_due"):
            if self.result.get(name):
                items.append((name, _LABELS[name], self.result[name]))
        if self.dangers or self.hits:
            items.append(("alerts", "危险指标", [d.name for d in self.dangers] + [h.name for h in self.hits]))
        return items


_HEART_WORDS = re.compile(r"心跳|心率|脉搏|脉率")
_LONG_AGO = re.compile(r"以前|之前|去年|前年|年轻|那时候|过去|好几年|原来|刚查出来|早些年")

_CLOSING = {"routine": "done_routine", "recall_2w": "done_recall", "referral": "done_referral",
            "urgent_referral": "done_urgent", "measure_and_recall": "done_unknown"}


def _symptom_text(program: Program, code: str) -> str:
    return next((s["text"] for s in program.symptoms if s["code"] == code), "其他")


def _has_value(dialogue: FollowupDialogue, question: str) -> bool:
    names = {"blood_pressure": ("systolic",), "glucose": ("glucose",), "heart_rate": ("heart_rate",),
             "weight": ("weight",)}.get(question)
    return names is not None and all(n in dialogue.values for n in names)


def _read_value(program: Program, question: str, text: str) -> values.Reading:
    if question == "weight":  # its unit decides kg or 斤
        return values.read_weight(text, program.ranges["weight"])
    text = values.strip_units(text)
    if question == "blood_pressure":
        return values.read_blood_pressure(text, program.ranges)
    if question == "glucose":
        return values.read_glucose(text, program.ranges["glucose"])
    return values.read_heart_rate(text, program.ranges["heart_rate"])


def _missed(dialogue: FollowupDialogue, text: str) -> int | str | None:
    """Doses missed in the last week (间断), or "全部" for a patient not taking them (不服药) once a reason
    is given; ``None`` when the answer says neither count nor reason."""
    reasons = answers.read_reasons(text)
    if dialogue.answers.get("adherence") == "不服药":
        return "全部" if reasons else None
    count = answers.read_missed_doses(text)
    return count if count is not None else ("未说明" if reasons else None)


_READERS: dict[str, Callable[[FollowupDialogue, str], Any]] = {
    "wellbeing": lambda d, t: True,
    "adherence": lambda d, t: answers.read_adherence(t),
    "missed_doses": lambda d, t: _missed(d, t),
    "symptoms": lambda d, t: answers.read_symptoms(t, list(d.program.symptoms)),
    "hypoglycemia": lambda d, t: answers.read_hypoglycemia(t),
    "side_effects": lambda d, t: answers.read_side_effects(t),
    "smoking": lambda d, t: answers.read_cigarettes(t),
    "drinking": lambda d, t: answers.read_alcohol(t),
    "exercise": lambda d, t: answers.read_exercise(t),
    "salt": lambda d, t: answers.read_salt(t),
    "staple_food": lambda d, t: answers.read_staple_grams(t),
}


def _spec() -> FlowSpec:
    states = {
        "ask": StateSpec("ask", None, (), ("ask", "confirm", "final", "done")),
        "confirm": StateSpec("confirm", None, (), ("ask", "confirm", "final", "done")),
        "final": StateSpec("final", None, (), ("final", "done")),
        "done": StateSpec("done", None, (), ("done",)),
    }
    return FlowSpec("followup", "ask", states)


@cache
def _prompts(name: str) -> dict[str, list[str]]:
    if name == "common":
        return _data_file("dialogue.data.prompts", "common.json")
    return _data_file("dialogue.followup.data", "prompts.json")


@cache
def _answer_hints() -> dict[str, list[str]]:
    return _data_file("dialogue.followup.data", "answer_hints.json")


def _data_file(package: str, filename: str) -> dict[str, list[str]]:
    """A packaged JSON map without its ``_source``-style notes."""
    data = json.loads(resources.files(package).joinpath(filename).read_text("utf-8"))
    return {key: value for key, value in data.items() if not key.startswith("_")}
