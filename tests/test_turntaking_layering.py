"""The import arrows of the turn-taking layer point one way (DESIGN.md, Layout): ``turntaking``
imports only ``asr`` (its decoding interface), ``asr`` and ``transport`` import no turn-taking or
service code, so a new transport (SIP) needs no change in ``turntaking``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}


def _project_imports(package: str) -> dict[str, set[str]]:
    """module path -> the project modules it imports (absolute imports; the project uses no others)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path.relative_to(ROOT))] = {n for n in names if n.split(".")[0] in PROJECT}
    return found


@pytest.mark.parametrize(("package", "allowed"), [
    ("turntaking", {"turntaking", "asr.service"}),
    ("asr", {"asr", "medical_terms"}),
    ("transport", {"transport"}),
])
def test_no_import_arrow_points_backwards(package, allowed):
    wrong = {
        module: sorted(n for n in names if not any(n == a or n.startswith(a + ".") for a in allowed))
        for module, names in _project_imports(package).items()
    }
    assert {m: n for m, n in wrong.items() if n} == {}
