"""Hourly and daily trends (min / max / mean / count) for one patient and metric.

With TimescaleDB the continuous aggregates readings_hourly / readings_daily answer (real-time:
buckets newer than the last refresh come from raw rows); on plain PostgreSQL the same numbers
are computed from `readings` at query time. Both queries return whole UTC buckets whose start
lies in [start, end) after aligning start down and end up to bucket boundaries, so the two
paths agree exactly. The API copies the SQL below (it may not import ingest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import psycopg

from vigil.metrics import Metric, spec


class Resolution(StrEnum):
    HOUR = "hour"
    DAY = "day"

    @property
    def width(self) -> timedelta:
        return timedelta(hours=1) if self is Resolution.HOUR else timedelta(days=1)

    @property
    def aggregate(self) -> str:
        return "readings_hourly" if self is Resolution.HOUR else "readings_daily"


# Parameters: patient_id, metric number, start, end (bucket-aligned, see align()).
ROLLUP_FROM_AGGREGATE = """
SELECT bucket, min_value, max_value, mean_value, n
FROM {view}
WHERE patient_id = %(patient_id)s AND metric = %(metric)s
  AND bucket >= %(start)s AND bucket < %(end)s
ORDER BY bucket
"""

# date_bin with a midnight-UTC origin buckets exactly like time_bucket does for 1 hour / 1 day.
ROLLUP_AT_QUERY_TIME = """
SELECT date_bin(%(width)s, measured_at, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       min(value), max(value), avg(value), count(*)
FROM readings
WHERE patient_id = %(patient_id)s AND metric = %(metric)s
  AND measured_at >= %(start)s AND measured_at < %(end)s
GROUP BY 1
ORDER BY 1
"""


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    min: float
    max: float
    mean: float
    count: int


def align(start: datetime, end: datetime, resolution: Resolution) -> tuple[datetime, datetime]:
    """Start floored and end ceiled to UTC bucket boundaries."""
    width = resolution.width
    epoch = datetime(2000, 1, 3, tzinfo=UTC)
    floor = epoch + ((start.astimezone(UTC) - epoch) // width) * width
    ceil = epoch + -((epoch - end.astimezone(UTC)) // width) * width
    return floor, ceil


def has_aggregates(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT to_regclass('readings_hourly') IS NOT NULL "
        "AND to_regclass('readings_daily') IS NOT NULL").fetchone()
    return bool(row and row[0])


def rollup(conn: psycopg.Connection, patient_id: int, metric: Metric, start: datetime,
           end: datetime, resolution: Resolution = Resolution.HOUR,
           use_aggregate: bool | None = None) -> list[Bucket]:
    lower, upper = align(start, end, resolution)
    params = {"patient_id": patient_id, "metric": spec(metric).number, "start": lower,
              "end": upper, "width": resolution.width}
    if use_aggregate is None:
        use_aggregate = has_aggregates(conn)
    query = (ROLLUP_FROM_AGGREGATE.format(view=resolution.aggregate) if use_aggregate
             else ROLLUP_AT_QUERY_TIME)
    rows = conn.execute(query.encode(), params).fetchall()
    return [Bucket(r[0], float(r[1]), float(r[2]), float(r[3]), int(r[4])) for r in rows]
