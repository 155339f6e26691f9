"""Sign-in and sign-out pages.

Sign-in goes through the API's own `/auth/token` handler (same users, argon2 hashes,
throttling and audit entry); on success the dashboard sets its session cookie (HttpOnly,
SameSite=Strict, Secure over https). The sign-in form itself is protected against login CSRF
(a foreign site signing you in as someone else) by a double-submit token: a random value in
a SameSite=Strict cookie that the form must echo.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm

from api import audit
from api.auth import Settings, client_ip
from api.db import Conn
from api.problems import ProblemError
from api.routes.auth import sign_in
from api.security import read_token
from api.web import session as sessions
from api.web.guard import RENEWAL_STATE, Acting, NotSignedIn, read_session, session_cookie
from api.web.htmlroute import HtmlRoute, clear_session_cookie, cookie_secure, set_session_cookie
from api.web.settings import web_settings
from api.web.templating import render

router = APIRouter(route_class=HtmlRoute)

LOGIN_PATH = "/ui/login"


def _login_page(request: Request, *, next_url: str, error: str | None = None,
                notice: str | None = None, email: str = "", status: int = 200) -> Response:
    token = sessions.new_login_csrf()
    response = render(request, "login.html", {
        "user": None, "csrf_token": token, "next_url": next_url, "error": error,
        "notice": notice, "email": email}, status=status)
    response.set_cookie(sessions.LOGIN_CSRF_COOKIE, token, max_age=3600, path=LOGIN_PATH,
                        httponly=True, samesite="strict", secure=cookie_secure(request))
    return response


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/ui/alerts", status_code=303)


@router.get("/login")
async def login_form(
    request: Request, settings: Settings,
    next_url: Annotated[str | None, Query(alias="next", max_length=500)] = None,
    signed_out: Annotated[bool, Query()] = False,
) -> Response:
    target = sessions.safe_next(next_url)
    try:
        read_session(request, settings, web_settings(), datetime.now(UTC))
        return RedirectResponse(target, status_code=303)
    except NotSignedIn:
        pass
    return _login_page(request, next_url=target,
                       notice="You have signed out." if signed_out else None)


@router.post("/login")
async def login(
    request: Request,
    conn: Conn,
    settings: Settings,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    target = sessions.safe_next(next_url)
    expected = request.cookies.get(sessions.LOGIN_CSRF_COOKIE, "")
    if not expected or not sessions.csrf_matches(expected, csrf_token):
        return _login_page(request, next_url=target, email=email, status=403,
                           error="The sign-in form had expired. Please sign in again.")
    if not email.strip() or not password:
        return _login_page(request, next_url=target, email=email, status=422,
                           error="Enter your email address and password.")
    try:
        token = await sign_in(OAuth2PasswordRequestForm(username=email, password=password),
                              conn, settings, request)
    except ProblemError as exc:
        if exc.status == 429:
            message = (f"Too many failed sign-in attempts. Try again in "
                       f"{exc.headers.get('Retry-After', 'a few')} seconds.")
        else:
            message = "Wrong email or password."
        return _login_page(request, next_url=target, email=email, error=message,
                           status=exc.status if exc.status in (401, 429) else 401)
    claims = read_token(token.access_token, settings.jwt_secret.get_secret_value(),
                        settings.jwt_issuer)
    now = datetime.now(UTC)
    renewal, _ = session_cookie(sessions.new_session(claims.subject, claims.role.value, now),
                                settings, web_settings(), now)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, renewal)
    response.delete_cookie(sessions.LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/logout")
async def logout(request: Request, user: Acting, conn: Conn) -> Response:
    await audit.record(conn, actor_id=user.viewer.id, action="auth.sign_out",
                       entity_type="user", entity_id=user.viewer.id,
                       client_ip=client_ip(request))
    response = RedirectResponse(f"{LOGIN_PATH}?signed_out=true", status_code=303)
    clear_session_cookie(response)
    # The renewal the request may have prepared must not set the cookie again.
    setattr(request.state, RENEWAL_STATE, None)
    return response
