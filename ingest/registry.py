"""Seeding the directory and the fleet: organisations, teams, users, patients, gateways,
devices and enrolments. Plain functions over a psycopg connection, used by tests, the demo and
the fleet simulator. Each runs in the caller's transaction (commit is the caller's choice).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg

from ingest.nhs import normalise_nhs_number
from vigil.messages import normalise_device_id
from vigil.topics import Channel as _Channel
from vigil.topics import InvalidTopic, topic


class AlreadyEnrolled(ValueError):
    """The device already has an enrolment overlapping the requested period."""


def _id(cursor: psycopg.Cursor[tuple[int]]) -> int:
    row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def create_organisation(conn: psycopg.Connection, name: str) -> int:
    return _id(conn.execute(
        "INSERT INTO organisations (name) VALUES (%s) RETURNING id", (name,)))


def create_team(conn: psycopg.Connection, organisation_id: int, name: str) -> int:
    return _id(conn.execute(
        "INSERT INTO care_teams (organisation_id, name) VALUES (%s, %s) RETURNING id",
        (organisation_id, name)))


def create_user(
    conn: psycopg.Connection,
    organisation_id: int,
    email: str,
    display_name: str,
    password_hash: str,
    role: str = "clinician",
    team_ids: tuple[int, ...] = (),
) -> int:
    """A clinician or admin; the password is hashed by the caller (the API owns hashing)."""
    user_id = _id(conn.execute(
        "INSERT INTO users (organisation_id, email, display_name, password_hash, role) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (organisation_id, email, display_name, password_hash, role)))
    for team_id in team_ids:
        add_team_member(conn, team_id, user_id)
    return user_id


def add_team_member(conn: psycopg.Connection, team_id: int, user_id: int) -> None:
    conn.execute("INSERT INTO team_members (team_id, user_id) VALUES (%s, %s) "
                 "ON CONFLICT DO NOTHING", (team_id, user_id))


def create_patient(
    conn: psycopg.Connection,
    organisation_id: int,
    nhs_number: str,
    display_name: str,
    date_of_birth: date | None = None,
    team_ids: tuple[int, ...] = (),
) -> int:
    """Raises ingest.nhs.InvalidNhsNumber before touching the database."""
    patient_id = _id(conn.execute(
        "INSERT INTO patients (organisation_id, nhs_number, display_name, date_of_birth) "
        "VALUES (%s, %s, %s, %s) RETURNING id",
        (organisation_id, normalise_nhs_number(nhs_number), display_name, date_of_birth)))
    for team_id in team_ids:
        add_patient_to_team(conn, patient_id, team_id)
    return patient_id


def add_patient_to_team(conn: psycopg.Connection, patient_id: int, team_id: int) -> None:
    conn.execute("INSERT INTO patient_teams (patient_id, team_id) VALUES (%s, %s) "
                 "ON CONFLICT DO NOTHING", (patient_id, team_id))


def create_gateway(
    conn: psycopg.Connection, gateway_id: str, organisation_id: int, label: str | None = None
) -> str:
    """The gateway id is its MQTT username; it must be valid in a topic."""
    topic(gateway_id, _Channel.STATUS)  # raises InvalidTopic for an unusable id
    conn.execute("INSERT INTO gateways (id, organisation_id, label) VALUES (%s, %s, %s)",
                 (gateway_id, organisation_id, label))
    return gateway_id


def create_device(
    conn: psycopg.Connection,
    address: str,
    *,
    serial: str | None = None,
    model: str | None = None,
    manufacturer: str | None = None,
    firmware: str | None = None,
) -> int:
    """A physical device by its wire id (normalised like vigil.messages does). Addresses are
    unique: a fleet simulator must give every simulated device its own."""
    return _id(conn.execute(
        "INSERT INTO devices (address, serial, model, manufacturer, firmware) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (normalise_device_id(address), serial, model, manufacturer, firmware)))


def enrol(
    conn: psycopg.Connection,
    patient_id: int,
    device_id: int,
    gateway_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """Enrol a device for a patient through a gateway over [start, end) (open-ended when end
    is None). Raises AlreadyEnrolled when it would overlap another enrolment of the device."""
    start = start or datetime.now(UTC)
    try:
        with conn.transaction():
            return _id(conn.execute(
                "INSERT INTO enrolments (patient_id, device_id, gateway_id, period) "
                "VALUES (%s, %s, %s, tstzrange(%s, %s, '[)')) RETURNING id",
                (patient_id, device_id, gateway_id, start, end)))
    except psycopg.errors.ExclusionViolation as exc:
        raise AlreadyEnrolled(
            f"device {device_id} already has an enrolment overlapping {start}..{end}"
        ) from exc


def end_enrolment(
    conn: psycopg.Connection, enrolment_id: int, at: datetime | None = None,
    reason: str | None = None,
) -> None:
    """Close an enrolment at `at` (now by default); readings measured after it are rejected."""
    conn.execute(
        "UPDATE enrolments SET period = tstzrange(lower(period), %s, '[)'), ended_reason = %s "
        "WHERE id = %s",
        (at or datetime.now(UTC), reason, enrolment_id))


__all__ = [
    "AlreadyEnrolled",
    "InvalidTopic",
    "add_patient_to_team",
    "add_team_member",
    "create_device",
    "create_gateway",
    "create_organisation",
    "create_patient",
    "create_team",
    "create_user",
    "end_enrolment",
    "enrol",
]
