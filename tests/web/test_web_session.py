"""The dashboard session and CSRF tokens (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from api.security import Role, issue_token, read_token
from api.web import session as sessions

SECRET = "session-test-secret-0123456789abcdefghij"
ISSUER = "vigil"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
IDLE, SHIFT = timedelta(minutes=30), timedelta(hours=12)


def cookie(at: datetime = T0, signed_in: datetime = T0) -> str:
    session = sessions.new_session("42", "clinician", signed_in)
    value, _ = sessions.encode(session, secret=SECRET, issuer=ISSUER, now=at, idle=IDLE,
                               max_age=SHIFT)
    return value


def read(value: str | None, now: datetime, secret: str = SECRET) -> sessions.Session:
    return sessions.decode(value, secret=secret, issuer=ISSUER, now=now, max_age=SHIFT)


def test_round_trip() -> None:
    session = read(cookie(), T0 + timedelta(minutes=5))
    assert session.subject == "42" and session.signed_in_at == T0
    assert session.expires_at == T0 + IDLE


@pytest.mark.parametrize(("value", "now", "reason"), [
    (None, T0, "not signed in"),
    ("", T0, "not signed in"),
    ("garbage", T0, "invalid session"),
    (cookie(), T0 + IDLE, "expired"),
    (cookie(), T0 + IDLE + timedelta(seconds=1), "expired"),
])
def test_refused(value: str | None, now: datetime, reason: str) -> None:
    with pytest.raises(sessions.InvalidSession, match=reason):
        read(value, now)


def test_forged_with_another_secret() -> None:
    forged = cookie()
    with pytest.raises(sessions.InvalidSession):
        read(forged, T0, secret="another-secret-of-a-sufficient-length-000")


def test_alg_none_refused() -> None:
    token = jwt.encode({"sub": "1", "sid": "x", "lat": 0, "iat": 0, "exp": 2**31,
                        "iss": "vigil/ui", "aud": "vigil-ui"}, key=None, algorithm="none")
    with pytest.raises(sessions.InvalidSession):
        read(token, T0)


def test_an_api_token_is_not_a_session_and_a_session_is_not_an_api_token() -> None:
    api_token, _ = issue_token("42", Role.CLINICIAN, SECRET, timedelta(minutes=15), ISSUER,
                               now=T0)
    with pytest.raises(sessions.InvalidSession):
        read(api_token, T0)
    from api.security import InvalidToken

    with pytest.raises(InvalidToken):
        read_token(cookie(datetime.now(UTC), datetime.now(UTC)), SECRET, ISSUER)


def test_renewal_slides_but_never_past_the_shift() -> None:
    session = read(cookie(), T0)
    assert not sessions.needs_renewal(session, T0 + timedelta(seconds=30))
    assert sessions.needs_renewal(session, T0 + timedelta(minutes=2))
    at = T0
    # Keep renewing every 20 minutes: the session lives until the shift ends, then stops.
    value = cookie()
    while True:
        at += timedelta(minutes=20)
        try:
            current = read(value, at)
        except sessions.InvalidSession as exc:
            assert "maximum length" in str(exc) or "expired" in str(exc)
            break
        value, renewed = sessions.encode(current, secret=SECRET, issuer=ISSUER, now=at,
                                         idle=IDLE, max_age=SHIFT)
        assert renewed.signed_in_at == T0 and renewed.session_id == current.session_id
        assert renewed.expires_at <= T0 + SHIFT
    assert T0 + SHIFT - timedelta(minutes=20) <= at <= T0 + SHIFT + timedelta(minutes=20)


def test_csrf_token_is_per_session_and_constant_across_renewals() -> None:
    a = sessions.csrf_token("session-a", SECRET)
    assert a == sessions.csrf_token("session-a", SECRET)
    assert a != sessions.csrf_token("session-b", SECRET)
    assert a != sessions.csrf_token("session-a", SECRET + "x")
    assert sessions.csrf_matches(a, a)
    assert not sessions.csrf_matches(a, None)
    assert not sessions.csrf_matches(a, "")
    assert not sessions.csrf_matches(a, a[:-1] + ("0" if a[-1] != "0" else "1"))


@pytest.mark.parametrize(("target", "expected"), [
    (None, "/ui/alerts"),
    ("/ui/patients/3?range=7d", "/ui/patients/3?range=7d"),
    ("https://evil.example/ui/", "/ui/alerts"),
    ("//evil.example/ui/x", "/ui/alerts"),
    ("/ui/\\evil", "/ui/alerts"),
    ("/api/alerts", "/ui/alerts"),
    ("/ui/x\r\nSet-Cookie: a=b", "/ui/alerts"),
])
def test_safe_next(target: str | None, expected: str) -> None:
    assert sessions.safe_next(target) == expected
