"""FHIR records operations of the embedded store: read, create, update and search (blocking; run on a thread)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from backends import access, fhir
from backends.embedded.audit import AuditEntry, append
from backends.embedded.core import Outcome, StoreCore, new_id, now_utc
from backends.embedded.schema import care_links, resource_tokens, resources
from backends.interfaces import (
    AccessDeniedError,
    InvalidResourceError,
    Principal,
    ResourceIssue,
    VersionConflictError,
)

SEARCH_PARAMS = {
    "identifier": "identifier",
    "phone": "phone",
    "telecom": "phone",
    "name": "name",
    "code": "code",
}
"""Search parameter -> blind-index kind. ``patient``/``subject`` filter on the plain patient id."""
PATIENT_PARAMS = ("patient", "subject")
MAX_SEARCH_RESULTS = 100


class RecordsOperations(StoreCore):
    """Records half of the store; every method is one audited transaction."""

    def _read_sync(self, principal: Principal, resource_type: str, resource_id: str) -> dict[str, Any]:
        def work(conn: sa.Connection) -> dict[str, Any]:
            access.check_type(principal, "read", resource_type)
            row = self._resource_row(conn, resource_type, resource_id)
            access.check_row(principal, "read", resource_type, self._scope(conn, row))
            return self._decode(row)

        return self._run(principal, Outcome("read", f"{resource_type}/{resource_id}"), work)

    def _create_sync(self, principal: Principal, resource: dict[str, Any]) -> dict[str, Any]:
        validated = fhir.validate(resource)
        resource_type = validated["resourceType"]
        resource_id = new_id()

        def work(conn: sa.Connection) -> dict[str, Any]:
            access.check_type(principal, "create", resource_type)
            access.check_new_status(principal, resource_type, fhir.status_of(validated))
            department_id = self._department_for(conn, principal, validated)
            patient_id = fhir.patient_of(validated)
            if patient_id:
                self._check_patient_reference(conn, principal, resource_type, patient_id)
            now = now_utc()
            validated["id"] = resource_id
            fhir.set_department_tag(validated, department_id)
            validated.setdefault("meta", {}).update(versionId="1", lastUpdated=now.isoformat())
            values = {
                "id": resource_id,
                "resource_type": resource_type,
                "hospital_id": principal.hospital_id,
                "department_id": department_id,
                "patient_id": patient_id,
                "author": principal.subject,
                "version": 1,
                "last_updated": now,
            }
            self._write_row(conn, values, validated, insert=True)
            if department_id:
                self._link(conn, principal.hospital_id, patient_id or resource_id, department_id)
            return validated

        return self._run(principal, Outcome("create", f"{resource_type}/{resource_id}"), work)

    def _department_for(
        self, conn: sa.Connection, principal: Principal, resource: dict[str, Any]
    ) -> str | None:
        """Department and doctor users write into their own department; others may tag one."""
        if principal.role in ("department", "doctor"):
            return principal.department_id
        tagged = fhir.department_tag(resource)
        if tagged and not self._department_exists(conn, principal.hospital_id, tagged):
            raise InvalidResourceError(
                f"meta.tag names department {tagged!r}, which hospital {principal.hospital_id!r} does not have",
                (ResourceIssue(f"{resource['resourceType']}.meta.tag", f"unknown department {tagged!r}"),),
            )
        return tagged

    def _check_patient_reference(
        self, conn: sa.Connection, principal: Principal, resource_type: str, patient_id: str
    ) -> None:
        row = conn.execute(
            sa.select(resources).where(resources.c.id == patient_id, resources.c.resource_type == "Patient")
        ).first()
        if row is None or row.hospital_id != principal.hospital_id:
            raise InvalidResourceError(
                f"{resource_type} refers to Patient/{patient_id}, which does not exist in this hospital",
                (ResourceIssue(f"{resource_type}.subject", f"unknown Patient/{patient_id}"),),
            )
        if not access.in_scope(principal, self._scope(conn, row)):
            raise AccessDeniedError(
                f"department {principal.department_id!r} has no care relationship with Patient/{patient_id}; "
                "book or route the patient to this department first"
            )

    def _update_sync(
        self, principal: Principal, resource: dict[str, Any], expected_version: int | None = None
    ) -> dict[str, Any]:
        validated = fhir.validate(resource)
        resource_type = validated["resourceType"]
        resource_id = validated.get("id")
        if not resource_id:
            raise InvalidResourceError(
                f"an update needs the {resource_type}'s id",
                (ResourceIssue(f"{resource_type}.id", "missing id"),),
            )

        def work(conn: sa.Connection) -> dict[str, Any]:
            access.check_type(principal, "update", resource_type)
            row = self._resource_row(conn, resource_type, resource_id)
            current = self._decode(row)
            access.check_row(principal, "update", resource_type, self._scope(conn, row, current))
            access.check_new_status(principal, resource_type, fhir.status_of(validated))
            if expected_version is not None and row.version != expected_version:
                raise VersionConflictError(
                    f"{resource_type}/{resource_id} is at version {row.version}, not {expected_version}: "
                    "someone saved it since you opened it; reload and apply your change again"
                )
            if fhir.patient_of(validated) != row.patient_id:
                raise InvalidResourceError(
                    f"an update may not move {resource_type}/{resource_id} to another patient",
                    (ResourceIssue(f"{resource_type}.subject", f"must stay Patient/{row.patient_id}"),),
                )
            now = now_utc()
            version = row.version + 1
            fhir.set_department_tag(validated, row.department_id)
            validated.setdefault("meta", {}).update(versionId=str(version), lastUpdated=now.isoformat())
            values = {
                "id": row.id,
                "resource_type": resource_type,
                "hospital_id": row.hospital_id,
                "department_id": row.department_id,
                "patient_id": row.patient_id,
                "author": row.author,
                "version": version,
                "last_updated": now,
            }
            self._write_row(conn, values, validated, insert=False)
            return validated

        return self._run(principal, Outcome("update", f"{resource_type}/{resource_id}"), work)

    def _list_recent_sync(
        self, principal: Principal, resource_type: str, limit: int, offset: int = 0, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The ``limit`` most recently updated resources of a type that the principal may see (rules 1-3),
        newest first, updated at or after ``since`` if given; each one returned is audited as a search hit."""
        if resource_type not in fhir.RESOURCE_TYPES:
            raise InvalidResourceError(
                f"resourceType {resource_type!r} is not supported; use one of {', '.join(fhir.RESOURCE_TYPES)}",
                (ResourceIssue("resourceType", f"unsupported {resource_type!r}"),),
            )

        def work(conn: sa.Connection) -> list[dict[str, Any]]:
            access.check_type(principal, "search", resource_type)
            query = sa.select(resources).where(
                resources.c.resource_type == resource_type, resources.c.hospital_id == principal.hospital_id
            )
            if since is not None:
                query = query.where(resources.c.last_updated >= since)
            if principal.role not in access.HOSPITAL_WIDE_ROLES:
                # rule 3 in SQL first (own department's rows or patients linked to it), then exactly below
                linked = sa.select(care_links.c.patient_id).where(
                    care_links.c.department_id == principal.department_id
                )
                query = query.where(
                    sa.or_(
                        resources.c.department_id == principal.department_id,
                        resources.c.patient_id.in_(linked),
                        resources.c.id.in_(linked),
                    )
                )
            rows = conn.execute(
                query.order_by(resources.c.last_updated.desc(), resources.c.id).offset(offset).limit(limit)
            ).all()
            found = []
            for row in rows:
                if access.in_scope(principal, self._scope(conn, row)):
                    found.append(self._decode(row))
                    append(conn, AuditEntry.of(principal, "search", f"{resource_type}/{row.id}"))
            return found

        return self._run(principal, Outcome("search", f"{resource_type}?_sort=-_lastUpdated"), work)

    def _search_sync(
        self, principal: Principal, resource_type: str, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        unknown = [p for p in params if p not in SEARCH_PARAMS and p not in PATIENT_PARAMS]
        if resource_type not in fhir.RESOURCE_TYPES:
            raise InvalidResourceError(
                f"resourceType {resource_type!r} is not supported; use one of {', '.join(fhir.RESOURCE_TYPES)}",
                (ResourceIssue("resourceType", f"unsupported {resource_type!r}"),),
            )
        if unknown or not params:
            supported = ", ".join([*SEARCH_PARAMS, *PATIENT_PARAMS])
            raise InvalidResourceError(
                f"search parameters {unknown or '(none)'} are not supported; use at least one of {supported}",
                tuple(ResourceIssue(p, "unsupported search parameter") for p in unknown or ["(none)"]),
            )
        target = f"{resource_type}?{','.join(sorted(params))}"
        returned: list[str] = []

        def work(conn: sa.Connection) -> list[dict[str, Any]]:
            access.check_type(principal, "search", resource_type)
            query = sa.select(resources).where(
                resources.c.resource_type == resource_type, resources.c.hospital_id == principal.hospital_id
            )
            for name, value in params.items():
                if name in PATIENT_PARAMS:
                    query = query.where(resources.c.patient_id == value.removeprefix("Patient/"))
                    continue
                kind = SEARCH_PARAMS[name]
                if kind == "phone":
                    value = fhir.normalise_phone(value)
                digest = self.codec.blind_index(kind, value)
                matching = sa.select(resource_tokens.c.resource_id).where(
                    resource_tokens.c.hospital_id == principal.hospital_id,
                    resource_tokens.c.resource_type == resource_type,
                    resource_tokens.c.kind == kind,
                    resource_tokens.c.digest == digest,
                )
                query = query.where(resources.c.id.in_(matching))
            found = []
            for row in conn.execute(query.order_by(resources.c.last_updated).limit(MAX_SEARCH_RESULTS)):
                if access.in_scope(principal, self._scope(conn, row)):
                    found.append(self._decode(row))
                    returned.append(row.id)
            for resource_id in returned:
                append(conn, AuditEntry.of(principal, "search", f"{resource_type}/{resource_id}"))
            return found

        return self._run(principal, Outcome("search", target), work)
