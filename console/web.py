"""The console's web plumbing: settings, templates, who is signed in, CSRF, audit of every view, and
turning refusals into pages (403 audited, 404, 409).

Every page and action goes through :class:`Console`: ``staff(request)`` reads the session cookie
(unknown, forged or expired -> sign-in page), ``check_csrf`` compares the form's or header's token with
the session's, ``audit`` chains an entry with the user, and ``render`` fills an autoescaping template.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from backends import Principal
from backends.interfaces import CHINA_STANDARD_TIME
from console.accounts import Accounts, Session
from console.roles import StaffUser

COOKIE = "medvoice_console"
LOGIN_CSRF_COOKIE = "medvoice_console_login"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What a record id in a console URL may look like; anything else is a 404 before any lookup."""


@dataclass(frozen=True)
class ConsoleSettings:
    """How the console runs.

    Parameters:
        cookie_secure: Session cookies only over HTTPS (turn off only for http://localhost development).
        session_ttl: How long a sign-in lasts.
        hospital_id: The hospital the sign-in form defaults to.
        poll_s: How often the live stream checks for new calls and hand-offs.
    """

    cookie_secure: bool = True
    session_ttl: timedelta = timedelta(hours=8)
    hospital_id: str = "demo-hospital"
    poll_s: float = 1.0

    def __post_init__(self) -> None:
        if self.session_ttl <= timedelta(0):
            raise ValueError(f"session_ttl must be positive, got {self.session_ttl}")
        if self.poll_s <= 0:
            raise ValueError(f"poll_s must be positive, got {self.poll_s}")


class SignInRequired(Exception):
    """No valid session: send the browser to the sign-in page (htmx requests get 401)."""


class Refused(Exception):
    """The request is refused with ``status`` and a Mandarin message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _local(value: datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(CHINA_STANDARD_TIME).strftime("%m-%d %H:%M")


def _waited(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return ""
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}秒"
    if seconds < 3600:
        return f"{seconds // 60}分钟"
    if seconds < 86400:
        return f"{seconds // 3600}小时{seconds % 3600 // 60}分"
    return f"{seconds // 86400}天"


def templates() -> Environment:
    """The console's Jinja2 templates, autoescaping everything (HTML or script in any field is text)."""
    env = Environment(
        loader=PackageLoader("console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = _local
    env.filters["waited"] = _waited
    return env


class Console:
    """Shared state of the console routes: the store, accounts, settings and templates."""

    def __init__(self, store: Any, accounts: Accounts, settings: ConsoleSettings) -> None:
        self.store, self.accounts, self.settings = store, accounts, settings
        self.env = templates()

    # -- who -----------------------------------------------------------------------------------

    async def session(self, request: Request) -> Session:
        token = request.cookies.get(COOKIE, "")
        session = await asyncio.to_thread(self.accounts.session, token) if token else None
        if session is None:
            raise SignInRequired()
        return session

    async def staff(self, request: Request, capability: str | None = None, target: str = "console") -> StaffUser:
        """The signed-in user, who must hold ``capability`` (else 403, audited)."""
        user = (await self.session(request)).user
        if capability is not None and not user.can(capability):
            await self.audit(user.principal, f"console_{capability}", target, "denied")
            raise Refused(403, f"{user.role_name}没有此项权限")
        return user

    async def check_csrf(self, request: Request, form: dict[str, Any] | None = None) -> Session:
        """The session, if the request carries its CSRF token (form field ``csrf_token`` or header
        ``X-CSRF-Token``); otherwise 403, audited."""
        session = await self.session(request)
        sent = request.headers.get("x-csrf-token") or str((form or {}).get("csrf_token") or "")
        if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            await self.audit(session.user.principal, "console_post", request.url.path[:160], "csrf_refused")
            raise Refused(403, "表单已失效（缺少或错误的安全令牌），请刷新页面后重试")
        return session

    async def audit(self, principal: Principal, action: str, target: str, outcome: str = "success") -> None:
        await self.store.record_access(principal, action, target[:160], outcome)

    # -- pages ---------------------------------------------------------------------------------

    def render(self, name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(request=request, now=datetime.now(UTC), **context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    async def page(self, name: str, request: Request, user: StaffUser, status: int = 200, **context: Any) -> HTMLResponse:
        session = await self.session(request)
        staff = await asyncio.to_thread(self.accounts.display_names, user.hospital_id)
        return self.render(name, request, status, user=user, csrf_token=session.csrf_token, staff=staff, **context)

    def refused(self, request: Request, error: Refused) -> Response:
        if request.headers.get("hx-request"):
            return HTMLResponse(
                self.env.get_template("_error.html").render(message=str(error)),
                status_code=error.status,
                headers=SECURITY_HEADERS,
            )
        return self.render("error.html", request, error.status, message=str(error), user=None)

    def to_sign_in(self, request: Request) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/console/login"})
        return RedirectResponse("/console/login", status_code=303)


def checked_id(value: str) -> str:
    """A record id from a URL or form, or 404 (tampered ids never reach the store)."""
    if not ID_PATTERN.match(value):
        raise Refused(404, "没有找到该记录")
    return value


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
"""Sent with every console page: no script but our own files (escaped data can never run), no framing."""
