"""The demo's organisation: a ward, its clinicians, and the scenario's patients, gateways,
devices and enrolments -- written once into a fresh database."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

import psycopg

# Device kinds as `vigil sim devices` names them -> the gateway's profile names.
PROFILE_OF_KIND = {
    "pulse_oximeter": "pulse_oximeter",
    "bp_cuff": "blood_pressure",
    "thermometer": "thermometer",
    "weight_scale": "weight_scale",
    "glucose_meter": "glucose_meter",
    "heart_rate_strap": "heart_rate",
}

DISPLAY_NAMES = {
    "demo-copd": "Margaret Hale (COPD)",
    "demo-htn": "Arthur Penrose (hypertension)",
    "demo-home": "Edith Carver (post-discharge)",
    "demo-stable": "Samuel Okafor (general)",
}


@dataclass(frozen=True)
class DemoDevice:
    address: str
    kind: str
    name: str
    patient: str
    gateway: str

    @property
    def profile(self) -> str:
        return PROFILE_OF_KIND[self.kind]


@dataclass(frozen=True)
class Logins:
    clinician_email: str
    clinician_password: str
    admin_email: str
    admin_password: str


def nhs_number(serial: int) -> str:
    """A valid NHS number in the 999 test range (never issued to a real person)."""
    while True:
        digits = [int(c) for c in f"999{serial:06d}"]
        remainder = sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 11 - remainder
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)
        serial += 1


def is_seeded(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT count(*) FROM organisations WHERE name = 'Vigil demo'").fetchone()
    return bool(row and row[0])


def seed(
    conn: psycopg.Connection, devices: list[DemoDevice], conditions: dict[str, str]
) -> Logins:
    from api.security import hash_password
    from ingest import registry

    logins = Logins(
        clinician_email="clinician@demo.vigil",
        clinician_password=secrets.token_urlsafe(9),
        admin_email="admin@demo.vigil",
        admin_password=secrets.token_urlsafe(12),
    )
    org = registry.create_organisation(conn, "Vigil demo")
    ward = registry.create_team(conn, org, "Virtual ward A")
    other = registry.create_team(conn, org, "Community heart failure team")
    registry.create_user(conn, org, logins.clinician_email, "Dr Demo Clinician",
                         hash_password(logins.clinician_password), "clinician", (ward,))
    registry.create_user(conn, org, logins.admin_email, "Demo Admin",
                         hash_password(logins.admin_password), "admin", (ward, other))
    patient_ids: dict[str, int] = {}
    for serial, patient in enumerate(sorted({d.patient for d in devices}), start=101):
        patient_ids[patient] = registry.create_patient(
            conn, org, nhs_number(serial), DISPLAY_NAMES.get(patient, patient),
            date(1948 + serial % 30, 1 + serial % 12, 1 + serial % 27), (ward,))
        conn.execute(
            "INSERT INTO rule_settings (patient_id, condition) VALUES (%s, %s)",
            (patient_ids[patient], conditions.get(patient, "general_adult")))
    for gateway in sorted({d.gateway for d in devices}):
        registry.create_gateway(conn, gateway, org, f"Home gateway {gateway}")
    for device in devices:
        device_id = registry.create_device(conn, device.address, model=device.name,
                                           manufacturer="Vigil emulated")
        registry.enrol(conn, patient_ids[device.patient], device_id, device.gateway)
    return logins
