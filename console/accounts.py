"""Staff accounts and console sessions in the records database: argon2id password hashes, sign-in with
slow-down after failures, server-side sessions (only the SM3 hash of the cookie's token is stored) with
their CSRF token and expiry.

Blocking (SQLAlchemy); the routes call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from backends.crypto import sm3
from backends.embedded.schema import departments, staff_sessions, staff_users
from console.roles import CONSOLE_ROLES, StaffUser

FREE_FAILURES = 3
"""Failed sign-ins of one account before each further attempt waits."""
MAX_DELAY_S = 8.0
FAILURE_WINDOW = timedelta(minutes=15)
"""Failures older than this no longer slow sign-in down."""


class SignInError(Exception):
    """Sign-in failed. The message never says whether the user name or the password was wrong."""


@dataclass(frozen=True)
class Session:
    """A live console session: the user, the CSRF token forms must echo, and when it ends."""

    user: StaffUser
    csrf_token: str
    expires_at: datetime


def _user(row: Any) -> StaffUser:
    return StaffUser(row.id, row.hospital_id, row.department_id, row.username, row.display_name, row.role)


def _token_hash(token: str) -> str:
    return sm3(token.encode()).hex()


class Accounts:
    """Staff accounts and sessions of one database.

    Args:
        engine: The records store's engine (already migrated).
        session_ttl: How long a session lives after sign-in.
        clock: Current time (tests move it to expire sessions).
        hasher: The argon2id hasher (default argon2-cffi's RFC 9106 low-memory profile: 3 passes over
            64 MiB); tests pass cheaper parameters.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        session_ttl: timedelta = timedelta(hours=8),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.engine = engine
        self.session_ttl = session_ttl
        self.clock = clock
        self._hasher = hasher or PasswordHasher()
        # Failures per (hospital, user name) typed, known or not, so an unknown name slows down exactly
        # like a known one and the delay tells nothing about which names exist (this process's count;
        # the account row's count is shared by every worker).
        self._typed: dict[tuple[str, str], tuple[int, datetime]] = {}
        # Unknown user names are verified against this hash so both failures take the same time.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    # -- accounts ----------------------------------------------------------------------------

    def add_user(
        self,
        *,
        user_id: str,
        hospital_id: str,
        department_id: str,
        username: str,
        display_name: str,
        role: str,
        password: str,
    ) -> StaffUser:
        """Create (or replace the password and details of) a staff account.

        Raises:
            ValueError: unknown role or department, or a password under 10 characters.
        """
        if role not in CONSOLE_ROLES:
            raise ValueError(f"role {role!r} is unknown; use one of {', '.join(CONSOLE_ROLES)}")
        if len(password) < 10:
            raise ValueError("a staff password needs at least 10 characters")
        with self.engine.begin() as conn:
            known = conn.execute(
                sa.select(departments.c.id).where(
                    departments.c.id == department_id, departments.c.hospital_id == hospital_id
                )
            ).first()
            if known is None:
                raise ValueError(f"hospital {hospital_id!r} has no department {department_id!r}")
            values = {
                "hospital_id": hospital_id,
                "department_id": department_id,
                "username": username,
                "display_name": display_name,
                "role": role,
                "password_hash": self._hasher.hash(password),
                "failed_logins": 0,
                "last_failed_at": None,
            }
            exists = conn.execute(sa.select(staff_users.c.id).where(staff_users.c.id == user_id)).first()
            if exists:
                conn.execute(staff_users.update().where(staff_users.c.id == user_id).values(**values))
            else:
                conn.execute(staff_users.insert().values(id=user_id, **values))
        return StaffUser(user_id, hospital_id, department_id, username, display_name, role)

    def sign_in_delay(self, hospital_id: str, username: str) -> float:
        """Seconds this attempt must wait: 0 for the first failures, then doubling up to ``MAX_DELAY_S``."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(staff_users.c.failed_logins, staff_users.c.last_failed_at).where(
                    staff_users.c.hospital_id == hospital_id, staff_users.c.username == username
                )
            ).first()
        counts = [self._typed.get((hospital_id, username), (0, datetime.min.replace(tzinfo=UTC)))]
        if row is not None and row.last_failed_at is not None:
            last = row.last_failed_at if row.last_failed_at.tzinfo else row.last_failed_at.replace(tzinfo=UTC)
            counts.append((row.failed_logins, last))
        failures = max((n for n, last in counts if self.clock() - last <= FAILURE_WINDOW), default=0)
        if failures < FREE_FAILURES:
            return 0.0
        return float(min(MAX_DELAY_S, 0.5 * 2 ** (failures - FREE_FAILURES)))

    def authenticate(self, hospital_id: str, username: str, password: str) -> StaffUser:
        """The account if the password is right.

        Raises:
            SignInError: unknown user or wrong password (the same message for both).
        """
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(staff_users).where(
                    staff_users.c.hospital_id == hospital_id, staff_users.c.username == username
                )
            ).first()
            try:
                self._hasher.verify(row.password_hash if row else self._dummy_hash, password)
                ok = row is not None
            except (VerificationError, InvalidHashError):
                ok = False
            if row is not None and ok:
                conn.execute(
                    staff_users.update().where(staff_users.c.id == row.id).values(failed_logins=0, last_failed_at=None)
                )
                self._typed.pop((hospital_id, username), None)
                return _user(row)
            if len(self._typed) > 10_000:  # bounded: forget the oldest half of the names typed
                for key in sorted(self._typed, key=lambda k: self._typed[k][1])[:5_000]:
                    del self._typed[key]
            count, _ = self._typed.get((hospital_id, username), (0, self.clock()))
            self._typed[(hospital_id, username)] = (count + 1, self.clock())
            if row is not None:  # committed with the transaction, before the refusal is raised
                conn.execute(
                    staff_users.update()
                    .where(staff_users.c.id == row.id)
                    .values(failed_logins=staff_users.c.failed_logins + 1, last_failed_at=self.clock())
                )
        raise SignInError("医院、用户名或密码不正确")

    def user_by_username(self, hospital_id: str, username: str) -> StaffUser | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(staff_users).where(
                    staff_users.c.hospital_id == hospital_id, staff_users.c.username == username
                )
            ).first()
        return _user(row) if row else None

    def display_names(self, hospital_id: str) -> dict[str, str]:
        """Staff id -> display name for the hospital (who claimed a hand-off, who dictated a note)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(staff_users.c.id, staff_users.c.display_name).where(staff_users.c.hospital_id == hospital_id)
            )
            return {row.id: row.display_name for row in rows}

    # -- sessions ----------------------------------------------------------------------------

    def open_session(self, user: StaffUser) -> tuple[str, Session]:
        """A new session for ``user``: (the cookie's token, the session)."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + self.session_ttl
        with self.engine.begin() as conn:
            conn.execute(staff_sessions.delete().where(staff_sessions.c.expires_at <= now))
            conn.execute(
                staff_sessions.insert().values(
                    token_hash=_token_hash(token),
                    user_id=user.id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires,
                )
            )
        return token, Session(user, csrf, expires)

    def session(self, token: str) -> Session | None:
        """The live session of a cookie token; None if unknown, forged or expired."""
        if not token or len(token) > 128:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(staff_sessions, staff_users)
                .join(staff_users, staff_users.c.id == staff_sessions.c.user_id)
                .where(staff_sessions.c.token_hash == _token_hash(token))
            ).first()
        if row is None:
            return None
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        if expires <= self.clock():
            return None
        return Session(_user(row), row.csrf_token, expires)

    def close_session(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(staff_sessions.delete().where(staff_sessions.c.token_hash == _token_hash(token)))
