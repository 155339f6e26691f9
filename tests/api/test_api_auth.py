"""Sign-in, tokens and throttling: every protected route refuses missing, expired, forged and
alg=none tokens with a 401 problem."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import psycopg
import pytest
from api_helpers import PASSWORD, SECRET, World, bearer, token_for
from fastapi.testclient import TestClient

from api.app import create_app
from api.security import Role
from api.settings import ApiSettings

PUBLIC = {"/healthz", "/auth/token"}


def protected_routes() -> list[tuple[str, str]]:
    """Every operation in the OpenAPI document except the public ones."""
    app = create_app(ApiSettings(jwt_secret=SECRET))  # type: ignore[arg-type]
    paths = app.openapi()["paths"]
    found = [(method.upper(), path) for path, operations in paths.items()
             for method in operations if path not in PUBLIC]
    assert len(found) > 20
    return found


def fill(path: str, world: World) -> str:
    return (path.replace("{patient_id}", str(world.patient_a))
            .replace("{alert_id}", str(world.alert_a))
            .replace("{enrolment_id}", str(world.enrolment_a))
            .replace("{gateway_id}", world.gateway_a))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens(world: World) -> dict[str, str | None]:
    now = datetime.now(UTC)
    claims = {"sub": str(world.alice), "role": "clinician", "iss": "vigil",
              "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=5)).timestamp())}
    return {
        "missing": None,
        "garbage": "not-a-jwt",
        "expired": token_for(world.alice, Role.CLINICIAN, ttl=timedelta(minutes=15),
                             now=now - timedelta(hours=1)),
        "forged": token_for(world.admin, Role.ADMIN, secret="another-secret-of-sufficient-length"),
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "wrong_issuer": jwt.encode({**claims, "iss": "someone-else"}, SECRET, algorithm="HS256"),
        "unknown_user": token_for(999_999, Role.ADMIN),
    }


@pytest.mark.parametrize(("method", "path"), protected_routes())
def test_every_protected_route_refuses_bad_tokens(
    client: TestClient, world: World, method: str, path: str
) -> None:
    url = fill(path, world)
    for name, token in bad_tokens(world).items():
        headers = bearer(token) if token is not None else {}
        response = client.request(method, url, headers=headers, json={})
        assert response.status_code == 401, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == 401 and problem["type"].endswith("/unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"


def test_sign_in_issues_a_short_lived_token(client: TestClient, world: World) -> None:
    response = client.post("/auth/token",
                           data={"username": "Alice@Example.org", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"], issuer="vigil")
    assert claims["sub"] == str(world.alice) and claims["role"] == "clinician"
    assert claims["exp"] - claims["iat"] == 900
    me = client.get("/auth/me", headers=bearer(body["access_token"])).json()
    assert me["email"] == "alice@example.org" and me["team_ids"] == [world.team_a]


def test_wrong_password_is_a_401_problem(client: TestClient, world: World) -> None:
    response = client.post("/auth/token", data={"username": "bob@example.org", "password": "x"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "wrong email or password"


def test_inactive_user_token_is_refused(own_client: TestClient, own_world: World) -> None:
    headers = own_world.headers("bob")
    assert own_client.get("/auth/me", headers=headers).status_code == 200
    with psycopg.connect(own_world.url, autocommit=True) as conn:
        conn.execute("UPDATE users SET active = false WHERE id = %s", (own_world.bob,))
    assert own_client.get("/auth/me", headers=headers).status_code == 401


def _failures(url: str, rows: list[tuple[str, str]]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for username, ip in rows:
            conn.execute("INSERT INTO login_attempts (username, client_ip, success) "
                         "VALUES (%s, %s, false)", (username, ip))


def test_sign_in_throttled_per_username(own_client: TestClient, own_world: World) -> None:
    # Four failures from four other addresses, then a fifth from ours: the username locks
    # although no single address reached the limit.
    _failures(own_world.url, [("alice@example.org", f"198.51.100.{n}") for n in range(4)])
    wrong = own_client.post("/auth/token", data={"username": "alice@example.org",
                                                 "password": "nope"})
    assert wrong.status_code == 401
    locked = own_client.post("/auth/token",
                             data={"username": "alice@example.org", "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.headers["content-type"] == "application/problem+json"
    assert locked.json()["status"] == 429
    assert 1 <= int(locked.headers["retry-after"]) <= 300
    # Our address has one failure only: another user signs in fine.
    assert own_client.post("/auth/token", data={"username": "bob@example.org",
                                                "password": PASSWORD}).status_code == 200
    # Once the failures leave the window, alice may sign in again.
    with psycopg.connect(own_world.url, autocommit=True) as conn:
        conn.execute("UPDATE login_attempts SET at = at - interval '301 seconds'")
    again = own_client.post("/auth/token",
                            data={"username": "alice@example.org", "password": PASSWORD})
    assert again.status_code == 200


def test_sign_in_throttled_per_client_address(own_client: TestClient,
                                              own_world: World) -> None:
    # Password spraying: one failure each for many usernames from one address.
    for n in range(5):
        assert own_client.post("/auth/token", data={"username": f"nobody{n}@example.org",
                                                    "password": "guess"}).status_code == 401
    blocked = own_client.post("/auth/token",
                              data={"username": "bob@example.org", "password": PASSWORD})
    assert blocked.status_code == 429 and "retry-after" in blocked.headers
    with psycopg.connect(own_world.url, autocommit=True) as conn:
        failures = conn.execute(
            "SELECT count(*) FROM login_attempts WHERE NOT success").fetchone()
    # The refused attempt was not even checked, so it is not counted as a failure.
    assert failures == (5,)


def test_success_resets_the_username_count(own_client: TestClient, own_world: World) -> None:
    _failures(own_world.url, [("alice@example.org", f"203.0.113.{n}") for n in range(4)])
    assert own_client.post("/auth/token", data={"username": "alice@example.org",
                                                "password": PASSWORD}).status_code == 200
    _failures(own_world.url, [("alice@example.org", f"203.0.113.{n}") for n in range(4)])
    # Four failures since the success: still allowed.
    assert own_client.post("/auth/token", data={"username": "alice@example.org",
                                                "password": PASSWORD}).status_code == 200


def test_sign_in_is_audited(own_client: TestClient, own_world: World) -> None:
    own_client.post("/auth/token", data={"username": "bob@example.org", "password": PASSWORD})
    with psycopg.connect(own_world.url, autocommit=True) as conn:
        rows = conn.execute("SELECT actor_id, action FROM audit_log").fetchall()
    assert rows == [(own_world.bob, "auth.sign_in")]
