"""Seeding and client helpers for the API tests: a small world of two care teams."""

from __future__ import annotations

import functools
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from api.security import Role, hash_password, issue_token
from api.settings import ApiSettings
from ingest import registry
from vigil.metrics import CATALOGUE, Metric

SECRET = "test-secret-for-vigil-api-tests-0123456789"
ISSUER = "vigil"
PASSWORD = "correct horse battery staple"


@functools.cache
def password_hash() -> str:
    # argon2 is slow on purpose: hash once per test session.
    return hash_password(PASSWORD)


def nhs_number(seed: int) -> str:
    """A valid NHS number derived from `seed` (skipping check digit 10)."""
    base = 900_000_000 + seed * 7
    while True:
        digits = f"{base:09d}"
        total = sum(int(d) * (10 - i) for i, d in enumerate(digits))
        check = 11 - total % 11
        check = 0 if check == 11 else check
        if check != 10:
            return digits + str(check)
        base += 1


def settings_for(url: str, **extra: object) -> ApiSettings:
    return ApiSettings(database_url=url, jwt_secret=SECRET, log_json=False,  # type: ignore[arg-type]
                       sse_heartbeat_s=1.0, **extra)  # type: ignore[arg-type]


def token_for(user_id: int, role: Role, ttl: timedelta = timedelta(minutes=15),
              secret: str = SECRET, now: datetime | None = None) -> str:
    token, _ = issue_token(str(user_id), role, secret, ttl, ISSUER, now=now)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    url: str
    organisation: int
    team_a: int
    team_b: int
    admin: int
    alice: int  # clinician, team A
    bob: int  # clinician, team B
    patient_a: int
    patient_b: int
    gateway_a: str
    gateway_b: str
    device_a: int
    device_b: int
    enrolment_a: int
    enrolment_b: int
    alert_a: int
    alert_b: int
    admin_email: str = "admin@example.org"
    alice_email: str = "alice@example.org"
    bob_email: str = "bob@example.org"

    def headers(self, user: str) -> dict[str, str]:
        user_id = getattr(self, user)
        role = Role.ADMIN if user == "admin" else Role.CLINICIAN
        return bearer(token_for(user_id, role))


def insert_alert(
    conn: psycopg.Connection,
    patient_id: int,
    *,
    rule_key: str = "threshold:spo2",
    severity: str = "medium",
    message: str = "SpO2 below 92 % for 15 s",
    measured_at: datetime | None = None,
    value: float = 90.0,
) -> int:
    at = measured_at or datetime.now(UTC) - timedelta(minutes=2)
    row = conn.execute(
        """
        INSERT INTO alerts (patient_id, rule_key, severity, message, opened_at,
                            last_evidence_at, last_value, trigger_reading_id, trigger_metric,
                            trigger_value, trigger_measured_at, paged_at, details)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now(), '{"source": "test"}')
        RETURNING id
        """,
        (patient_id, rule_key, severity, message, at, at, value, uuid.uuid4(),
         CATALOGUE[Metric.SPO2].number, value, at),
    ).fetchone()
    assert row is not None
    return int(row[0])


def insert_readings(
    conn: psycopg.Connection,
    patient_id: int,
    device_id: int,
    metric: Metric,
    values: list[tuple[datetime, float]],
    *,
    origin: str = "live",
    quality: tuple[str, ...] = (),
) -> list[str]:
    ids: list[str] = []
    number = CATALOGUE[metric].number
    with conn.cursor() as cur:
        for at, value in values:
            reading_id = uuid.uuid4()
            ids.append(str(reading_id))
            cur.execute("INSERT INTO reading_ids (reading_id, measured_at) VALUES (%s, %s)",
                        (reading_id, at))
            cur.execute(
                "INSERT INTO readings (measured_at, received_at, patient_id, device_id, metric, "
                "value, quality, origin, reading_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (at, at + timedelta(seconds=2), patient_id, device_id, number, value,
                 list(quality), origin, reading_id))
    return ids


def seed_world(url: str) -> World:
    with psycopg.connect(url) as conn:
        org = registry.create_organisation(conn, f"Trust {uuid.uuid4().hex[:6]}")
        team_a = registry.create_team(conn, org, "Virtual ward A")
        team_b = registry.create_team(conn, org, "Virtual ward B")
        admin = registry.create_user(conn, org, "admin@example.org", "Ada Admin",
                                     password_hash(), role="admin")
        alice = registry.create_user(conn, org, "alice@example.org", "Alice Clinician",
                                     password_hash(), team_ids=(team_a,))
        bob = registry.create_user(conn, org, "bob@example.org", "Bob Clinician",
                                   password_hash(), team_ids=(team_b,))
        patient_a = registry.create_patient(conn, org, nhs_number(1), "Patient A",
                                            team_ids=(team_a,))
        patient_b = registry.create_patient(conn, org, nhs_number(2), "Patient B",
                                            team_ids=(team_b,))
        gateway_a = registry.create_gateway(conn, "gw-a", org, "Home A")
        gateway_b = registry.create_gateway(conn, "gw-b", org, "Home B")
        device_a = registry.create_device(conn, "AA:00:00:00:00:01", model="Oxi 1")
        device_b = registry.create_device(conn, "BB:00:00:00:00:02", model="Oxi 2")
        start = datetime.now(UTC) - timedelta(days=2)
        enrolment_a = registry.enrol(conn, patient_a, device_a, gateway_a, start)
        enrolment_b = registry.enrol(conn, patient_b, device_b, gateway_b, start)
        now = datetime.now(UTC)
        for patient, device in ((patient_a, device_a), (patient_b, device_b)):
            insert_readings(conn, patient, device, Metric.SPO2,
                            [(now - timedelta(minutes=m), 96.0 - (m % 3)) for m in range(60)])
        alert_a = insert_alert(conn, patient_a)
        alert_b = insert_alert(conn, patient_b)
        conn.commit()
    return World(url, org, team_a, team_b, admin, alice, bob, patient_a, patient_b, gateway_a,
                 gateway_b, device_a, device_b, enrolment_a, enrolment_b, alert_a, alert_b)


class ServerThread:
    """The app under a real uvicorn server on a free loopback port (streaming needs a real
    connection: the test client buffers whole responses)."""

    def __init__(self, app: object) -> None:
        import uvicorn

        from devstack.ports import free_port

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port,  # type: ignore[arg-type]
                                log_config=None, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        from devstack.ports import wait_for_port

        self.thread.start()
        wait_for_port(self.port, timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
