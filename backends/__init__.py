"""Records (FHIR R4) and consultation backends, and the embedded store.

The interfaces load at once (every flow uses them); the store, the key ring, the tokens and the
FHIR models load lazily, so that importing the interfaces does not import SQLAlchemy or pydantic's
FHIR models.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from backends.interfaces import (
    CHINA_STANDARD_TIME,
    ROLES,
    AccessDeniedError,
    BackendError,
    ConsultationBackend,
    HandoffRequest,
    HandoffTicket,
    InvalidResourceError,
    NotFoundError,
    Principal,
    RecordsBackend,
    ResourceIssue,
    Slot,
    SlotUnavailableError,
    TamperedDataError,
    VersionConflictError,
)

_LAZY = {
    "CampaignSchedule": "backends.embedded.schedule",
    "DEPARTMENT_TAG_SYSTEM": "backends.fhir",
    "EmbeddedStore": "backends.embedded",
    "KeyRing": "backends.crypto",
    "RESOURCE_TYPES": "backends.fhir",
    "TokenError": "backends.tokens",
    "TokenSigner": "backends.tokens",
    "VisitRow": "backends.embedded.schedule",
    "Sm2KeyPair": "backends.signing",
    "append_anchor": "backends.embedded.anchors",
    "load_public_key": "backends.signing",
    "make_anchor": "backends.embedded.anchors",
    "open_store": "backends.embedded",
    "public_key_path": "backends.signing",
    "rotate_data_key": "backends.embedded.sealed",
    "verify_audit_log": "backends.embedded",
    "verify_chain": "backends.embedded.audit",
}

__all__ = [
    "CHINA_STANDARD_TIME",
    "DEPARTMENT_TAG_SYSTEM",
    "RESOURCE_TYPES",
    "ROLES",
    "AccessDeniedError",
    "BackendError",
    "CampaignSchedule",
    "ConsultationBackend",
    "EmbeddedStore",
    "HandoffRequest",
    "HandoffTicket",
    "InvalidResourceError",
    "KeyRing",
    "NotFoundError",
    "Principal",
    "RecordsBackend",
    "ResourceIssue",
    "Slot",
    "SlotUnavailableError",
    "Sm2KeyPair",
    "TamperedDataError",
    "TokenError",
    "TokenSigner",
    "VersionConflictError",
    "VisitRow",
    "append_anchor",
    "load_public_key",
    "make_anchor",
    "open_store",
    "public_key_path",
    "rotate_data_key",
    "verify_audit_log",
    "verify_chain",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'backends' has no attribute {name!r}")
