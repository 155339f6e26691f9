"""What the missing-data rules ask of the fleet tables: when monitoring started, the newest
reading per expected metric, and whether its gateway and device are in touch.

Gateway status and last_seen are set by ingest from the gateway's status messages (retained
status, last will, heartbeats); device last_seen and battery from status device lists,
events and readings. A metric's device is the one that delivered its newest reading (while
still enrolled); its gateway is that device's enrolment gateway. A metric never measured has
no known device, and the patient's most recently heard gateway stands in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from ingest.alerting.store import int_array
from vigil.metrics import BY_NUMBER, CATALOGUE, Metric
from vigil.rules import DevicePresence, GatewayPresence

ENROLMENTS = """
SELECT e.patient_id, e.device_id, e.gateway_id, lower(e.period), g.status, g.last_seen,
       d.last_seen, d.battery_level
FROM enrolments e
JOIN patients p ON p.id = e.patient_id AND p.active
JOIN gateways g ON g.id = e.gateway_id
JOIN devices d ON d.id = e.device_id
WHERE e.patient_id = ANY(%s::int[]) AND e.period @> %s::timestamptz
"""
LAST_READINGS = """
SELECT q.patient_id, q.metric, r.measured_at, r.device_id
FROM unnest(%s::int[], %s::int2[]) AS q(patient_id, metric)
CROSS JOIN LATERAL (
    SELECT measured_at, device_id FROM readings r
    WHERE r.patient_id = q.patient_id AND r.metric = q.metric
    ORDER BY r.measured_at DESC LIMIT 1) AS r
"""
_ONLINE = {"online": True, "offline": False}


@dataclass(frozen=True, slots=True)
class Enrolled:
    device_id: int
    gateway_id: str
    since: datetime
    gateway: GatewayPresence
    device: DevicePresence


@dataclass(slots=True)
class Presence:
    """One actively monitored patient."""

    enrolled: list[Enrolled] = field(default_factory=list)
    # Newest reading per metric (any origin or quality: a questionable reading still shows
    # that the device works) and the device that delivered it.
    last: dict[Metric, tuple[datetime, int]] = field(default_factory=dict)

    @property
    def started_at(self) -> datetime:
        return min(e.since for e in self.enrolled)

    def last_reading_at(self, metric: Metric) -> datetime | None:
        found = self.last.get(metric)
        return found[0] if found else None

    def of(self, metric: Metric) -> tuple[GatewayPresence, DevicePresence]:
        found = self.last.get(metric)
        if found is not None:
            for e in self.enrolled:
                if e.device_id == found[1]:
                    return e.gateway, e.device
        return self.best_gateway(), DevicePresence()

    def best_gateway(self) -> GatewayPresence:
        """The gateway most likely in touch: an offline cause is named only when it is."""
        def rank(g: GatewayPresence) -> tuple[bool, float]:
            return g.online is not False, g.last_seen.timestamp() if g.last_seen else 0.0
        return max((e.gateway for e in self.enrolled), key=rank)


def load_presence(cur: psycopg.Cursor[Any], patient_ids: Sequence[int], now: datetime,
                  metrics: dict[int, Iterable[Metric]]) -> dict[int, Presence]:
    """Presence of the actively enrolled patients among `patient_ids`, with the newest
    reading of each metric in `metrics` (by patient)."""
    found: dict[int, Presence] = {}
    if not patient_ids:
        return found
    # Arrays as text literals and rows by fetchall: psycopg dumps a list parameter, and
    # iterates a cursor, element by element in Python (most of a sweep's loading CPU).
    cur.execute(ENROLMENTS, (int_array(patient_ids), now))
    for pid, device_id, gateway_id, since, status, gw_seen, dev_seen, battery in cur.fetchall():
        found.setdefault(pid, Presence()).enrolled.append(Enrolled(
            device_id, gateway_id, since, GatewayPresence(_ONLINE.get(status), gw_seen),
            DevicePresence(dev_seen, battery)))
    pairs = [(pid, CATALOGUE[m].number) for pid in found for m in metrics.get(pid, ())]
    if pairs:
        cur.execute(LAST_READINGS, (int_array(p for p, _ in pairs),
                                    int_array(m for _, m in pairs)))
        for pid, number, measured_at, device_id in cur.fetchall():
            found[pid].last[BY_NUMBER[number].metric] = (measured_at, device_id)
    return found
