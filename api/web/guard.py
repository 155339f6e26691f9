"""Who is using the dashboard: the session cookie -> the API's Viewer, and the CSRF check.

The user is resolved by the API's own `viewer_from_token` (given a short-lived API token for
the session's user), so the dashboard applies exactly the API's rule: the user must exist and
be active, and their role is read from the database now. Patient scope then comes from the
API's `visible`/`find_patient`, as for every API route.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Form, Header, Request

from api.auth import Settings, Viewer, viewer_from_token
from api.db import Conn
from api.problems import ProblemError
from api.security import Role, issue_token
from api.settings import ApiSettings
from api.web import session as sessions
from api.web.settings import WebSettings, web_settings

RENEWAL_STATE = "vigil_ui_session_renewal"


class NotSignedIn(Exception):
    """No valid session: pages redirect to the sign-in form."""


class CsrfRejected(Exception):
    """A state-changing request without the session's CSRF token, or from another site."""


@dataclass(frozen=True, slots=True)
class UiUser:
    viewer: Viewer
    session: sessions.Session
    csrf: str


@dataclass(frozen=True, slots=True)
class Renewal:
    value: str
    max_age: int


def read_session(request: Request, settings: ApiSettings, web: WebSettings,
                 now: datetime) -> sessions.Session:
    try:
        return sessions.decode(
            request.cookies.get(sessions.COOKIE), secret=settings.jwt_secret.get_secret_value(),
            issuer=settings.jwt_issuer, now=now, max_age=timedelta(seconds=web.max_session_s))
    except sessions.InvalidSession as exc:
        raise NotSignedIn(str(exc)) from None


def api_token(session: sessions.Session, settings: ApiSettings, now: datetime,
              ttl: timedelta) -> str:
    """A short-lived API token for the session's user, to go through the API's own checks."""
    # The role in the token is not what authorises (viewer_from_token reads it from the
    # database); any valid value will do for a session from before a role change.
    try:
        role = Role(session.role)
    except ValueError:
        role = Role.CLINICIAN
    token, _ = issue_token(session.subject, role, settings.jwt_secret.get_secret_value(), ttl,
                           settings.jwt_issuer, now=now)
    return token


def session_cookie(session: sessions.Session, settings: ApiSettings, web: WebSettings,
                   now: datetime) -> tuple[Renewal, sessions.Session]:
    value, renewed = sessions.encode(
        session, secret=settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer,
        now=now, idle=timedelta(seconds=web.idle_timeout_s),
        max_age=timedelta(seconds=web.max_session_s))
    max_age = max(1, int((renewed.expires_at - now).total_seconds()))
    return Renewal(value, max_age), renewed


async def ui_user(request: Request, conn: Conn, settings: Settings) -> UiUser:
    web = web_settings()
    now = datetime.now(UTC)
    session = read_session(request, settings, web, now)
    try:
        viewer = await viewer_from_token(conn, settings,
                                         api_token(session, settings, now, timedelta(minutes=1)))
    except ProblemError as exc:
        raise NotSignedIn(exc.detail or "signed out") from None
    if sessions.needs_renewal(session, now):
        renewal, session = session_cookie(session, settings, web, now)
        setattr(request.state, RENEWAL_STATE, renewal)
    return UiUser(viewer, session,
                  sessions.csrf_token(session.session_id, settings.jwt_secret.get_secret_value()))


User = Annotated[UiUser, Depends(ui_user)]


def same_origin(request: Request) -> bool:
    """Browsers send Origin (and Sec-Fetch-Site) on POSTs: another site's is refused even
    before the token is compared. Absent headers (older clients) fall back to the token."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


async def csrf_checked(
    request: Request,
    user: User,
    csrf_token: Annotated[str | None, Form()] = None,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> UiUser:
    """The user, for a POST that carries the session's CSRF token (form field or header)."""
    if not same_origin(request):
        raise CsrfRejected("cross-site request")
    if not sessions.csrf_matches(user.csrf, csrf_token or x_csrf_token):
        raise CsrfRejected("missing or wrong CSRF token")
    return user


Acting = Annotated[UiUser, Depends(csrf_checked)]
