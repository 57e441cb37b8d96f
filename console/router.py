"""The ``/console`` routes: sign-in and sign-out, the live event stream, and the queue, follow-up and
notes pages (``console.queue``, ``console.followup``, ``console.notes``), plus the static files."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.routing import APIRoute

from backends import AccessDeniedError, NotFoundError, Principal
from console import followup, notes, queue
from console.accounts import SignInError
from console.web import COOKIE, LOGIN_CSRF_COOKIE, Console, Refused, SignInRequired

LANDING = {"nurse": "/console/queue", "doctor": "/console/notes", "lead": "/console/followup"}
MAX_FORM_BYTES = 256 * 1024


def _route_class(console: Console) -> type[APIRoute]:
    class ConsoleRoute(APIRoute):
        """Turns sign-in, refusals and the store's denials into pages (the store audits its own denials)."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
                    return console.refused(request, Refused(413, "提交的内容过长"))
                try:
                    return await handler(request)
                except SignInRequired:
                    return console.to_sign_in(request)
                except Refused as error:
                    return console.refused(request, error)
                except AccessDeniedError:
                    return console.refused(request, Refused(403, "无权查看或操作该记录（此次访问已记入审计日志）"))
                except NotFoundError:
                    return console.refused(request, Refused(404, "没有找到该记录"))

            return guarded

    return ConsoleRoute


def build_console_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", route_class=_route_class(console), include_in_schema=False)
    _add_sign_in(router, console)
    _add_events(router, console)
    queue.add_routes(router, console)
    followup.add_routes(router, console)
    notes.add_routes(router, console)
    return router


def _add_sign_in(router: APIRouter, console: Console) -> None:
    settings = console.settings

    @router.get("")
    async def home(request: Request) -> Response:
        user = (await console.session(request)).user
        return RedirectResponse(LANDING[user.role], status_code=303)

    @router.get("/login")
    async def login_page(request: Request, error: str = "") -> Response:
        token = secrets.token_urlsafe(24)
        response = console.render(
            "login.html", request, 401 if error else 200, user=None, csrf_token=token,
            hospital_id=settings.hospital_id, error=error, username="",
        )
        response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=1800, httponly=True, secure=settings.cookie_secure,
                            samesite="strict", path="/console")
        return response

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        hospital_id = str(form.get("hospital_id") or settings.hospital_id)[:64]
        username = str(form.get("username") or "")[:64]
        password = str(form.get("password") or "")[:256]
        sent, expected = str(form.get("csrf_token") or ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
            raise Refused(403, "登录表单已失效，请刷新页面后重试")
        # repeated failures slow every further attempt down, whichever part was wrong
        delay = await asyncio.to_thread(console.accounts.sign_in_delay, hospital_id, username)
        if delay:
            await asyncio.sleep(delay)
        try:
            user = await asyncio.to_thread(console.accounts.authenticate, hospital_id, username, password)
        except SignInError as error:
            who = Principal(f"login:{username}"[:128], "anonymous", hospital_id, None, "console_sign_in")
            await console.audit(who, "console_sign_in", "console/login", "denied")
            token = secrets.token_urlsafe(24)
            refused = console.render("login.html", request, 401, user=None, csrf_token=token,
                                     hospital_id=hospital_id, error=str(error), username=username)
            refused.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=1800, httponly=True,
                               secure=settings.cookie_secure, samesite="strict", path="/console")
            return refused
        token, session = await asyncio.to_thread(console.accounts.open_session, user)
        await console.audit(user.principal, "console_sign_in", "console/login")
        response = RedirectResponse(LANDING[user.role], status_code=303)
        response.set_cookie(COOKIE, token, max_age=int(settings.session_ttl.total_seconds()), httponly=True,
                            secure=settings.cookie_secure, samesite="strict", path="/console")
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        session = await console.check_csrf(request, dict(await request.form()))
        await asyncio.to_thread(console.accounts.close_session, request.cookies.get(COOKIE, ""))
        await console.audit(session.user.principal, "console_sign_out", "console/logout")
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(COOKIE, path="/console")
        return response


def _add_events(router: APIRouter, console: Console) -> None:
    @router.get("/events")
    async def events(request: Request) -> Response:
        """Server-sent events: ``changed`` whenever a call, hand-off or record of the hospital is
        written; the page then reloads its lists (each reload is an audited view). The stream itself
        carries no patient data."""
        session = await console.session(request)
        hospital_id = session.user.hospital_id
        poll = console.settings.poll_s

        async def stream() -> AsyncIterator[bytes]:
            marker = await console.store.changes(hospital_id)
            yield b"retry: 2000\n: connected\n\n"
            beats = 0
            while not await request.is_disconnected():
                await asyncio.sleep(poll)
                if await asyncio.to_thread(console.accounts.session, request.cookies.get(COOKIE, "")) is None:
                    yield b"event: signed-out\ndata: {}\n\n"
                    return
                current = await console.store.changes(hospital_id)
                if current != marker:
                    marker = current
                    yield b"event: changed\ndata: {}\n\n"
                beats += 1
                if beats % 15 == 0:
                    yield b": keep-alive\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
