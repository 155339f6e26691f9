"""Seeding the database with the fleet: organisation, team, patients, gateways, devices and
enrolments, so that ingest knows whose readings the fleet sends (without enrolments it
dead-letters them as unknown devices).

This is the one module of the simulators that imports `ingest` -- through `ingest.registry`,
the registry's own seeding functions, imported lazily inside `enrol_fleet` -- as a test and tool
convenience: a gateway never enrols itself. Idempotent: running it again for the same fleet
finds what exists and creates only what is missing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.fleet.roster import Roster

ORGANISATION = "Vigil fleet simulator"
TEAM = "Simulated virtual ward"
# Enrolments start well before any simulated measurement: a compressed run replays the past.
DEFAULT_LOOKBACK = timedelta(days=400)


class EnrolmentConflict(RuntimeError):
    """A device of the fleet is already enrolled to someone else over the period."""


@dataclass(frozen=True, slots=True)
class EnrolmentSummary:
    organisation_id: int
    team_id: int
    patients_created: int
    gateways_created: int
    devices_created: int
    enrolments_created: int
    # Our patient id -> the database's patient id.
    patient_ids: dict[str, int]

    def line(self) -> str:
        return (f"enrolled: {self.patients_created} patients, {self.gateways_created} "
                f"gateways, {self.devices_created} devices, {self.enrolments_created} "
                f"enrolments created ({len(self.patient_ids)} patients in the fleet)")


def nhs_test_number(patient_id: str, attempt: int) -> str | None:
    """A number in the NHS test range (999 000 0000 - 999 999 9999, never issued to a
    person), derived from the patient id; None when this attempt has no valid check digit."""
    from ingest.nhs import check_digit

    digest = hashlib.blake2b(f"{patient_id}\x1f{attempt}".encode(), digest_size=8).digest()
    first = f"999{int.from_bytes(digest, 'little') % 10**6:06d}"
    digit = check_digit(first)
    return None if digit is None else first + str(digit)


def _one(conn: Any, sql: str, params: tuple[object, ...]) -> Any:
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def enrol_fleet(database_url: str, roster: Roster,
                since: datetime | None = None) -> EnrolmentSummary:
    import psycopg

    from ingest import registry

    since = since or datetime.now(UTC) - DEFAULT_LOOKBACK
    created = {"patients": 0, "gateways": 0, "devices": 0, "enrolments": 0}
    with psycopg.connect(database_url) as conn:
        org = _one(conn, "SELECT id FROM organisations WHERE name = %s", (ORGANISATION,))
        if org is None:
            org = registry.create_organisation(conn, ORGANISATION)
        team = _one(conn, "SELECT id FROM care_teams WHERE organisation_id = %s AND name = %s",
                    (org, TEAM))
        if team is None:
            team = registry.create_team(conn, org, TEAM)

        names = list(roster.patients)
        patients: dict[str, int] = dict(conn.execute(
            "SELECT display_name, id FROM patients WHERE organisation_id = %s "
            "AND display_name = ANY(%s)", (org, names)).fetchall())
        taken = {row[0] for row in conn.execute(
            "SELECT nhs_number FROM patients WHERE nhs_number LIKE '999%%'")}
        for name in names:
            if name in patients:
                continue
            attempt = 0
            while (number := nhs_test_number(name, attempt)) is None or number in taken:
                attempt += 1
            taken.add(number)
            patients[name] = registry.create_patient(conn, org, number, name, team_ids=(team,))
            created["patients"] += 1

        gateway_ids = [g.id for g in roster.gateways]
        known_gateways = {row[0] for row in conn.execute(
            "SELECT id FROM gateways WHERE id = ANY(%s)", (gateway_ids,))}
        for gateway in roster.gateways:
            if gateway.id not in known_gateways:
                registry.create_gateway(conn, gateway.id, org, label="simulated")
                created["gateways"] += 1

        devices = roster.devices
        addresses = [d.id for d in devices]
        device_ids: dict[str, int] = dict(conn.execute(
            "SELECT address, id FROM devices WHERE address = ANY(%s)", (addresses,)).fetchall())
        current = {row[0]: (row[1], row[2]) for row in conn.execute(
            "SELECT device_id, patient_id, gateway_id FROM enrolments "
            "WHERE device_id = ANY(%s) AND (upper_inf(period) OR upper(period) > now())",
            (list(device_ids.values()),))}
        for device in devices:
            if device.id not in device_ids:
                device_ids[device.id] = registry.create_device(
                    conn, device.id, model=f"simulated {device.kind.value}",
                    manufacturer="Vigil simulators")
                created["devices"] += 1
            db_id = device_ids[device.id]
            wanted = (patients[device.patient_id], roster.gateways[device.gateway].id)
            if current.get(db_id) == wanted:
                continue
            try:
                registry.enrol(conn, wanted[0], db_id, wanted[1], start=since)
            except registry.AlreadyEnrolled as exc:
                raise EnrolmentConflict(
                    f"device {device.id} is already enrolled to another patient or gateway "
                    f"since {since:%Y-%m-%d}; use another --prefix or a fresh database"
                ) from exc
            created["enrolments"] += 1
        conn.commit()
    return EnrolmentSummary(
        organisation_id=int(org), team_id=int(team),
        patients_created=created["patients"], gateways_created=created["gateways"],
        devices_created=created["devices"], enrolments_created=created["enrolments"],
        patient_ids={name: int(pid) for name, pid in patients.items()},
    )
