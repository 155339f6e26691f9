"""A realistic virtual ward for the dashboard's tests and screenshots, deterministic by seed.

Seeded the way the real system fills the database: the directory and fleet through
ingest.registry (users with the API's argon2 hash), readings and their dedupe ids with COPY
as ingest's writer does, alerts as rows the rule engine would write (the table's trigger
records their history and sends NOTIFY), and clinician actions as the API would update them.
"""

from __future__ import annotations

import functools
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from api.security import hash_password
from api.settings import ApiSettings
from ingest import migrate, registry
from ingest.db_cli import sync_metrics
from ingest.nhs import valid_nhs_number
from vigil.metrics import CATALOGUE, Metric

SECRET = "web-dashboard-test-secret-0123456789abcdef"
PASSWORD = "ward round 7 ready"
CLINICIAN_EMAIL = "priya.shah@northgate.example"
OTHER_EMAIL = "tom.reed@northgate.example"


@functools.cache
def password_hash() -> str:
    # argon2 is slow on purpose: hash once per test session.
    return hash_password(PASSWORD)


def settings_for(url: str, **extra: object) -> ApiSettings:
    return ApiSettings(database_url=url, jwt_secret=SECRET, log_json=False,  # type: ignore[arg-type]
                       sse_heartbeat_s=1.0, **extra)  # type: ignore[arg-type]


def migrate_db(url: str) -> None:
    migrate.migrate(url)
    with psycopg.connect(url) as conn:
        sync_metrics(conn)
        conn.commit()


def nhs_number(seed: int) -> str:
    return valid_nhs_number(943_476_000 + seed * 37, step=37_000)


@dataclass
class Ward:
    url: str
    organisation: int
    team: int
    other_team: int
    clinician: int
    other_clinician: int
    now: datetime
    patients: dict[str, int] = field(default_factory=dict)
    devices: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    at: datetime
    patient: int
    device: int
    metric: Metric
    value: float
    quality: tuple[str, ...] = ()
    origin: str = "live"


def copy_readings(conn: psycopg.Connection, rows: list[Row]) -> None:
    """COPY readings and their dedupe ids, as ingest's writer does."""
    ids = [uuid.uuid4() for _ in rows]
    with conn.cursor() as cur:
        with cur.copy("COPY reading_ids (reading_id, measured_at) FROM STDIN") as copy:
            for reading_id, row in zip(ids, rows, strict=True):
                copy.write_row((reading_id, row.at))
        with cur.copy("COPY readings (measured_at, received_at, patient_id, device_id, metric, "
                      "value, quality, origin, reading_id) FROM STDIN") as copy:
            for reading_id, row in zip(ids, rows, strict=True):
                received = row.at + (timedelta(hours=7) if row.origin == "late"
                                     else timedelta(seconds=3))
                copy.write_row((row.at, received, row.patient, row.device,
                                CATALOGUE[row.metric].number, row.value, list(row.quality),
                                row.origin, reading_id))


def insert_alert(conn: psycopg.Connection, patient: int, *, rule_key: str, severity: str,
                 message: str, opened: datetime, metric: Metric | None = None,
                 value: float | None = None, cause: str | None = None,
                 late: bool = False, details: dict[str, object] | None = None) -> int:
    """An alert row as the rule engine writes it (the trigger records it and NOTIFYs)."""
    row = conn.execute(
        """
        INSERT INTO alerts (patient_id, rule_key, severity, message, opened_at,
                            last_evidence_at, last_value, trigger_reading_id, trigger_metric,
                            trigger_value, trigger_measured_at, late, cause, paged_at, details)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
        """,
        (patient, rule_key, severity, message, opened, opened, value,
         uuid.uuid4() if metric else None, CATALOGUE[metric].number if metric else None,
         value if metric else None, opened if metric else None, late, cause,
         None if late else opened, Jsonb(details or {}))).fetchone()
    assert row is not None
    return int(row[0])


def acknowledge(conn: psycopg.Connection, alert: int, user: int, at: datetime,
                note: str) -> None:
    conn.execute(
        "UPDATE alerts SET state = 'acknowledged', acknowledged_at = %s, acknowledged_by = %s, "
        "acknowledged_note = %s, last_action = 'acknowledge', last_actor_id = %s, "
        "last_reason = %s WHERE id = %s", (at, user, note, user, note, alert))


