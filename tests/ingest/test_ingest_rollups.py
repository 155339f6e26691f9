"""Trend rollups computed at query time on plain PostgreSQL (the TimescaleDB path reads the
continuous aggregates with the same bucket boundaries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from ingest_helpers import Fleet, incoming, write

from ingest.rollups import ROLLUP_FROM_AGGREGATE, Bucket, Resolution, align, rollup
from vigil.messages import Reading
from vigil.metrics import Metric


@pytest.mark.parametrize(
    ("start", "end", "resolution", "expected"),
    [
        ("2026-03-01T10:20", "2026-03-01T12:00", Resolution.HOUR,
         ("2026-03-01T10:00", "2026-03-01T12:00")),
        ("2026-03-01T10:00", "2026-03-01T12:00:01", Resolution.HOUR,
         ("2026-03-01T10:00", "2026-03-01T13:00")),
        ("2026-03-01T23:59", "2026-03-03T00:01", Resolution.DAY,
         ("2026-03-01T00:00", "2026-03-04T00:00")),
    ],
)
def test_align_to_utc_buckets(start: str, end: str, resolution: Resolution,
                              expected: tuple[str, str]) -> None:
    def utc(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    assert align(utc(start), utc(end), resolution) == (utc(expected[0]), utc(expected[1]))


def test_rollup_at_query_time(fleet: Fleet) -> None:
    gw = fleet.gateways[0]
    device = fleet.devices_of(gw)[0]
    patient = fleet.devices[device][0]
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    values = {0: [94.0, 96.0], 1: [90.0], 3: [97.0, 98.0, 99.0]}
    readings = [
        Reading.create(device_id=device, metric=Metric.SPO2, value=v,
                       measured_at=base + timedelta(hours=h, minutes=10 * i),
                       received_at=base + timedelta(hours=h, minutes=10 * i))
        for h, vs in values.items() for i, v in enumerate(vs)
    ]
    write(fleet.url, [incoming(gw, readings)])
    with psycopg.connect(fleet.url) as conn:
        hourly = rollup(conn, patient, Metric.SPO2, base, base + timedelta(hours=5))
        daily = rollup(conn, patient, Metric.SPO2, base, base + timedelta(hours=5),
                       Resolution.DAY)
        other = rollup(conn, patient, Metric.PULSE_RATE, base, base + timedelta(hours=5))
    assert hourly == [
        Bucket(base, 94.0, 96.0, 95.0, 2),
        Bucket(base + timedelta(hours=1), 90.0, 90.0, 90.0, 1),
        Bucket(base + timedelta(hours=3), 97.0, 99.0, 98.0, 3),
    ]
    assert sum(b.count for b in daily) == 6 and other == []
    assert min(b.min for b in daily) == 90.0 and max(b.max for b in daily) == 99.0


def test_aggregate_query_names_the_view() -> None:
    sql = ROLLUP_FROM_AGGREGATE.format(view=Resolution.DAY.aggregate)
    assert "FROM readings_daily" in sql and "bucket >= %(start)s" in sql
