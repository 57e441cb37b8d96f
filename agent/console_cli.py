"""``medvoice console seed-demo`` (the demo hospital's staff and a few days of work, logins printed) and
``medvoice console add-user`` (a staff account; the password is read from the terminal or
``MEDVOICE_CONSOLE_PASSWORD``). The store comes from :class:`agent.config.Settings`."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from agent.config import Settings


def add_console_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    console = subparsers.add_parser("console", help="the staff console: demo data and staff accounts")
    commands = console.add_subparsers(dest="console_command", required=True)
    seed = commands.add_parser("seed-demo", help="demo staff (nurse, two doctors, care-team lead) and a few days of "
                                                 "calls, follow-ups and a dictated note; prints the logins")
    seed.add_argument("--password", default=None,
                      help="the demo accounts' password (default MEDVOICE_CONSOLE_PASSWORD or medvoice-demo-2026)")
    seed.set_defaults(handler=_seed_demo)
    add = commands.add_parser("add-user", help="add a staff account (or reset its password)")
    add.add_argument("--hospital", default=None, help="hospital id (default MEDVOICE_CONSOLE_HOSPITAL_ID)")
    add.add_argument("--department", required=True, help="department id, e.g. dept-emergency")
    add.add_argument("--username", required=True)
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--role", required=True, choices=("nurse", "doctor", "lead"))
    add.add_argument("--id", dest="user_id", default=None,
                     help="stable user id (a doctor's id is the author of their dictated notes); default the username")
    add.set_defaults(handler=_add_user)


def _open():
    from agent.app import open_records
    from console import Accounts

    settings = Settings()
    store = open_records(settings)
    return settings, store, Accounts(store.engine)


def _seed_demo(args: argparse.Namespace) -> int:
    from console import DEMO_HOSPITAL, run_seed

    password = args.password or os.environ.get("MEDVOICE_CONSOLE_PASSWORD") or "medvoice-demo-2026"
    settings, store, accounts = _open()
    try:
        users = run_seed(store, accounts, password)
    finally:
        store.close()
    print(f"demo hospital {DEMO_HOSPITAL!r} ready; sign in at http://{settings.host}:{settings.port}/console/login")
    for user in users:
        print(f"  {user.role:6} {user.username:8} {password}   {user.display_name}（{user.department_id}）")
    return 0


def _add_user(args: argparse.Namespace) -> int:
    password = os.environ.get("MEDVOICE_CONSOLE_PASSWORD") or getpass.getpass("password: ")
    settings, store, accounts = _open()
    try:
        user = accounts.add_user(user_id=args.user_id or args.username,
                                 hospital_id=args.hospital or settings.console_hospital_id,
                                 department_id=args.department, username=args.username, display_name=args.name,
                                 role=args.role, password=password)
    except ValueError as error:
        print(f"medvoice console add-user: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"added {user.role} {user.username} ({user.id}) in {user.department_id}")
    return 0