def snooze(conn: psycopg.Connection, alert: int, user: int, until: datetime, note: str) -> None:
    conn.execute(
        "UPDATE alerts SET snoozed_until = %s, snoozed_by = %s, last_action = 'snooze', "
        "last_actor_id = %s, last_reason = %s WHERE id = %s", (until, user, user, note, alert))


def resolve(conn: psycopg.Connection, alert: int, user: int | None, at: datetime,
            note: str) -> None:
    conn.execute(
        "UPDATE alerts SET state = 'resolved', resolved_at = %s, resolved_by = %s, "
        "resolution_source = %s, resolution = %s, snoozed_until = NULL, last_action = 'resolve',"
        " last_actor_id = %s, last_reason = %s WHERE id = %s",
        (at, user, "clinician" if user else "rule", note, user, note, alert))


def _wave(rng: random.Random, base: float, amplitude: float, noise: float, t: float) -> float:
    return base + amplitude * math.sin(t / 86400 * 2 * math.pi) + rng.gauss(0, noise)


def _series(rng: random.Random, patient: int, device: int, metric: Metric, now: datetime, *,
            every: timedelta, span: timedelta, base: float, amplitude: float, noise: float,
            decimals: int, until: datetime | None = None) -> list[Row]:
    rows: list[Row] = []
    end = until or now
    t = end - span
    while t <= end:
        seconds = (t - (now - span)).total_seconds()
        value = round(_wave(rng, base, amplitude, noise, seconds), decimals)
        rows.append(Row(t, patient, device, metric, value))
        t += every
    return rows


def _gateway(conn: psycopg.Connection, gateway: str, org: int, label: str, *, online: bool,
             last_seen: datetime, since: datetime) -> None:
    registry.create_gateway(conn, gateway, org, label)
    conn.execute(
        "UPDATE gateways SET status = %s, status_at = %s, last_seen = %s, "
        "heartbeat_interval_s = 60, software_version = '0.1.0', outbox_depth = %s, "
        "status_reason = %s WHERE id = %s",
        ("online" if online else "offline", since if online else last_seen, last_seen,
         0 if online else 14, None if online else "connection lost (last will)", gateway))


def _device(conn: psycopg.Connection, address: str, model: str, maker: str, *,
            battery: int, seen: datetime) -> int:
    device = registry.create_device(conn, address, model=model, manufacturer=maker)
    conn.execute("UPDATE devices SET battery_level = %s, last_seen = %s WHERE id = %s",
                 (battery, seen, device))
    return device


def _rules(conn: psycopg.Connection, patient: int, condition: str, user: int,
           overrides: dict[str, object] | None = None) -> None:
    conn.execute("INSERT INTO rule_settings (patient_id, condition, overrides, updated_by) "
                 "VALUES (%s, %s, %s, %s)", (patient, condition, Jsonb(overrides or {}), user))
    conn.execute("SELECT vigil_audit_append(%s, 'rules.update', 'rule_settings', %s, %s, "
                 "'127.0.0.1', %s)",
                 (user, str(patient), patient,
                  Jsonb({"before": None, "after": {"condition": condition,
                                                   "overrides": overrides or {}},
                         "version": 1})))


