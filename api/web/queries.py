"""Reads the dashboard needs beyond the API's resources. Every query is for a patient the
caller has already resolved through the API's scope (`find_patient`) or filters with the
API's `visible` rule itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from api.auth import Viewer
from api.db import Connection
from api.scope import visible
from api.web.charts import Reading
from vigil.metrics import BY_NUMBER, CATALOGUE, Metric
from vigil.news2 import METRIC_PARAMETER
from vigil.quality import QUESTIONABLE

QUESTIONABLE_FLAGS = sorted(flag.value for flag in QUESTIONABLE)


async def db_now(conn: Connection) -> datetime:
    cur = await conn.execute("SELECT now()")
    row = await cur.fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


async def user_names(conn: Connection, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    cur = await conn.execute("SELECT id, display_name FROM users WHERE id = ANY(%s)",
                             (sorted(ids),))
    return {int(row[0]): str(row[1]) for row in await cur.fetchall()}


@dataclass(frozen=True, slots=True)
class PatientSummary:
    id: int
    nhs_number: str
    display_name: str
    date_of_birth: Any
    condition: str
    live_alerts: int
    top_severity: str | None


async def visible_patients(conn: Connection, viewer: Viewer, limit: int) -> list[PatientSummary]:
    """Active patients the viewer may see, with their live alert count and worst severity."""
    query = sql.SQL("""
        SELECT p.id, p.nhs_number, p.display_name, p.date_of_birth,
               coalesce(rs.condition, 'general_adult'),
               count(a.id) AS live,
               (array_agg(a.severity ORDER BY a.severity_rank DESC))[1] AS top
        FROM patients p
        LEFT JOIN rule_settings rs ON rs.patient_id = p.id
        LEFT JOIN alerts a ON a.patient_id = p.id AND a.state <> 'resolved'
        WHERE p.active AND {visible}
        GROUP BY p.id, rs.condition
        ORDER BY p.display_name, p.id
        LIMIT %s
    """).format(visible=visible("p.id", viewer))
    cur = await conn.execute(query, (limit,))
    return [PatientSummary(row[0], row[1], row[2], row[3], row[4], row[5], row[6])
            for row in await cur.fetchall()]


async def metrics_seen(conn: Connection, patient_id: int, since: datetime) -> list[Metric]:
    """Metrics with a reading since `since`: one index probe per catalogue metric."""
    cur = await conn.execute(
        """
        SELECT m.number FROM unnest(%s::smallint[]) AS m(number)
        WHERE EXISTS (SELECT 1 FROM readings r WHERE r.patient_id = %s
                      AND r.metric = m.number AND r.measured_at >= %s)
        ORDER BY m.number
        """,
        (sorted(BY_NUMBER), patient_id, since))
    return [BY_NUMBER[row[0]].metric for row in await cur.fetchall()]


async def reading_count(conn: Connection, patient_id: int, metric: Metric, since: datetime,
                        until: datetime) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM readings WHERE patient_id = %s AND metric = %s "
        "AND measured_at >= %s AND measured_at < %s",
        (patient_id, CATALOGUE[metric].number, since, until))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


def _reading(row: tuple[Any, ...]) -> Reading:
    at, value, origin, quality = row
    flags = tuple(flag for flag in quality if flag in QUESTIONABLE_FLAGS)
    return Reading(at=at, value=value, late=origin == "late", questionable=bool(flags),
                   flags=flags)


async def flagged_readings(conn: Connection, patient_id: int, metric: Metric, since: datetime,
                           until: datetime, limit: int = 300) -> list[Reading]:
    """Questionable or late readings in the range: drawn over a bucketed chart, where the
    buckets alone would hide them."""
    cur = await conn.execute(
        """
        SELECT measured_at, value, origin, quality FROM readings
        WHERE patient_id = %s AND metric = %s AND measured_at >= %s AND measured_at < %s
          AND (origin = 'late' OR quality && %s::text[])
        ORDER BY measured_at DESC LIMIT %s
        """,
        (patient_id, CATALOGUE[metric].number, since, until, QUESTIONABLE_FLAGS, limit))
    return [_reading(row) for row in reversed(await cur.fetchall())]


async def recent_readings(conn: Connection, patient_id: int, metric: Metric,
                          limit: int = 5) -> list[Reading]:
    cur = await conn.execute(
        "SELECT measured_at, value, origin, quality FROM readings WHERE patient_id = %s "
        "AND metric = %s ORDER BY measured_at DESC LIMIT %s",
        (patient_id, CATALOGUE[metric].number, limit))
    return [_reading(row) for row in await cur.fetchall()]


async def latest_trusted_news2(conn: Connection,
                               patient_id: int) -> list[tuple[Metric, float, datetime]]:
    """The newest reading of each NEWS2 metric that carries no questionable flag (the rule
    excludes those too)."""
    numbers = sorted(CATALOGUE[m].number for m in METRIC_PARAMETER)
    cur = await conn.execute(
        """
        SELECT m.number, r.value, r.measured_at
        FROM unnest(%s::smallint[]) AS m(number)
        CROSS JOIN LATERAL (
            SELECT value, measured_at FROM readings
            WHERE patient_id = %s AND metric = m.number AND NOT (quality && %s::text[])
            ORDER BY measured_at DESC LIMIT 1
        ) AS r
        """,
        (numbers, patient_id, QUESTIONABLE_FLAGS))
    return [(BY_NUMBER[row[0]].metric, float(row[1]), row[2]) for row in await cur.fetchall()]


@dataclass(frozen=True, slots=True)
class RuleChange:
    at: datetime
    actor: str | None
    condition: str | None
    version: int | None


async def rule_changes(conn: Connection, patient_id: int, limit: int = 8) -> list[RuleChange]:
    """The audited history of the patient's rule settings, newest first."""
    cur = await conn.execute(
        """
        SELECT a.at, u.display_name, a.details -> 'after' ->> 'condition',
               (a.details ->> 'version')::int
        FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id
        WHERE a.patient_id = %s AND a.action = 'rules.update'
        ORDER BY a.seq DESC LIMIT %s
        """,
        (patient_id, limit))
    return [RuleChange(*row) for row in await cur.fetchall()]
