"""Every access rule and every denial, on SQLite and PostgreSQL; each denial is audited."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from backends.embedded import EmbeddedStore
from backends.embedded.schema import audit_log
from backends.interfaces import (
    AccessDeniedError,
    HandoffRequest,
    InvalidResourceError,
    NotFoundError,
    Principal,
    SlotUnavailableError,
)
from evals.records.resources import examples, patient

HOSPITAL = "demo-hospital"
SERVICE = Principal("voice-agent", "service", HOSPITAL)
ADMIN = Principal("admin-1", "hospital_admin", HOSPITAL)
CARDIOLOGIST = Principal("dr-li", "doctor", HOSPITAL, "dept-cardiology")
OTHER_CARDIOLOGIST = Principal("dr-chen", "doctor", HOSPITAL, "dept-cardiology")
CARDIOLOGY_DESK = Principal("nurse-wu", "department", HOSPITAL, "dept-cardiology")
DERMATOLOGIST = Principal("dr-zhou", "doctor", HOSPITAL, "dept-dermatology")
DERMATOLOGY_DESK = Principal("nurse-xu", "department", HOSPITAL, "dept-dermatology")
FOREIGN_ADMIN = Principal("admin-x", "hospital_admin", "other-hospital")
FOREIGN_DOCTOR = Principal("dr-x", "doctor", "other-hospital", "dept-cardiology")
FOREIGN_SERVICE = Principal("voice-agent", "service", "other-hospital")


@pytest.fixture
async def cardiology_case(store: EmbeddedStore) -> dict[str, Any]:
    """A patient booked into cardiology with a note by dr-li and a BP reading: ids by label."""
    person = await store.create(SERVICE, patient())
    slot = (await store.find_slots(HOSPITAL, "心血管内科", limit=1))[0]
    appointment_id = await store.book(SERVICE, slot.slot_id, person["id"])
    note = await store.create(CARDIOLOGIST, examples(person["id"])["composition"])
    bp = await store.create(CARDIOLOGIST, examples(person["id"])["bp"])
    return {"patient": person, "appointment": appointment_id, "note": note, "bp": bp}


def denial_count(store: EmbeddedStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(audit_log.c.outcome == "denied")).scalar_one()


async def assert_denied(store: EmbeddedStore, call: Any, match: str) -> None:
    """The call raises AccessDeniedError naming the rule, and exactly one denial is audited."""
    before = denial_count(store)
    with pytest.raises(AccessDeniedError, match=match):
        await call
    assert denial_count(store) == before + 1


# ---------------------------------------------------------------- what is allowed


async def test_allowed_accesses_along_each_level(
    store: EmbeddedStore, cardiology_case: dict[str, Any]
) -> None:
    patient_id = cardiology_case["patient"]["id"]
    for reader in (CARDIOLOGIST, OTHER_CARDIOLOGIST, CARDIOLOGY_DESK, ADMIN):
        assert (await store.read(reader, "Patient", patient_id))["id"] == patient_id
        assert (await store.read(reader, "Observation", cardiology_case["bp"]["id"]))["id"]
    assert (await store.read(SERVICE, "Patient", patient_id))["id"] == patient_id
    assert (await store.read(SERVICE, "Appointment", cardiology_case["appointment"]))["status"] == "booked"
    assert len(await store.search(CARDIOLOGY_DESK, "Observation", {"patient": patient_id})) == 1
    assert await store.create(CARDIOLOGY_DESK, examples(patient_id)["flag"])
    amended = {**cardiology_case["note"], "status": "final"}
    assert (await store.update(CARDIOLOGIST, amended))["status"] == "final"
    draft = await store.create(SERVICE, examples(patient_id)["composition"])
    assert (await store.update(SERVICE, {**draft, "title": "门诊病历（草稿）"}))[
        "title"
    ] == "门诊病历（草稿）"
    assert denial_count(store) == 0


# ---------------------------------------------------------------- hospital boundary


async def test_no_role_crosses_the_hospital_boundary(
    store: EmbeddedStore, cardiology_case: dict[str, Any]
) -> None:
    patient_id = cardiology_case["patient"]["id"]
    for outsider in (FOREIGN_ADMIN, FOREIGN_DOCTOR, FOREIGN_SERVICE):
        await assert_denied(
            store, store.read(outsider, "Patient", patient_id), "may not access data of hospital"
        )
    await assert_denied(
        store,
        store.read(FOREIGN_DOCTOR, "Observation", cardiology_case["bp"]["id"]),
        "hospital 'demo-hospital'",
    )
    await assert_denied(
        store,
        store.update(FOREIGN_ADMIN, {**cardiology_case["patient"], "gender": "female"}),
        "may not access data of hospital",
    )
    await assert_denied(store, store.cancel(FOREIGN_SERVICE, cardiology_case["appointment"]), "hospital")
    assert await store.search(FOREIGN_ADMIN, "Patient", {"phone": "13800138000"}) == []
    assert await store.search(FOREIGN_DOCTOR, "Observation", {"patient": patient_id}) == []


async def test_foreign_hospital_cannot_book_or_reference_our_records(
    store: EmbeddedStore, cardiology_case: dict[str, Any]
) -> None:
    slot = (await store.find_slots(HOSPITAL, "心血管内科", limit=1))[0]
    foreign_patient = await store.create(FOREIGN_SERVICE, patient(name="外院患者"))
    with pytest.raises(SlotUnavailableError):
        await store.book(FOREIGN_SERVICE, slot.slot_id, foreign_patient["id"])
    with pytest.raises(InvalidResourceError, match="does not exist in this hospital"):
        await store.create(FOREIGN_SERVICE, examples(cardiology_case["patient"]["id"])["encounter"])
    with pytest.raises(NotFoundError):
        await store.book(SERVICE, slot.slot_id, foreign_patient["id"])


async def test_hand_off_queue_is_per_hospital(store: EmbeddedStore) -> None:
    await store.request_handoff(SERVICE, HandoffRequest("call-1", "triage", "胸痛", 2))
    assert await store.handoff_queue(FOREIGN_ADMIN) == []
    assert len(await store.handoff_queue(CARDIOLOGY_DESK)) == 1


# ---------------------------------------------------------------- department and doctor level


async def test_other_department_cannot_read_update_or_write_for_the_patient(
    store: EmbeddedStore, cardiology_case: dict[str, Any]
) -> None:
    patient_id = cardiology_case["patient"]["id"]
    for outsider in (DERMATOLOGIST, DERMATOLOGY_DESK):
        await assert_denied(store, store.read(outsider, "Patient", patient_id), "no care relationship")
        await assert_denied(
            store, store.read(outsider, "Observation", cardiology_case["bp"]["id"]), "no care relationship"
        )
        await assert_denied(
            store, store.read(outsider, "Composition", cardiology_case["note"]["id"]), "no care relationship"
        )
        await assert_denied(
            store,
            store.update(outsider, {**cardiology_case["bp"], "status": "amended"}),
            "no care relationship",
        )
        await assert_denied(
            store,
            store.create(outsider, examples(patient_id)["glucose"]),
            "no care relationship with Patient",
        )
        await assert_denied(
            store, store.cancel(outsider, cardiology_case["appointment"]), "another department"
        )
        assert await store.search(outsider, "Patient", {"phone": "13800138000"}) == []
        assert await store.search(outsider, "Observation", {"patient": patient_id}) == []


async def test_booking_into_a_department_grants_it_access(
    store: EmbeddedStore, cardiology_case: dict[str, Any]
) -> None:
    patient_id = cardiology_case["patient"]["id"]
    slot = (await store.find_slots(HOSPITAL, "皮肤科", limit=1))[0]
    await store.book(SERVICE, slot.slot_id, patient_id)
    assert (await store.read(DERMATOLOGIST, "Patient", patient_id))["id"] == patient_id
    assert (await store.read(DERMATOLOGIST, "Observation", cardiology_case["bp"]["id"]))["id"]


async def test_doctor_amends_only_own_notes(store: EmbeddedStore, cardiology_case: dict[str, Any]) -> None:
    await assert_denied(
        store,
        store.update(OTHER_CARDIOLOGIST, {**cardiology_case["note"], "status": "final"}),
        "may amend only their own notes",
    )


async def test_department_role_does_not_write_notes(
    store: EmbeddedStore, cardiology_case: dict[str, Any]
) -> None:
    patient_id = cardiology_case["patient"]["id"]
    await assert_denied(
        store,
        store.create(CARDIOLOGY_DESK, examples(patient_id)["composition"]),
        "'department' may not create",
    )
    await assert_denied(
        store,
        store.update(CARDIOLOGY_DESK, {**cardiology_case["note"], "title": "x"}),
        "may not update Composition",
    )


# ---------------------------------------------------------------- hospital admin


async def test_admin_reads_but_does_not_write_clinical_data(
    store: EmbeddedStore, cardiology_case: dict[str, Any]
) -> None:
    patient_id = cardiology_case["patient"]["id"]
    for label in ("bp", "condition", "composition", "medication"):
        await assert_denied(
            store, store.create(ADMIN, examples(patient_id)[label]), "'hospital_admin' may not create"
        )
    await assert_denied(
        store,
        store.update(ADMIN, {**cardiology_case["bp"], "status": "amended"}),
        "may not update Observation",
    )


# ---------------------------------------------------------------- service identity (voice agent)


async def test_service_identity_cannot_read_clinical_history(
    store: EmbeddedStore, cardiology_case: dict[str, Any]
) -> None:
    patient_id = cardiology_case["patient"]["id"]
    await assert_denied(
        store, store.read(SERVICE, "Observation", cardiology_case["bp"]["id"]), "may not read"
    )
    await assert_denied(
        store, store.read(SERVICE, "Composition", cardiology_case["note"]["id"]), "may not read"
    )
    for resource_type in (
        "Observation",
        "Condition",
        "AllergyIntolerance",
        "MedicationStatement",
        "Composition",
    ):
        await assert_denied(
            store,
            store.search(SERVICE, resource_type, {"patient": patient_id}),
            f"may not search {resource_type}",
        )


async def test_service_identity_writes_only_what_flows_need(
    store: EmbeddedStore, cardiology_case: dict[str, Any]
) -> None:
    patient_id = cardiology_case["patient"]["id"]
    for label in ("condition", "allergy", "medication"):
        await assert_denied(
            store, store.create(SERVICE, examples(patient_id)[label]), "'service' may not create"
        )
    final_note = {**examples(patient_id)["composition"], "status": "final"}
    await assert_denied(store, store.create(SERVICE, final_note), "only with status 'preliminary'")
    await assert_denied(
        store,
        store.update(SERVICE, {**cardiology_case["patient"], "gender": "female"}),
        "may not update Patient",
    )
    attested = await store.update(CARDIOLOGIST, {**cardiology_case["note"], "status": "final"})
    await assert_denied(store, store.update(SERVICE, {**attested, "title": "改"}), "only draft notes")
    await assert_denied(store, store.handoff_queue(SERVICE), "may not handoff queue")
    await assert_denied(store, store.claim_handoff(SERVICE, "any"), "may not handoff queue")


# ---------------------------------------------------------------- malformed principals


async def test_malformed_principals_are_denied(store: EmbeddedStore, cardiology_case: dict[str, Any]) -> None:
    patient_id = cardiology_case["patient"]["id"]
    await assert_denied(
        store,
        store.read(Principal("x", "superuser", HOSPITAL), "Patient", patient_id),
        "role 'superuser' is unknown",
    )
    await assert_denied(
        store, store.read(Principal("x", "doctor", HOSPITAL), "Patient", patient_id), "needs a department_id"
    )
    await assert_denied(
        store, store.read(Principal("x", "service", ""), "Patient", patient_id), "no hospital_id"
    )
