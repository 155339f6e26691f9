"""Helpers for the alerting tests: write readings through the real writer with the alerting
hook, and read back alerts, their events, pages and rule state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from ingest_helpers import Fleet, batch_payload
from psycopg.rows import dict_row

from ingest.alerting import AlertingHook
from ingest.decoding import decode_message
from ingest.writer import BatchWriter, FlushResult, Incoming
from vigil.messages import Origin, Reading
from vigil.metrics import Metric
from vigil.quality import QualityFlag
from vigil.topics import Channel, topic


@dataclass
class Ward:
    url: str
    gateway: str
    patient_id: int
    devices: list[str]

    @property
    def device(self) -> str:
        return self.devices[0]


def ward_of(fleet: Fleet) -> Ward:
    gateway = fleet.gateways[0]
    devices = fleet.devices_of(gateway)
    return Ward(fleet.url, gateway, fleet.devices[devices[0]][0], devices)


_sequence = iter(range(1, 10**9))


def reading(device: str, metric: Metric, value: float, at: datetime, *,
            origin: Origin = Origin.LIVE, quality: Iterable[QualityFlag] = ()) -> Reading:
    return Reading.create(device_id=device, metric=metric, value=value, measured_at=at,
                          received_at=at, sequence=next(_sequence), origin=origin,
                          quality=quality)


def series(device: str, metric: Metric, values: list[float], start: datetime,
           step: timedelta = timedelta(seconds=1), **kw: Any) -> list[Reading]:
    return [reading(device, metric, v, start + i * step, **kw) for i, v in enumerate(values)]


def incoming(gateway: str, readings: list[Reading], channel: Channel = Channel.READINGS,
             payload: bytes | None = None) -> Incoming:
    name = topic(gateway, channel)
    now = datetime.now(UTC)
    body = payload if payload is not None else batch_payload(gateway, readings)
    return Incoming(name, decode_message(name, body, now), now)


def write(ward: Ward, readings: list[Reading], hook: AlertingHook | None = None
          ) -> FlushResult:
    """One flush of the real writer with the alerting hook (a fresh one unless given)."""
    writer = BatchWriter(hook or AlertingHook())
    with psycopg.connect(ward.url) as conn:
        BatchWriter.prepare(conn)
        return writer.write(conn, [incoming(ward.gateway, readings)])


def rows(url: str, query: str, *args: object) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, args)  # type: ignore[arg-type]
        return cur.fetchall()


def alerts(ward: Ward, rule_key: str | None = None) -> list[dict[str, Any]]:
    return [a for a in rows(ward.url, "SELECT *, trigger_reading_id::text AS trigger_id "
                                      "FROM alerts WHERE patient_id = %s ORDER BY id",
                            ward.patient_id)
            if rule_key is None or a["rule_key"] == rule_key]


def events(ward: Ward, alert_id: int) -> list[dict[str, Any]]:
    return rows(ward.url, "SELECT * FROM alert_events WHERE alert_id = %s ORDER BY id",
                alert_id)


def pages(ward: Ward, alert_id: int | None = None) -> list[dict[str, Any]]:
    found = rows(ward.url, "SELECT * FROM alert_pages WHERE patient_id = %s ORDER BY id",
                 ward.patient_id)
    return [p for p in found if alert_id is None or p["alert_id"] == alert_id]


def snapshot(url: str) -> tuple[object, ...]:
    """Everything the engine writes, to compare before and after an operation."""
    with psycopg.connect(url) as conn:
        return tuple(conn.execute(query).fetchall() for query in (
            "SELECT * FROM alerts ORDER BY id",
            "SELECT count(*) FROM alert_events",
            "SELECT count(*) FROM alert_pages",
            "SELECT patient_id, state FROM rule_state ORDER BY patient_id"))


def set_rules(ward: Ward, condition: str, overrides: str = "{}") -> None:
    with psycopg.connect(ward.url) as conn:
        conn.execute("INSERT INTO rule_settings (patient_id, condition, overrides) "
                     "VALUES (%s, %s, %s::jsonb)", (ward.patient_id, condition, overrides))
