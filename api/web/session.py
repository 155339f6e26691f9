"""The dashboard's sign-in session and CSRF tokens, free of I/O.

The session cookie holds a token of its own (HS256 with the API's JWT secret, but another
issuer and audience, so it is never accepted as an API bearer token nor an API token as a
session). It names the user and carries the sign-in time and a random session id:
- idle expiry (`exp`) slides forward on each request, the sign-in time never moves, so a
  session ends after `idle_timeout` without requests or `max_session` after sign-in;
- the CSRF token is an HMAC of the session id, so it stays valid while the session renews
  and dies with it, without any server-side store.
The user's existence, activity and role are checked in the database on every request (the
API's own `viewer_from_token`), so deactivating a clinician ends their session at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

AUDIENCE = "vigil-ui"
ALGORITHM = "HS256"
COOKIE = "vigil_session"
LOGIN_CSRF_COOKIE = "vigil_login_csrf"
# Renewing on every request would rewrite the cookie on every request; once a minute is
# plenty when the idle timeout is tens of minutes.
RENEW_AFTER = timedelta(seconds=60)


class InvalidSession(Exception):
    """No usable session: missing, forged, expired, or past its maximum age."""


@dataclass(frozen=True, slots=True)
class Session:
    subject: str
    role: str
    session_id: str
    signed_in_at: datetime
    issued_at: datetime
    expires_at: datetime


def ui_issuer(api_issuer: str) -> str:
    return f"{api_issuer}/ui"


def new_session(subject: str, role: str, now: datetime) -> Session:
    now = now.replace(microsecond=0)
    return Session(subject=subject, role=role, session_id=secrets.token_urlsafe(16),
                   signed_in_at=now, issued_at=now, expires_at=now)


def encode(session: Session, *, secret: str, issuer: str, now: datetime,
           idle: timedelta, max_age: timedelta) -> tuple[str, Session]:
    """The cookie value for `session` renewed at `now`, and the renewed session. Expiry is
    `now + idle`, never past `signed_in_at + max_age`."""
    now = now.replace(microsecond=0)
    expires = min(now + idle, session.signed_in_at + max_age)
    renewed = Session(session.subject, session.role, session.session_id, session.signed_in_at,
                      now, expires)
    token = jwt.encode(
        {"sub": session.subject, "role": session.role, "sid": session.session_id,
         "lat": int(session.signed_in_at.timestamp()), "iat": int(now.timestamp()),
         "exp": int(expires.timestamp()), "iss": ui_issuer(issuer), "aud": AUDIENCE},
        secret, algorithm=ALGORITHM)
    return token, renewed


def decode(token: str | None, *, secret: str, issuer: str, now: datetime,
           max_age: timedelta) -> Session:
    """The session in a cookie value; raises InvalidSession with the reason."""
    if not token:
        raise InvalidSession("not signed in")
    try:
        # Pinned algorithm (no alg=none, no confusion). Expiry is judged below against the
        # caller's `now` rather than pyjwt's reading of the system clock, so it is testable.
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ui_issuer(issuer),
            options={"require": ["sub", "sid", "lat", "iat", "exp", "iss", "aud"],
                     "verify_exp": False, "verify_iat": False})
    except jwt.InvalidTokenError as exc:
        raise InvalidSession(f"invalid session: {exc}") from None
    try:
        signed_in = datetime.fromtimestamp(int(claims["lat"]), UTC)
        issued = datetime.fromtimestamp(int(claims["iat"]), UTC)
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (TypeError, ValueError, OverflowError):
        raise InvalidSession("invalid session: bad times") from None
    if now >= expires:
        raise InvalidSession("session expired")
    if now >= signed_in + max_age:
        raise InvalidSession("session reached its maximum length")
    return Session(str(claims["sub"]), str(claims.get("role", "")), str(claims["sid"]),
                   signed_in, issued, expires)


def needs_renewal(session: Session, now: datetime) -> bool:
    return now - session.issued_at >= RENEW_AFTER


def csrf_token(session_id: str, secret: str) -> str:
    return hmac.new(secret.encode(), f"vigil-ui-csrf:{session_id}".encode(),
                    hashlib.sha256).hexdigest()


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def safe_next(target: str | None, default: str = "/ui/alerts") -> str:
    """Where to go after sign-in: only a path inside the dashboard, never another site
    (an open redirect would make the sign-in page a phishing tool)."""
    if (not target or not target.startswith("/ui/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return default
    return target
