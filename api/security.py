"""Password hashing (argon2id) and access tokens (JWT, HS256), free of I/O."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a miss costs as long as a wrong password
# and response time does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

ALGORITHM = "HS256"


class Role(StrEnum):
    ADMIN = "admin"
    CLINICIAN = "clinician"


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or uses another algorithm."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; a missing or unreadable hash never matches."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    role: Role
    issued_at: datetime
    expires_at: datetime


def issue_token(
    subject: str, role: Role, secret: str, ttl: timedelta, issuer: str,
    now: datetime | None = None,
) -> tuple[str, TokenClaims]:
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = TokenClaims(subject, role, issued, issued + ttl)
    token = jwt.encode(
        {
            "sub": subject,
            "role": role.value,
            "iat": int(issued.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "iss": issuer,
            "jti": uuid.uuid4().hex,
        },
        secret,
        algorithm=ALGORITHM,
    )
    return token, claims


def read_token(token: str, secret: str, issuer: str) -> TokenClaims:
    """Verify signature, algorithm, expiry and issuer; raises InvalidToken with the reason."""
    try:
        # Pinning the algorithm list is what refuses alg=none and algorithm confusion.
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=issuer,
            options={"require": ["exp", "iat", "sub", "role", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid token: {exc}") from None
    try:
        role = Role(payload["role"])
    except ValueError:
        raise InvalidToken("invalid token: unknown role") from None
    return TokenClaims(
        subject=str(payload["sub"]),
        role=role,
        issued_at=datetime.fromtimestamp(payload["iat"], UTC),
        expires_at=datetime.fromtimestamp(payload["exp"], UTC),
    )
