"""FHIR R4 validation and the few facts the store indexes from a resource.

Resources are validated with the ``fhir.resources`` models (R4B package: R4-compatible for every
resource used here, and it keeps MedicationStatement, renamed in R5). Validation errors become
:class:`InvalidResourceError` with one issue per field, located FHIRPath-style
(``Observation.component[0].valueQuantity.value``).
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.composition import Composition
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError

from backends.interfaces import InvalidResourceError, ResourceIssue

MODELS = {
    model.__name__: model
    for model in (
        Patient,
        Encounter,
        Observation,
        Condition,
        AllergyIntolerance,
        MedicationStatement,
        Composition,
        Appointment,
        Flag,
        QuestionnaireResponse,
    )
}
RESOURCE_TYPES: tuple[str, ...] = tuple(MODELS)

DEPARTMENT_TAG_SYSTEM = "https://medvoice.local/fhir/CodeSystem/department"
"""``meta.tag`` system whose code names the department a resource belongs to."""

BP_PANEL = "85354-9"
BP_SYSTOLIC = "8480-6"
BP_DIASTOLIC = "8462-4"
LOINC = "http://loinc.org"


def _location(resource_type: str, loc: tuple[Any, ...]) -> str:
    path = resource_type
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validate(resource: Any) -> dict[str, Any]:
    """Validate a FHIR JSON object and return its normalised JSON form.

    Raises:
        InvalidResourceError: not an object, unknown or missing ``resourceType``, or field errors.
    """
    if not isinstance(resource, dict):
        raise InvalidResourceError(
            f"a FHIR resource must be a JSON object, got {type(resource).__name__}",
            (ResourceIssue("resourceType", "expected a JSON object with a resourceType"),),
        )
    resource_type = resource.get("resourceType")
    model = MODELS.get(resource_type) if isinstance(resource_type, str) else None
    if model is None or not isinstance(resource_type, str):  # the second test only informs the type checker
        raise InvalidResourceError(
            f"resourceType {resource_type!r} is not supported; use one of {', '.join(RESOURCE_TYPES)}",
            (ResourceIssue("resourceType", f"unsupported resourceType {resource_type!r}"),),
        )
    try:
        parsed = model.model_validate(resource)
    except ValidationError as error:
        issues = tuple(
            ResourceIssue(_location(resource_type, tuple(item["loc"])), item["msg"])
            for item in error.errors()
        )
        raise InvalidResourceError(
            f"{resource_type} failed FHIR R4 validation at {', '.join(i.expression for i in issues)}", issues
        ) from None
    normalised = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    _check_blood_pressure(normalised)
    return normalised


def _codes(concept: dict[str, Any] | None) -> set[str]:
    return {c.get("code", "") for c in (concept or {}).get("coding", []) if c.get("system") == LOINC}


def _check_blood_pressure(resource: dict[str, Any]) -> None:
    """A BP panel (LOINC 85354-9) must carry systolic and diastolic components (vital-signs profile)."""
    if resource["resourceType"] != "Observation" or BP_PANEL not in _codes(resource.get("code")):
        return
    found: set[str] = set()
    for component in resource.get("component", []):
        found |= _codes(component.get("code"))
    missing = [code for code in (BP_SYSTOLIC, BP_DIASTOLIC) if code not in found]
    if missing:
        raise InvalidResourceError(
            f"blood pressure panel {BP_PANEL} lacks component(s) {', '.join(missing)}",
            tuple(ResourceIssue("Observation.component", f"missing LOINC {code}") for code in missing),
        )


def _reference_id(reference: dict[str, Any] | None, resource_type: str) -> str | None:
    value = (reference or {}).get("reference", "")
    prefix = f"{resource_type}/"
    return value[len(prefix) :] if value.startswith(prefix) else None


def patient_of(resource: dict[str, Any]) -> str | None:
    """The id of the Patient a resource is about (None for Patient itself and unlinked resources)."""
    if resource["resourceType"] == "Patient":
        return None
    for field_name in ("subject", "patient"):
        found = _reference_id(resource.get(field_name), "Patient")
        if found:
            return found
    for participant in resource.get("participant", []):
        found = _reference_id(participant.get("actor"), "Patient")
        if found:
            return found
    return None


def department_tag(resource: dict[str, Any]) -> str | None:
    for tag in resource.get("meta", {}).get("tag", []):
        if tag.get("system") == DEPARTMENT_TAG_SYSTEM and tag.get("code"):
            return str(tag["code"])
    return None


def set_department_tag(resource: dict[str, Any], department_id: str | None) -> None:
    meta = resource.setdefault("meta", {})
    tags = [t for t in meta.get("tag", []) if t.get("system") != DEPARTMENT_TAG_SYSTEM]
    if department_id:
        tags.append({"system": DEPARTMENT_TAG_SYSTEM, "code": department_id})
    if tags:
        meta["tag"] = tags
    else:
        meta.pop("tag", None)


def search_tokens(resource: dict[str, Any]) -> set[tuple[str, str]]:
    """``(kind, value)`` pairs to blind-index: identifiers, phone numbers, full names, codes."""
    tokens: set[tuple[str, str]] = set()
    for identifier in resource.get("identifier", []) if isinstance(resource.get("identifier"), list) else []:
        value = identifier.get("value")
        if value:
            tokens.add(("identifier", f"{identifier.get('system', '')}|{value}"))
            tokens.add(("identifier", value))
    for telecom in resource.get("telecom", []):
        if telecom.get("system") == "phone" and telecom.get("value"):
            tokens.add(("phone", normalise_phone(telecom["value"])))
    for name in resource.get("name", []) if resource["resourceType"] == "Patient" else []:
        full = name.get("text") or (name.get("family", "") + "".join(name.get("given", [])))
        if full:
            tokens.add(("name", full.replace(" ", "")))
    for coding in (resource.get("code") or {}).get("coding", []):
        if coding.get("code"):
            tokens.add(("code", f"{coding.get('system', '')}|{coding['code']}"))
            tokens.add(("code", coding["code"]))
    return tokens


def normalise_phone(value: str) -> str:
    """Digits only, without a leading +86, so 138-0013-8000 and +8613800138000 match."""
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def status_of(resource: dict[str, Any]) -> str | None:
    status = resource.get("status")
    return status if isinstance(status, str) else None
