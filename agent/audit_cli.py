"""Command-line tools for the records store: ``audit verify``, ``records token``, ``records rotate-key``.

``add_audit_commands(subparsers)`` registers them on the ``medvoice`` parser; each handler takes
the parsed ``argparse.Namespace`` and returns the exit status. The database URL and key file come
from :class:`agent.config.Settings` (``MEDVOICE_DATABASE_URL``, ``MEDVOICE_KEY_FILE``) unless given.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from agent.config import Settings
from backends import ROLES, Principal

EXIT_INTACT, EXIT_BROKEN, EXIT_ERROR = 0, 1, 2


def add_audit_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``audit verify`` and the ``records`` key/token commands."""
    audit = subparsers.add_parser("audit", help="the SM3-chained audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", help="check the audit chain; names the first broken entry (exit 1 if broken)"
    )
    verify.add_argument("--database-url", help="SQLAlchemy URL (default MEDVOICE_DATABASE_URL)")
    verify.set_defaults(handler=run_audit_verify)

    records = subparsers.add_parser("records", help="records store keys and API tokens")
    records_commands = records.add_subparsers(dest="records_command", required=True)
    token = records_commands.add_parser("token", help="print a signed bearer token for the records API")
    token.add_argument("--subject", required=True, help="user id or service name")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--hospital", required=True, help="hospital id, e.g. demo-hospital")
    token.add_argument("--department", help="department id (department and doctor roles)")
    token.add_argument("--purpose", default="treatment", help="purpose written to the audit log")
    token.add_argument("--ttl", type=float, default=3600.0, help="seconds the token stays valid")
    token.add_argument("--key-file", type=Path, help="key ring (default MEDVOICE_KEY_FILE)")
    token.set_defaults(handler=run_issue_token)

    rotate = records_commands.add_parser(
        "rotate-key", help="make a new SM4 data key active and re-encrypt every row with it"
    )
    rotate.add_argument("--database-url", help="SQLAlchemy URL (default MEDVOICE_DATABASE_URL)")
    rotate.add_argument("--key-file", type=Path, help="key ring (default MEDVOICE_KEY_FILE)")
    rotate.set_defaults(handler=run_rotate_key)


def run_audit_verify(args: argparse.Namespace) -> int:
    from backends import verify_audit_log

    database_url = args.database_url or Settings().database_url
    try:
        report = verify_audit_log(database_url)
    except ValueError as error:
        print(f"medvoice audit verify: {error}", file=sys.stderr)
        return EXIT_ERROR
    print(report.describe())
    return EXIT_INTACT if report.intact else EXIT_BROKEN


def run_issue_token(args: argparse.Namespace) -> int:
    from backends import KeyRing, TokenSigner

    if args.role in ("department", "doctor") and not args.department:
        print(f"medvoice records token: role {args.role!r} needs --department", file=sys.stderr)
        return EXIT_ERROR
    key_file = args.key_file or Settings().key_file
    if not key_file.is_file():
        print(
            f"medvoice records token: key file {key_file} does not exist; start the service once",
            file=sys.stderr,
        )
        return EXIT_ERROR
    principal = Principal(args.subject, args.role, args.hospital, args.department, args.purpose)
    print(TokenSigner(KeyRing.load_or_create(key_file).token_key).issue(principal, args.ttl))
    return EXIT_INTACT


def run_rotate_key(args: argparse.Namespace) -> int:
    from backends import open_store

    settings = Settings()
    store = open_store(
        args.database_url or settings.database_url, args.key_file or settings.key_file, seed=False
    )
    try:
        new_key = store.rotate_key()
        moved = asyncio.run(store.reencrypt())
    finally:
        store.close()
    print(f"active SM4 key is now {new_key}; re-encrypted {moved} rows")
    return EXIT_INTACT