def seed_ward(url: str, seed: int = 7) -> Ward:
    """Six patients of one virtual ward (and one of another team), 30 days of readings."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    day, hour, minute = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
    enrolled = now - 31 * day
    with psycopg.connect(url) as conn:
        org = registry.create_organisation(conn, f"Northgate NHS Trust {uuid.uuid4().hex[:4]}")
        team = registry.create_team(conn, org, "Respiratory virtual ward")
        other_team = registry.create_team(conn, org, "Cardiology virtual ward")
        clinician = registry.create_user(conn, org, CLINICIAN_EMAIL, "Dr Priya Shah",
                                         password_hash(), team_ids=(team,))
        other = registry.create_user(conn, org, OTHER_EMAIL, "Tom Reed (nurse)",
                                     password_hash(), team_ids=(other_team,))
        ward = Ward(url, org, team, other_team, clinician, other, now)

        def patient(key: str, name: str, born: date, teams: tuple[int, ...] = (team,)) -> int:
            pid = registry.create_patient(conn, org, nhs_number(len(ward.patients) + 1), name,
                                          born, team_ids=teams)
            ward.patients[key] = pid
            return pid

        rows: list[Row] = []

        # Margaret: COPD, continuous oximeter; SpO2 falling this last hour -> high alert.
        margaret = patient("margaret", "Margaret Okafor", date(1946, 3, 14))
        _gateway(conn, "gw-okafor", org, "Okafor home", online=True,
                 last_seen=now - timedelta(seconds=20), since=now - 3 * day)
        oxi = ward.devices["oxi"] = _device(conn, "C4:7F:51:0A:11:01", "Nonin 3230", "Nonin",
                                            battery=64, seen=now - minute)
        thermo = _device(conn, "C4:7F:51:0A:11:02", "Braun ThermoScan", "Braun", battery=15,
                         seen=now - 9 * hour)
        for device in (oxi, thermo):
            registry.enrol(conn, margaret, device, "gw-okafor", enrolled)
        older = _series(rng, margaret, oxi, Metric.SPO2, now, every=hour, span=30 * day,
                        base=90.5, amplitude=1.2, noise=0.8, decimals=0, until=now - day)
        recent = _series(rng, margaret, oxi, Metric.SPO2, now, every=5 * minute, span=day,
                         base=90.5, amplitude=1.0, noise=0.7, decimals=0)
        dip = [Row(r.at, r.patient, r.device, r.metric,
                   r.value - (3 + (r.at - (now - hour)).total_seconds() / 900)
                   if r.at > now - hour else r.value) for r in recent]
        # A probe artefact and an outage whose readings arrived late.
        dip = [Row(r.at, r.patient, r.device, r.metric, 79.0, ("signal_inadequate",))
               if i in (40, 41, 150) else r for i, r in enumerate(dip)]
        dip = [Row(r.at, r.patient, r.device, r.metric, r.value, r.quality, "late")
               if now - 14 * hour <= r.at < now - 11 * hour else r for r in dip]
        rows += older + dip
        rows += _series(rng, margaret, oxi, Metric.PULSE_RATE, now, every=5 * minute, span=day,
                        base=88, amplitude=5, noise=3, decimals=0)
        rows += _series(rng, margaret, oxi, Metric.PULSE_RATE, now, every=hour, span=30 * day,
                        base=86, amplitude=5, noise=3, decimals=0, until=now - day)
        rows += _series(rng, margaret, thermo, Metric.BODY_TEMPERATURE, now, every=12 * hour,
                        span=30 * day, base=37.0, amplitude=0.3, noise=0.2, decimals=1,
                        until=now - 9 * hour)
        ward.alerts["margaret_spo2"] = insert_alert(
            conn, margaret, rule_key="threshold:spo2", severity="high", metric=Metric.SPO2,
            value=84.0, opened=now - 7 * minute,
            message="SpO2 below 85 % (scale 2 target 88-92 %)")
        old = insert_alert(conn, margaret, rule_key="threshold:pulse_rate", severity="medium",
                           metric=Metric.PULSE_RATE, value=114.0, opened=now - 6 * day,
                           message="Pulse rate at or above 111 /min for 15 s")
        acknowledge(conn, old, clinician, now - 6 * day + 20 * minute, "Called patient")
        resolve(conn, old, clinician, now - 6 * day + 2 * hour, "Settled after rest; reviewed")

        # David: heart failure, weight rising; medium trend alert acknowledged.
        david = patient("david", "David Hughes", date(1951, 11, 2))
        _gateway(conn, "gw-hughes", org, "Hughes home", online=True,
                 last_seen=now - timedelta(seconds=20), since=now - 10 * day)
        scale = _device(conn, "D0:39:72:44:A0:10", "A&D UC-352BLE", "A&D", battery=81,
                        seen=now - 5 * hour)
        cuff = _device(conn, "D0:39:72:44:A0:11", "Omron M7", "Omron", battery=55,
                       seen=now - 5 * hour)
        for device in (scale, cuff):
            registry.enrol(conn, david, device, "gw-hughes", enrolled)
        weights = _series(rng, david, scale, Metric.BODY_WEIGHT, now, every=day, span=30 * day,
                          base=82.0, amplitude=0.2, noise=0.25, decimals=1,
                          until=now - 5 * hour)
        rows += [Row(r.at, r.patient, r.device, r.metric, round(r.value + max(0.0, 2.6 - (
            now - r.at).total_seconds() / 86400 * 0.8), 1)) for r in weights]
        rows += _series(rng, david, cuff, Metric.SYSTOLIC_BP, now, every=12 * hour,
                        span=30 * day, base=128, amplitude=6, noise=5, decimals=0,
                        until=now - 5 * hour)
        rows += _series(rng, david, cuff, Metric.DIASTOLIC_BP, now, every=12 * hour,
                        span=30 * day, base=78, amplitude=4, noise=4, decimals=0,
                        until=now - 5 * hour)
        ward.alerts["david_weight"] = trend = insert_alert(
            conn, david, rule_key="trend:body_weight", severity="medium",
            metric=Metric.BODY_WEIGHT, value=84.7, opened=now - 5 * hour,
            message="Body weight up 2.4 kg in 3 days")
        acknowledge(conn, trend, clinician, now - 4 * hour,
                    "Phoned: ankles swollen; GP asked to review diuretic")

        # John: hypertension; his gateway went offline 9 h ago -> missing-data alert.
        john = patient("john", "John Whitfield", date(1958, 6, 21))
        _gateway(conn, "gw-whitfield", org, "Whitfield home", online=False,
                 last_seen=now - 9 * hour, since=now - 9 * hour)
        bp = _device(conn, "E1:22:09:31:77:05", "Omron M7", "Omron", battery=48,
                     seen=now - 21 * hour)
        registry.enrol(conn, john, bp, "gw-whitfield", enrolled)
        rows += _series(rng, john, bp, Metric.SYSTOLIC_BP, now, every=12 * hour, span=30 * day,
                        base=146, amplitude=8, noise=6, decimals=0, until=now - 21 * hour)
        rows += _series(rng, john, bp, Metric.DIASTOLIC_BP, now, every=12 * hour, span=30 * day,
                        base=91, amplitude=4, noise=4, decimals=0, until=now - 21 * hour)
        ward.alerts["john_missing"] = insert_alert(
            conn, john, rule_key="missing:systolic_bp", severity="low",
            opened=now - 6 * hour, cause="gateway_offline",
            message="No blood pressure for 15 h: the home gateway is offline")

        # Aisha: general adult, wearable with respiratory rate; NEWS2 medium (RR 23).
        aisha = patient("aisha", "Aisha Rahman", date(1987, 9, 30))
        _gateway(conn, "gw-rahman", org, "Rahman home", online=True, last_seen=now - minute,
                 since=now - 2 * day)
        patch = _device(conn, "F3:10:8C:02:5B:90", "VitalPatch", "VitalConnect", battery=72,
                        seen=now - 2 * minute)
        aisha_thermo = _device(conn, "F3:10:8C:02:5B:91", "Withings Thermo", "Withings",
                               battery=90, seen=now - 40 * minute)
        for device in (patch, aisha_thermo):
            registry.enrol(conn, aisha, device, "gw-rahman", enrolled)
        for metric, base, amp, noise, dec in ((Metric.SPO2, 96, 0.6, 0.6, 0),
                                              (Metric.HEART_RATE, 96, 8, 4, 0),
                                              (Metric.RESPIRATORY_RATE, 20, 2, 1.2, 0)):
            rows += _series(rng, aisha, patch, metric, now, every=10 * minute, span=day,
                            base=base, amplitude=amp, noise=noise, decimals=dec,
                            until=now - 2 * minute)
            rows += _series(rng, aisha, patch, metric, now, every=2 * hour, span=30 * day,
                            base=base - 1, amplitude=amp, noise=noise, decimals=dec,
                            until=now - day)
        rows.append(Row(now - 3 * minute, aisha, patch, Metric.RESPIRATORY_RATE, 23.0))
        rows += _series(rng, aisha, aisha_thermo, Metric.BODY_TEMPERATURE, now, every=8 * hour,
                        span=30 * day, base=37.4, amplitude=0.4, noise=0.2, decimals=1,
                        until=now - 40 * minute)
        rows.append(Row(now - 40 * minute + timedelta(seconds=1), aisha, aisha_thermo,
                        Metric.BODY_TEMPERATURE, 38.4))
        ward.alerts["aisha_news2"] = insert_alert(
            conn, aisha, rule_key="news2", severity="medium", metric=Metric.RESPIRATORY_RATE,
            value=23.0, opened=now - 3 * minute,
            message="NEWS2 at least 5 from an incomplete set: urgent review",
            details={"scores": {"respiration_rate": 2, "spo2": 0, "pulse": 1,
                                "temperature": 1}})

        # Elena: general adult, all well; thermometer battery low.
        elena = patient("elena", "Elena Petrova", date(1972, 1, 8))
        _gateway(conn, "gw-petrova", org, "Petrova home", online=True, last_seen=now - minute,
                 since=now - 20 * day)
        elena_oxi = _device(conn, "A9:41:6E:10:03:20", "Masimo MightySat", "Masimo",
                            battery=77, seen=now - 3 * minute)
        elena_thermo = _device(conn, "A9:41:6E:10:03:21", "Braun ThermoScan", "Braun",
                               battery=12, seen=now - 2 * hour)
        for device in (elena_oxi, elena_thermo):
            registry.enrol(conn, elena, device, "gw-petrova", enrolled)
        rows += _series(rng, elena, elena_oxi, Metric.SPO2, now, every=15 * minute,
                        span=30 * day, base=97, amplitude=0.5, noise=0.6, decimals=0,
                        until=now - 3 * minute)
        rows += _series(rng, elena, elena_oxi, Metric.PULSE_RATE, now, every=15 * minute,
                        span=30 * day, base=72, amplitude=6, noise=3, decimals=0,
                        until=now - 3 * minute)
        rows += _series(rng, elena, elena_thermo, Metric.BODY_TEMPERATURE, now,
                        every=12 * hour, span=30 * day, base=36.8, amplitude=0.2, noise=0.15,
                        decimals=1, until=now - 2 * hour)

        # Samuel: COPD, a snoozed low alert; Grace: not yet enrolled.
        samuel = patient("samuel", "Samuel Osei", date(1949, 4, 17))
        _gateway(conn, "gw-osei", org, "Osei home", online=True, last_seen=now - minute,
                 since=now - 5 * day)
        samuel_oxi = _device(conn, "B2:60:11:9C:40:01", "Nonin 3230", "Nonin", battery=58,
                             seen=now - 25 * minute)
        registry.enrol(conn, samuel, samuel_oxi, "gw-osei", enrolled)
        rows += _series(rng, samuel, samuel_oxi, Metric.SPO2, now, every=2 * hour,
                        span=30 * day, base=89, amplitude=1, noise=0.8, decimals=0,
                        until=now - 25 * minute)
        snoozed = insert_alert(conn, samuel, rule_key="threshold:spo2", severity="low",
                               metric=Metric.SPO2, value=87.0, opened=now - 50 * minute,
                               message="SpO2 below 88 % for 15 s")
        snooze(conn, snoozed, clinician, now + 70 * minute,
               "Known to dip after exertion; recheck after rest")
        ward.alerts["samuel_snoozed"] = snoozed
        patient("grace", "Grace Adeyemi", date(1990, 12, 5))

        # Another team's patient: the clinician must never see her.
        hidden = patient("hidden", "Harriet Cole", date(1960, 2, 2), teams=(other_team,))
        ward.alerts["hidden"] = insert_alert(
            conn, hidden, rule_key="threshold:spo2", severity="high", metric=Metric.SPO2,
            value=83.0, opened=now - 2 * minute, message="SpO2 below 85 %")

        _rules(conn, margaret, "copd", clinician, {"news2": {"on_oxygen": False},
                                                  "thresholds": {"spo2": {"sustain": "PT30S"}}})
        _rules(conn, david, "heart_failure", clinician)
        _rules(conn, john, "hypertension", clinician)
        _rules(conn, samuel, "copd", clinician)
        copy_readings(conn, rows)
        conn.commit()
    return ward
