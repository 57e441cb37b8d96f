"""The staff console: nurses, doctors and care-team leads sign in to work the triage queue and its
hand-offs, the follow-up alerts and trends, and the dictated notes to review and sign.

Server-rendered (Jinja2) over the records store's own access-controlled, audited operations; htmx and
uPlot are vendored (``static/vendor``, see VENDORED.md). Mount it on the service::

    from console import ConsoleSettings, mount_console
    mount_console(app, store, ConsoleSettings(cookie_secure=True))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from console.accounts import Accounts, SignInError
from console.demo import DEMO_USERS, run_seed, seed_demo
from console.demo import HOSPITAL as DEMO_HOSPITAL
from console.roles import CAPABILITIES, CONSOLE_ROLES, StaffUser
from console.router import build_console_router
from console.web import Console, ConsoleSettings

STATIC_DIR = Path(__file__).resolve().parent / "static"

__all__ = [
    "CAPABILITIES",
    "CONSOLE_ROLES",
    "DEMO_HOSPITAL",
    "DEMO_USERS",
    "STATIC_DIR",
    "Accounts",
    "Console",
    "ConsoleSettings",
    "SignInError",
    "StaffUser",
    "build_console_router",
    "mount_console",
    "run_seed",
    "seed_demo",
]


def mount_console(
    app: FastAPI, store: Any, settings: ConsoleSettings | None = None, *, accounts: Accounts | None = None
) -> Console:
    """Add the ``/console`` pages and ``/console/static`` files to ``app``, over ``store`` (staff accounts in
    the same database unless ``accounts`` is given)."""
    settings = settings or ConsoleSettings()
    accounts = accounts or Accounts(store.engine, session_ttl=settings.session_ttl)
    console = Console(store, accounts, settings)
    app.include_router(build_console_router(console))
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.state.console = console
    return console
