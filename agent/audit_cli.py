"""Command-line tools for the records store: ``audit verify``, ``audit anchor``, ``keys rotate``, ``records token``.

``add_audit_commands(subparsers)`` registers them on the ``medvoice`` parser; each handler takes
the parsed ``argparse.Namespace`` and returns the exit status (0 fine, 1 tampering found, 2 could
not run). The database URL and key file come from :class:`agent.config.Settings`
(``MEDVOICE_DATABASE_URL``, ``MEDVOICE_KEY_FILE``) unless given; the SM2 anchor key
(``audit-sm2.json``, its public half ``audit-sm2.json.pub``) and the anchors file
(``audit-anchors.jsonl``) default to the key file's folder. ``records rotate-key`` is the old name
of ``keys rotate``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.config import Settings
from backends import ROLES, Principal

if TYPE_CHECKING:
    from backends import KeyRing

EXIT_INTACT, EXIT_BROKEN, EXIT_ERROR = 0, 1, 2
SIGNING_KEY_NAME, ANCHORS_NAME = "audit-sm2.json", "audit-anchors.jsonl"


def add_audit_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``audit verify``/``anchor``, ``keys rotate`` and the ``records`` key/token commands."""
    audit = subparsers.add_parser("audit", help="the HMAC-SM3-chained audit log and its signed anchors")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify",
        help="check the keyed audit chain, the signed anchors and every SM4 ciphertext; names each tampering "
        "found (exit 1)",
    )
    verify.add_argument("--database-url", help="SQLAlchemy URL (default MEDVOICE_DATABASE_URL)")
    verify.add_argument("--key-file", type=Path, help="key ring (default MEDVOICE_KEY_FILE)")
    verify.add_argument("--anchors", type=Path, help=f"signed anchors to check too (e.g. the key folder's {ANCHORS_NAME})")
    verify.add_argument(
        "--anchor-key",
        type=Path,
        help=f"SM2 key file or .pub that signed the anchors (default: the key folder's {SIGNING_KEY_NAME}.pub)",
    )
    verify.add_argument("--no-data", action="store_true", help="skip authenticating the SM4 ciphertexts")
    verify.set_defaults(handler=run_audit_verify)

    anchor = audit_commands.add_parser(
        "anchor", help="sign a checkpoint (entry, chain MAC, time) of the verified chain with SM2 and append it"
    )
    anchor.add_argument("--database-url", help="SQLAlchemy URL (default MEDVOICE_DATABASE_URL)")
    anchor.add_argument("--key-file", type=Path, help="key ring (default MEDVOICE_KEY_FILE)")
    anchor.add_argument(
        "--signing-key", type=Path, help=f"SM2 key file, created if missing (default: the key folder's {SIGNING_KEY_NAME})"
    )
    anchor.add_argument("--out", type=Path, help=f"anchors file to append to (default: the key folder's {ANCHORS_NAME})")
    anchor.set_defaults(handler=run_audit_anchor)

    keys = subparsers.add_parser("keys", help="the key ring (SM4 data keys)")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_rotate = keys_commands.add_parser(
        "rotate", help="make a new SM4 data key active and re-encrypt every encrypted column in one transaction"
    )
    keys_rotate.add_argument("--database-url", help="SQLAlchemy URL (default MEDVOICE_DATABASE_URL)")
    keys_rotate.add_argument("--key-file", type=Path, help="key ring (default MEDVOICE_KEY_FILE)")
    keys_rotate.set_defaults(handler=run_rotate_key)

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

    rotate = records_commands.add_parser("rotate-key", help="the old name of `medvoice keys rotate`")
    rotate.add_argument("--database-url", help="SQLAlchemy URL (default MEDVOICE_DATABASE_URL)")
    rotate.add_argument("--key-file", type=Path, help="key ring (default MEDVOICE_KEY_FILE)")
    rotate.set_defaults(handler=run_rotate_key)


def _existing_ring(command: str, key_file: Path) -> KeyRing:
    """The key ring at ``key_file``; a missing or unusable file is a ValueError naming the command."""
    from backends import KeyRing

    if not key_file.is_file():
        raise ValueError(f"key file {key_file} does not exist; it holds the audit key {command} needs")
    return KeyRing.load_or_create(key_file)


def run_audit_verify(args: argparse.Namespace) -> int:
    from backends import load_public_key, public_key_path, verify_audit_log

    settings = Settings()
    database_url = args.database_url or settings.database_url
    key_file = args.key_file or settings.key_file
    try:
        ring = _existing_ring("audit verify", key_file)
        anchor_key = None
        if args.anchors is not None:
            anchor_key = load_public_key(args.anchor_key or public_key_path(key_file.parent / SIGNING_KEY_NAME))
        report = verify_audit_log(
            database_url, ring, anchors_file=args.anchors, anchor_key=anchor_key, check_data=not args.no_data
        )
    except ValueError as error:
        print(f"medvoice audit verify: {error}", file=sys.stderr)
        return EXIT_ERROR
    print(report.describe())
    return EXIT_INTACT if report.intact else EXIT_BROKEN


def run_audit_anchor(args: argparse.Namespace) -> int:
    from backends import Sm2KeyPair, append_anchor, make_anchor, open_store, verify_chain

    settings = Settings()
    key_file = args.key_file or settings.key_file
    out = args.out or key_file.parent / ANCHORS_NAME
    try:
        _existing_ring("audit anchor", key_file)
        pair = Sm2KeyPair.load_or_create(args.signing_key or key_file.parent / SIGNING_KEY_NAME)
        store = open_store(args.database_url or settings.database_url, key_file, seed=False)
    except ValueError as error:
        print(f"medvoice audit anchor: {error}", file=sys.stderr)
        return EXIT_ERROR
    try:
        # One transaction: the chain checked is the chain anchored (SQLite: the write lock is held).
        with store.engine.begin() as conn:
            report = verify_chain(conn)
            if not report.intact:
                print(report.describe())
                print("medvoice audit anchor: refusing to sign a broken chain", file=sys.stderr)
                return EXIT_BROKEN
            anchor = make_anchor(conn, pair)
    finally:
        store.close()
    append_anchor(out, anchor)
    print(f"anchored entry {anchor.seq} (MAC {anchor.mac[:16]}...) at {anchor.at}, SM2 key {anchor.signer} -> {out}")
    return EXIT_INTACT


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
    from backends import open_store, rotate_data_key

    settings = Settings()
    key_file = args.key_file or settings.key_file
    try:
        _existing_ring("keys rotate", key_file)
        store = open_store(args.database_url or settings.database_url, key_file, seed=False)
    except ValueError as error:
        print(f"medvoice keys rotate: {error}", file=sys.stderr)
        return EXIT_ERROR
    try:
        _, report = rotate_data_key(store.engine, store.ring, key_file)
    finally:
        store.close()
    columns = ", ".join(f"{name} {count}" for name, count in report.moved.items())
    print(f"active SM4 key is now {report.new_key_id}; re-encrypted {report.total} rows ({columns}) in one transaction")
    return EXIT_INTACT
