"""Building monitoring status from the fleet tables, with freshness judged per value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from api.db import Connection
from api.models.common import freshness
from api.models.status import DeviceStatusOut, GatewayStatusOut, LatestValue, PatientStatus
from vigil.metrics import BY_NUMBER, CATALOGUE, Metric
from vigil.quality import QUESTIONABLE
from vigil.rules import RuleSet

_QUESTIONABLE = frozenset(flag.value for flag in QUESTIONABLE)
_METRIC_NUMBERS = sorted(spec.number for spec in CATALOGUE.values())


@dataclass(frozen=True, slots=True)
class Allowances:
    gateway_heartbeat: timedelta
    stale_factor: float
    default_stale_after: timedelta


GATEWAY_COLUMNS = (
    "g.id, g.label, g.status, g.status_at, g.status_reason, g.last_seen, "
    "g.software_version, g.outbox_depth, g.oldest_pending_at, g.heartbeat_interval_s"
)


def gateway_status(row: tuple[Any, ...], now: datetime, allow: Allowances) -> GatewayStatusOut:
    (gw_id, label, reported, status_at, reason, last_seen, version, depth, oldest,
     heartbeat) = row
    interval = timedelta(seconds=heartbeat) if heartbeat else allow.gateway_heartbeat
    seen = freshness(last_seen, now, interval * allow.stale_factor)
    state = reported
    if reported == "online" and seen.stale:
        state = "offline"
        age = "never" if seen.age_seconds is None else f"for {seen.age_seconds:.0f} s"
        reason = f"reported online but silent {age} (heartbeat {interval.total_seconds():g} s)"
    return GatewayStatusOut(
        id=gw_id, label=label, state=state, reported_state=reported, state_since=status_at,
        state_reason=reason, last_seen=seen, heartbeat_interval_s=heartbeat,
        outbox_depth=depth, oldest_pending_at=oldest, software_version=version)


def expected_after(ruleset: RuleSet, metric: Metric, default: timedelta) -> timedelta:
    rule = ruleset.missing.get(metric)
    return rule.every + rule.grace if rule is not None else default


async def patient_status(conn: Connection, patient_id: int, ruleset: RuleSet,
                         allow: Allowances) -> PatientStatus:
    cur = await conn.execute("SELECT now()")
    now_row = await cur.fetchone()
    assert now_row is not None
    now: datetime = now_row[0]

    cur = await conn.execute(
        f"SELECT {GATEWAY_COLUMNS} FROM gateways g WHERE g.id IN (SELECT e.gateway_id "
        "FROM enrolments e WHERE e.patient_id = %s AND e.period @> now()) ORDER BY g.id",
        (patient_id,))
    gateways = [gateway_status(row, now, allow) for row in await cur.fetchall()]

    cur = await conn.execute(
        """
        SELECT m.number, r.value, r.measured_at, r.device_id, r.origin, r.quality
        FROM unnest(%s::smallint[]) AS m(number)
        CROSS JOIN LATERAL (
            SELECT value, measured_at, device_id, origin, quality FROM readings
            WHERE patient_id = %s AND metric = m.number
            ORDER BY measured_at DESC LIMIT 1
        ) AS r
        ORDER BY m.number
        """,
        (_METRIC_NUMBERS, patient_id))
    latest: list[LatestValue] = []
    for number, value, measured_at, device_id, origin, quality in await cur.fetchall():
        spec = BY_NUMBER.get(number)
        if spec is None:
            continue
        after = expected_after(ruleset, spec.metric, allow.default_stale_after)
        latest.append(LatestValue(
            metric=spec.metric, display=spec.display, value=value, unit=spec.ucum,
            device_id=device_id, late=origin == "late",
            questionable=not _QUESTIONABLE.isdisjoint(quality),
            reading=freshness(measured_at, now, after)))

    cur = await conn.execute(
        """
        SELECT d.id, d.address, d.model, d.manufacturer, e.gateway_id, lower(e.period),
               d.last_seen, d.battery_level, b.at
        FROM enrolments e
        JOIN devices d ON d.id = e.device_id
        LEFT JOIN LATERAL (
            SELECT ev.at FROM device_events ev
            WHERE ev.device_id = d.id AND ev.battery_level IS NOT NULL
            ORDER BY ev.at DESC LIMIT 1
        ) AS b ON true
        WHERE e.patient_id = %s AND e.period @> now()
        ORDER BY d.id
        """,
        (patient_id,))
    devices: list[DeviceStatusOut] = []
    for (dev_id, address, model, maker, gateway_id, since, last_seen, battery,
         battery_at) in await cur.fetchall():
        measured = [v for v in latest if v.device_id == dev_id]
        heard = [t for t in [last_seen, *(v.reading.at for v in measured)] if t is not None]
        after = min((expected_after(ruleset, v.metric, allow.default_stale_after)
                     for v in measured), default=allow.default_stale_after)
        devices.append(DeviceStatusOut(
            id=dev_id, address=address, model=model, manufacturer=maker, gateway_id=gateway_id,
            enrolled_since=since, last_seen=freshness(max(heard, default=None), now, after),
            battery_level=battery,
            battery=freshness(battery_at or (last_seen if battery is not None else None), now,
                              max(after, allow.default_stale_after)),
            metrics=[v.metric for v in measured]))

    return PatientStatus(patient_id=patient_id, checked_at=now,
                         monitoring=_monitoring(gateways, devices, latest),
                         gateways=gateways, devices=devices, latest=latest)


def _monitoring(gateways: list[GatewayStatusOut], devices: list[DeviceStatusOut],
                latest: list[LatestValue]
                ) -> Literal["ok", "degraded", "stopped", "not_enrolled"]:
    if not devices:
        return "not_enrolled"
    if all(g.state != "online" for g in gateways) or all(d.last_seen.stale for d in devices):
        return "stopped"
    if any(d.last_seen.stale for d in devices) or any(v.reading.stale for v in latest):
        return "degraded"
    return "ok"
