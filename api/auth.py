"""Who is asking: the bearer token -> the signed-in user (`Viewer`), and role checks.

The token says who; the database says whether that user still exists, is active and what
role they hold now, so deactivating a user takes effect at their next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from api.db import Conn
from api.problems import ProblemError, unauthenticated
from api.security import InvalidToken, Role, read_token
from api.settings import ApiSettings

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


@dataclass(frozen=True, slots=True)
class Viewer:
    id: int
    organisation_id: int
    role: Role
    email: str
    display_name: str
    token_expires_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


Settings = Annotated[ApiSettings, Depends(get_settings)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def viewer_from_token(conn: Conn, settings: ApiSettings, token: str | None) -> Viewer:
    if not token:
        raise unauthenticated("a bearer token is required")
    try:
        claims = read_token(token, settings.jwt_secret.get_secret_value(), settings.jwt_issuer)
    except InvalidToken as exc:
        raise unauthenticated(str(exc)) from None
    if not claims.subject.isdigit():
        raise unauthenticated("invalid token: bad subject")
    cur = await conn.execute(
        "SELECT id, organisation_id, role, email, display_name FROM users "
        "WHERE id = %s AND active",
        (int(claims.subject),),
    )
    row = await cur.fetchone()
    if row is None:
        raise unauthenticated("the token's user does not exist or is inactive")
    user_id, organisation_id, role, email, display_name = row
    return Viewer(user_id, organisation_id, Role(role), email, display_name, claims.expires_at)


async def current_viewer(
    conn: Conn, settings: Settings, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Viewer:
    return await viewer_from_token(conn, settings, token)


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


async def admin_viewer(viewer: CurrentViewer) -> Viewer:
    if not viewer.is_admin:
        raise ProblemError(403, "this action needs the admin role")
    return viewer


AdminViewer = Annotated[Viewer, Depends(admin_viewer)]
