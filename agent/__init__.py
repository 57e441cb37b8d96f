"""The medvoice service: FastAPI app, call sessions, pipeline assembly, configuration and CLI.

The names load lazily so that reading the configuration does not import the pipeline.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "CallSessions": "agent.session",
    "Engines": "agent.engines",
    "Settings": "agent.config",
    "create_app": "agent.app",
    "main": "agent.cli",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
