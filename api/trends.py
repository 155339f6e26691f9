"""Readings for a time range, raw or downsampled into buckets.

Buckets are aligned to fixed boundaries (date_bin from 2000-01-03 00:00 UTC, TimescaleDB's
time_bucket origin), so a chart's buckets do not shift as its window moves. With TimescaleDB
the continuous aggregates `readings_hourly` / `readings_daily` (ingest/timescale) serve hour-
and day-multiple buckets; on plain PostgreSQL the same buckets are computed from raw rows at
query time, from the (patient_id, metric, measured_at) INCLUDE (value) index alone.

Cost (bench/api.py: 30 days of SpO2 at one a minute = 720 hourly buckets from 43,200 rows): rows
come back as plain tuples and become pydantic models once, and the route serialises the series
itself rather than through FastAPI's response_model pass (which dumps the model to dicts,
validates them again and encodes with json.dumps); the mean is sum / count, which is exactly
what avg(float8) computes (its final function divides the same running sum by the same count)
without avg's running sum of squares.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from api.db import Connection
from api.models.readings import (
    RESOLUTION_SECONDS,
    Bucket,
    ReadingPoint,
    ReadingSeries,
    Resolution,
)
from api.problems import ProblemError
from vigil.metrics import CATALOGUE, Metric
from vigil.quality import QUESTIONABLE

ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)
MAX_RAW = 10_000
MAX_BUCKETS = 10_000
_QUESTIONABLE = frozenset(flag.value for flag in QUESTIONABLE)

Source = Literal["readings", "readings_hourly", "readings_daily"]


async def available_rollups(conn: Connection) -> frozenset[str]:
    cur = await conn.execute(
        "SELECT name FROM unnest(ARRAY['readings_hourly', 'readings_daily']) AS name "
        "WHERE to_regclass(name) IS NOT NULL")
    return frozenset(str(row[0]) for row in await cur.fetchall())


def align(at: datetime, width: int) -> datetime:
    seconds = (at - ORIGIN).total_seconds()
    return ORIGIN + timedelta(seconds=(seconds // width) * width)


def auto_width(span: timedelta, max_points: int) -> int | None:
    """The narrowest standard bucket giving at most max_points buckets; None when even one-
    minute buckets would be finer than asked (raw readings may do)."""
    wanted = span.total_seconds() / max_points
    if wanted <= 60:
        return None
    for width in sorted(RESOLUTION_SECONDS.values()):
        if width >= wanted:
            return width
    return max(RESOLUTION_SECONDS.values())


def _resolution_of(width: int) -> Resolution:
    return next(r for r, w in RESOLUTION_SECONDS.items() if w == width)


async def _raw(conn: Connection, patient_id: int, metric: Metric, since: datetime,
               until: datetime, limit: int) -> tuple[list[ReadingPoint], bool]:
    async with conn.cursor() as cur:
        await cur.execute(
            """
            SELECT reading_id::text, measured_at, received_at, value, device_id, origin,
                   quality
            FROM readings
            WHERE patient_id = %s AND metric = %s AND measured_at >= %s AND measured_at < %s
            ORDER BY measured_at, reading_id LIMIT %s
            """,
            (patient_id, CATALOGUE[metric].number, since, until, limit + 1))
        rows = await cur.fetchall()
    points = [ReadingPoint(id=rid, measured_at=measured, received_at=received, value=value,
                           device_id=device, origin=origin, late=origin == "late",
                           quality=quality, questionable=not _QUESTIONABLE.isdisjoint(quality))
              for rid, measured, received, value, device, origin, quality in rows[:limit]]
    return points, len(rows) > limit


async def _buckets(conn: Connection, patient_id: int, metric: Metric, since: datetime,
                   until: datetime, width: int, rollups: frozenset[str]
                   ) -> tuple[list[Bucket], Source]:
    number = CATALOGUE[metric].number
    params = {"patient": patient_id, "metric": number, "since": since, "until": until,
              "width": timedelta(seconds=width), "origin": ORIGIN}
    source: Source
    if width % 86400 == 0 and "readings_daily" in rollups:
        source = "readings_daily"
    elif width % 3600 == 0 and "readings_hourly" in rollups:
        source = "readings_hourly"
    else:
        source = "readings"
    if source == "readings":
        query = """
            SELECT date_bin(%(width)s, measured_at, %(origin)s) AS start, min(value) AS min,
                   max(value) AS max, sum(value) / count(*) AS mean, count(*) AS count
            FROM readings
            WHERE patient_id = %(patient)s AND metric = %(metric)s
              AND measured_at >= %(since)s AND measured_at < %(until)s
            GROUP BY 1 ORDER BY 1
        """
    else:
        # Re-aggregating rollup rows: the mean is weighted by each row's count.
        query = f"""
            SELECT date_bin(%(width)s, bucket, %(origin)s) AS start, min(min_value) AS min,
                   max(max_value) AS max, sum(mean_value * n) / sum(n) AS mean,
                   sum(n)::bigint AS count
            FROM {source}
            WHERE patient_id = %(patient)s AND metric = %(metric)s
              AND bucket >= %(since)s AND bucket < %(until)s
            GROUP BY 1 ORDER BY 1
        """
    async with conn.cursor() as cur:
        await cur.execute(query.encode(), params)
        rows = await cur.fetchall()
    return [Bucket(start=start, min=low, max=high, mean=mean, count=count)
            for start, low, high, mean, count in rows], source


async def series(
    conn: Connection,
    *,
    patient_id: int,
    metric: Metric,
    since: datetime,
    until: datetime,
    resolution: Resolution,
    max_points: int,
    rollups: frozenset[str],
) -> ReadingSeries:
    if until <= since:
        raise ProblemError(422, "`until` must be after `since`")
    span = until - since
    width: int | None
    if resolution is Resolution.AUTO:
        width = auto_width(span, max_points)
    elif resolution is Resolution.RAW:
        width = None
    else:
        width = RESOLUTION_SECONDS[resolution]
    unit = CATALOGUE[metric].ucum
    if width is None:
        limit = min(max_points, MAX_RAW) if resolution is Resolution.AUTO else MAX_RAW
        points, truncated = await _raw(conn, patient_id, metric, since, until, limit)
        if not (truncated and resolution is Resolution.AUTO):
            return ReadingSeries(patient_id=patient_id, metric=metric, unit=unit, since=since,
                                 until=until, resolution=Resolution.RAW, bucket_seconds=None,
                                 source="readings", points=points, buckets=[],
                                 truncated=truncated)
        width = RESOLUTION_SECONDS[Resolution.MINUTE]  # too dense for raw: finest buckets
    aligned = align(since, width)
    if (until - aligned).total_seconds() / width > MAX_BUCKETS:
        raise ProblemError(422, f"{resolution.value} buckets over this range would exceed "
                                f"{MAX_BUCKETS}; choose a coarser resolution or shorter range")
    buckets, source = await _buckets(conn, patient_id, metric, aligned, until, width, rollups)
    return ReadingSeries(patient_id=patient_id, metric=metric, unit=unit, since=aligned,
                         until=until, resolution=_resolution_of(width), bucket_seconds=width,
                         source=source, points=[], buckets=buckets, truncated=False)
