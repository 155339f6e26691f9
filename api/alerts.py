"""Alert queries and clinician actions.

Actions use the pure lifecycle of vigil.rules (acknowledge, snooze, resolve) on the alert
locked FOR UPDATE, so the API and the rule engine agree on every transition; an impossible
action raises InvalidTransition, answered as 409. The UPDATE sets last_action/last_reason and
the transaction's `vigil.actor_id`, from which the database trigger records the alert_events
row (migration 0100); the audit entry is written in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from api import audit
from api.auth import Viewer
from api.db import Connection
from api.models.alerts import AlertEventOut, AlertOut
from api.problems import ProblemError, not_found
from api.scope import visible
from vigil.metrics import BY_NUMBER
from vigil.rules import AlertState, AlertStatus, InvalidTransition, Severity

ALERT_COLUMNS = sql.SQL("""
    a.id, a.patient_id, p.display_name AS patient_name, a.rule_key, a.severity, a.state,
    a.message, a.opened_at, a.created_at, a.updated_at, a.last_evidence_at, a.last_value,
    greatest(0, extract(epoch FROM now() - a.last_evidence_at))::float8 AS evidence_age_seconds,
    a.trigger_reading_id::text AS trigger_reading_id, a.trigger_metric, a.trigger_value,
    a.trigger_measured_at, a.late, a.cause, a.details, a.paged_at, a.escalation_level,
    a.escalated_at, a.acknowledged_at, a.acknowledged_by, a.acknowledged_note,
    a.snoozed_until, coalesce(a.snoozed_until > now(), false) AS snoozed, a.snoozed_by,
    a.resolved_at, a.resolved_by, a.resolution_source, a.resolution, a.last_action
""")


def alert_out(row: dict[str, Any]) -> AlertOut:
    spec = BY_NUMBER.get(row["trigger_metric"]) if row["trigger_metric"] is not None else None
    return AlertOut.model_validate({
        **row,
        "trigger_metric": spec.metric if spec else None,
        "trigger_unit": spec.ucum if spec else None,
    })


async def list_alerts(
    conn: Connection,
    viewer: Viewer,
    *,
    states: Sequence[AlertStatus],
    severities: Sequence[Severity],
    patient_id: int | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> list[AlertOut]:
    """The queue: snoozed alerts last, then most severe first, then longest waiting first."""
    query = sql.SQL("""
        SELECT {columns}
        FROM alerts a JOIN patients p ON p.id = a.patient_id
        WHERE {visible}
          AND a.state = ANY(%(states)s)
          AND (cardinality(%(severities)s::text[]) = 0 OR a.severity = ANY(%(severities)s))
          AND (%(patient)s::int IS NULL OR a.patient_id = %(patient)s)
          AND (%(since)s::timestamptz IS NULL OR a.updated_at >= %(since)s)
        ORDER BY coalesce(a.snoozed_until > now(), false), a.severity_rank DESC,
                 a.opened_at, a.id
        LIMIT %(limit)s OFFSET %(offset)s
    """).format(columns=ALERT_COLUMNS, visible=visible("a.patient_id", viewer))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {
            "states": [s.value for s in states], "severities": [s.value for s in severities],
            "patient": patient_id, "since": since, "limit": limit, "offset": offset})
        return [alert_out(row) for row in await cur.fetchall()]


async def get_alert(conn: Connection, viewer: Viewer, alert_id: int) -> AlertOut:
    query = sql.SQL(
        "SELECT {columns} FROM alerts a JOIN patients p ON p.id = a.patient_id "
        "WHERE a.id = %s AND {visible}"
    ).format(columns=ALERT_COLUMNS, visible=visible("a.patient_id", viewer))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (alert_id,))
        row = await cur.fetchone()
    if row is None:
        raise not_found("alert")
    return alert_out(row)


async def alert_events(conn: Connection, alert_id: int) -> list[AlertEventOut]:
    """History of an alert the caller has already been authorised to see."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT e.id, e.at, e.actor_id, u.display_name AS actor_name, e.action, "
            "e.from_state, e.to_state, e.from_severity, e.to_severity, e.snoozed_until, e.note "
            "FROM alert_events e LEFT JOIN users u ON u.id = e.actor_id "
            "WHERE e.alert_id = %s ORDER BY e.id", (alert_id,))
        return [AlertEventOut.model_validate(row) for row in await cur.fetchall()]


def _state(row: dict[str, Any]) -> AlertState:
    return AlertState(
        rule_key=row["rule_key"], status=AlertStatus(row["state"]),
        severity=Severity(row["severity"]), opened_at=row["opened_at"],
        updated_at=row["updated_at"], last_evidence_at=row["last_evidence_at"],
        last_value=row["last_value"], paged_at=row["paged_at"],
        acknowledged_at=row["acknowledged_at"], snoozed_until=row["snoozed_until"],
        escalation_level=row["escalation_level"], late=row["late"],
        resolved_at=row["resolved_at"], resolved_by=row["resolution_source"],
        resolution=row["resolution"])


Change = Callable[[AlertState, datetime], AlertState]


async def act(
    conn: Connection,
    viewer: Viewer,
    alert_id: int,
    *,
    action: str,
    change: Change,
    note: str | None,
    client_ip: str,
) -> AlertOut:
    """Apply one clinician action to an alert the viewer may see, recorded and audited."""
    now = datetime.now(UTC)
    async with conn.transaction():
        query = sql.SQL(
            "SELECT a.* FROM alerts a WHERE a.id = %s AND {visible} FOR UPDATE OF a"
        ).format(visible=visible("a.patient_id", viewer))
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, (alert_id,))
            row = await cur.fetchone()
        if row is None:
            raise not_found("alert")
        before = _state(row)
        try:
            after = change(before, now)
        except InvalidTransition as exc:
            raise ProblemError(409, str(exc)) from None
        updates: dict[str, Any] = {
            "state": after.status.value, "snoozed_until": after.snoozed_until,
            "last_action": action, "last_reason": note,
        }
        if action == "acknowledge":
            updates |= {"acknowledged_at": after.acknowledged_at,
                        "acknowledged_by": viewer.id, "acknowledged_note": note}
        elif action == "snooze":
            updates |= {"snoozed_by": viewer.id}
        elif action == "resolve":
            updates |= {"resolved_at": after.resolved_at, "resolved_by": viewer.id,
                        "resolution_source": "clinician", "resolution": after.resolution,
                        "snoozed_by": None}
        # The alert triggers attribute the change (and its alert_events row) to this user.
        await conn.execute("SELECT set_config('vigil.actor_id', %s, true)", (str(viewer.id),))
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in updates)
        await conn.execute(
            sql.SQL("UPDATE alerts SET {} WHERE id = %(id)s").format(assignments),
            {**updates, "id": alert_id})
        await audit.record(
            conn, actor_id=viewer.id, action=f"alert.{action}", entity_type="alert",
            entity_id=alert_id, patient_id=row["patient_id"], client_ip=client_ip,
            details={"note": note, "from_state": before.status.value,
                     "to_state": after.status.value, "severity": before.severity.value,
                     "snoozed_until": after.snoozed_until.isoformat()
                     if after.snoozed_until else None})
    return await get_alert(conn, viewer, alert_id)
