"""Call sessions: per-call options reach the flows, bad options are refused, the LLM is opt-in."""

from __future__ import annotations

import pytest

from agent.session import CallOptions, CallSessions
from backends.interfaces import Principal
from dialogue import UnknownFlowError

DOCTOR = Principal("dr-wang", "doctor", "demo-hospital", "dept-cardiology")


@pytest.mark.parametrize("flow", ["triage", "followup", "dictation"])
def test_every_flow_gets_a_dialogue(engines, records_store, flow):
    sessions = CallSessions(engines, store=records_store)
    options = CallOptions(program="diabetes", patient_id="p1", principal=DOCTOR)
    assert sessions.new_dialogue(flow, "c1", options).flow == flow


def test_dictation_without_a_doctor_is_refused_with_the_reason(engines, records_store):
    with pytest.raises(ValueError, match="pass principal with role 'doctor'"):
        CallSessions(engines, store=records_store).new_dialogue("dictation", "c1", CallOptions(patient_id="p1"))


def test_unknown_flow_names_the_known_ones(engines):
    with pytest.raises(UnknownFlowError, match="triage"):
        CallSessions(engines).new_dialogue("karaoke", "c1")


def test_query_options_are_checked():
    options = CallOptions.from_query({"program": "diabetes", "patient": "p9", "encounter": "e1"})
    assert (options.program, options.patient_id, options.encounter_id) == ("diabetes", "p9", "e1")
    with pytest.raises(ValueError, match="program 'asthma' is not one of hypertension, diabetes"):
        CallOptions.from_query({"program": "asthma"})


def test_a_signed_token_becomes_the_principal(records_store):
    token = records_store.tokens.issue(DOCTOR)
    assert CallOptions.from_query({"token": token}, records_store.tokens).principal == DOCTOR
    with pytest.raises(ValueError, match="token rejected"):
        CallOptions.from_query({"token": token[:-4] + "AAAA"}, records_store.tokens)


def test_llm_is_off_by_default_and_on_with_a_url(engines):
    assert CallSessions(engines).llm is None
    configured = engines.settings.model_copy(update={"llm_base_url": "http://127.0.0.1:9/v1", "llm_timeout_s": 0.5})
    original = engines.settings
    engines.settings = configured
    try:
        sessions = CallSessions(engines)
    finally:
        engines.settings = original
    assert sessions.llm is not None and sessions.llm.settings.timeout_s == 0.5
