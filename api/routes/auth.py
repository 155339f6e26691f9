"""Sign-in (OAuth2 password flow) issuing short-lived JWTs, and who am I."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api import audit
from api.auth import CurrentViewer, Settings, client_ip
from api.db import Conn
from api.models.auth import Me, Token
from api.problems import ProblemError, responses, unauthenticated
from api.ratelimit import Throttle
from api.security import Role, issue_token, verify_password

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=Token, responses=responses(400, 401, 422, 429))
async def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    conn: Conn,
    settings: Settings,
    request: Request,
) -> Token:
    """Exchange email (as `username`) and password for a bearer token. After repeated
    failures for a username or from an address, attempts are refused with 429 and
    Retry-After."""
    # NUL cannot be stored in PostgreSQL text and no email contains it.
    username = form.username.replace("\x00", "").strip().lower()[:320]
    ip = client_ip(request)
    throttle = Throttle(settings.login_max_failures, timedelta(seconds=settings.login_window_s))
    wait = await throttle.retry_after(conn, username, ip)
    if wait is not None:
        raise ProblemError(429, f"too many failed sign-in attempts; retry in {wait} s",
                           headers={"Retry-After": str(wait)})
    cur = await conn.execute(
        "SELECT id, password_hash, role FROM users WHERE lower(email) = %s AND active",
        (username,))
    row = await cur.fetchone()
    # Verify even for unknown users: equal cost, so timing does not reveal who exists.
    # argon2 is deliberately slow: keep it off the event loop.
    matched = await anyio.to_thread.run_sync(verify_password, row[1] if row else None,
                                             form.password)
    ok = matched and row is not None
    await throttle.record(conn, username, ip, ok)
    if not ok or row is None:
        raise unauthenticated("wrong email or password")
    token, claims = issue_token(
        str(row[0]), Role(row[2]), settings.jwt_secret.get_secret_value(),
        timedelta(seconds=settings.jwt_ttl_s), settings.jwt_issuer)
    await audit.record(conn, actor_id=row[0], action="auth.sign_in", entity_type="user",
                       entity_id=row[0], client_ip=ip)
    return Token(access_token=token, expires_in=settings.jwt_ttl_s,
                 expires_at=claims.expires_at)


@router.get("/auth/me", response_model=Me, responses=responses(401))
async def me(viewer: CurrentViewer, conn: Conn) -> Me:
    cur = await conn.execute(
        "SELECT coalesce(array_agg(team_id ORDER BY team_id), '{}') FROM team_members "
        "WHERE user_id = %s", (viewer.id,))
    row = await cur.fetchone()
    return Me(id=viewer.id, email=viewer.email, display_name=viewer.display_name,
              role=viewer.role, organisation_id=viewer.organisation_id,
              team_ids=list(row[0]) if row else [], token_expires_at=viewer.token_expires_at)
