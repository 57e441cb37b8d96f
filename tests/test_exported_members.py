"""Each package's public API is its ``__init__.__all__``, and the service imports only that.

As httpx's test_exported_members: every name in a package's ``__all__`` resolves (lazy names through
the package's ``__getattr__``) and is listed once, and whatever the ``__init__`` re-exports from the
package's own modules is in ``__all__``. ``agent/`` reaches the other packages only as
``from <package> import <name in __all__>``; the imports that do not yet are listed below, to be
emptied (a new one fails, and so does an entry that no longer occurs).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "transport", "asr", "medical_terms", "dialogue", "turntaking", "tts", "backends", "console")
LIBRARIES = tuple(p for p in PACKAGES if p != "agent")  # what agent/ imports from

WITHOUT_ALL: set[str] = set()

# agent/ imports of another package's modules (file, "module:name"), to be kept empty: a new one fails.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str]] = set()


def _own_reexports(package: str) -> set[str]:
    """Public names the package's ``__init__`` imports from its own modules, outside ``if TYPE_CHECKING``."""
    tree = ast.parse((ROOT / package / "__init__.py").read_text("utf-8"))
    names = set()
    for node in tree.body:  # top level only: a TYPE_CHECKING block is an ``if``, not an import
        if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
            continue
        if node.module.split(".")[0] == package:
            names.update(alias.asname or alias.name for alias in node.names)
    return {name for name in names if not name.startswith("_")}


@pytest.mark.parametrize("package", PACKAGES)
def test_package_all_names_resolve_once_and_cover_its_reexports(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    if package in WITHOUT_ALL:
        assert exported is None, f"{package} has an __all__ now: remove it from WITHOUT_ALL"
        return
    assert exported is not None, f"{package}/__init__.py has no __all__"
    assert len(exported) == len(set(exported)), f"{package}.__all__ lists a name twice"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what {package} does not have: {missing}"
    unlisted = sorted(_own_reexports(package) - set(exported))
    assert not unlisted, f"{package}/__init__.py re-exports names missing from __all__: {unlisted}"


def _agent_private_imports() -> set[tuple[str, str]]:
    """(file, "module:name") for every agent/ import of a library's module rather than its package."""
    found = set()
    for path in sorted((ROOT / "agent").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top = node.module.split(".")[0]
                if top not in LIBRARIES:
                    continue
                if node.module != top:
                    found.update((relative, f"{node.module}:{alias.name}") for alias in node.names)
                else:
                    public = set(getattr(importlib.import_module(top), "__all__", ()))
                    found.update((relative, f"{top}:{alias.name}") for alias in node.names
                                 if alias.name not in public)
            elif isinstance(node, ast.Import):
                found.update((relative, f"{alias.name}:") for alias in node.names
                             if "." in alias.name and alias.name.split(".")[0] in LIBRARIES)
    return found


def test_agent_imports_only_the_packages_public_api() -> None:
    found = _agent_private_imports()
    new = sorted(found - KNOWN_PRIVATE_IMPORTS)
    assert not new, f"agent/ imports names outside the packages' __all__ (import them from the package): {new}"
    gone = sorted(KNOWN_PRIVATE_IMPORTS - found)
    assert not gone, f"these no longer occur: remove them from KNOWN_PRIVATE_IMPORTS: {gone}"
