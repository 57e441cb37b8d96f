"""The package import arrows point one way, as the README's ownership table says: a package imports
only the packages listed for it (tests and evals may import everything)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED: dict[str, set[str]] = {
    "agent": {"transport", "asr", "turntaking", "medical_terms", "dialogue", "tts", "backends", "console"},
    "transport": set(),
    "asr": {"medical_terms"},
    "turntaking": {"asr"},
    "medical_terms": set(),
    "dialogue": {"medical_terms", "backends.interfaces"},
    "tts": set(),
    "backends": set(),
    # the staff console reads the records through the store and the flows' read models
    "console": {"backends", "backends.interfaces", "backends.crypto", "backends.fhir", "backends.embedded", "dialogue"},
}


def imports_of(package: str) -> set[str]:
    """Project packages ``package`` imports (``backends`` by module, since dialogue may use only its interfaces)."""
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                if top in ALLOWED and top != package:
                    found.add(".".join(name.split(".")[:2]) if top == "backends" else top)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_the_table_allows(package: str) -> None:
    assert imports_of(package) - ALLOWED[package] == set()
