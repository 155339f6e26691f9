"""Readings for a time range, raw or downsampled into buckets.

Buckets are aligned to fixed boundaries (date_bin from 2000-01-03 00:00 UTC, TimescaleDB's
time_bucket origin), so a chart's buckets do not shift as its window moves. With TimescaleDB
the continuous aggregates `readings_hourly` / `readings_daily` (ingest/timescale) serve hour-
and day-multiple buckets; on plain PostgreSQL the same buckets are computed from raw rows at
query time, from the (patient_id, metric, measured_at) INCLUDE (value) index alone.

Cost (bench/api.py: 30 days of SpO2 at one a minute = 720 hourly buckets from 43,200 rows): rows
come back as plain tuples; `query(...).model()` (the dashboard) makes them pydantic models
once, and the route serialises the series itself rather than through FastAPI's response_model
pass (which dumps the model to dicts, validates them again and encodes with json.dumps); the
mean is sum / count, which is exactly what avg(float8) computes (its final function divides the
same running sum by the same count) without avg's running sum of squares.

The route's JSON (`query(...).json()`) skips the per-bucket models: bucket rows come from a
binary cursor (no text parsing of 721 timestamps) and become JSON through pydantic-core's own
serialiser, spliced into the envelope pydantic dumps, so the bytes are exactly what
`query(...).model().model_dump_json()` gives (tests/api/test_api_trend_json.py checks that, with
hypothesis). The bucket query is never prepared (see _buckets: the generic plan sorts all rows).
bench/api.py, CPU per 30-day trend request, API + PostgreSQL: ~10 + ~19 ms -> ~6.5 + ~14 ms.

On the database side the query itself is as cheap as measured alternatives allow (43,200 rows:
the index-only scan alone ~5 ms, date_bin + hash aggregate ~7 ms more; date_trunc, a sorted
group over the index order and 720 LATERAL sub-aggregates were all slower). What matters more is
the visibility map: a row on a page not yet marked all-visible costs a heap fetch, and a
patient's rows lie one to a heap page (ingest writes time-major), so under autovacuum's default
insert trigger (20 % of the table) a 30-day trend could pay up to 8,640 random heap reads;
migration 0170_readings_autovacuum keeps the map current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic_core import to_json

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


EMPTY_BUCKETS = b'"buckets":[]'

# One bucket as the query returns it: start, min, max, mean, count.
BucketRow = tuple[datetime, float, float, float, int]


async def _buckets(conn: Connection, patient_id: int, metric: Metric, since: datetime,
                   until: datetime, width: int, rollups: frozenset[str]
                   ) -> tuple[list[BucketRow], Source]:
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
    # Binary results: timestamps and floats arrive as machine values, not text to parse.
    # prepare=False: psycopg would prepare the statement after five runs on a connection, and
    # PostgreSQL then switches to a generic plan, which cannot see how many rows the range
    # holds (it guesses ~200) and sorts all 43,200 rows for a GroupAggregate where the custom
    # plan hashes them; measured, ~30 % more database CPU per trend (20-25 vs 13-16 ms).
    async with conn.cursor(binary=True) as cur:
        await cur.execute(query.encode(), params, prepare=False)
        rows: list[BucketRow] = await cur.fetchall()
    return rows, source


@dataclass(frozen=True, slots=True)
class Trend:
    """What a trend query found, before it becomes a model (`model`) or JSON (`json`)."""

    patient_id: int
    metric: Metric
    since: datetime
    until: datetime
    resolution: Resolution
    bucket_seconds: int | None
    source: Source
    points: list[ReadingPoint]
    rows: list[BucketRow]
    truncated: bool

    def _envelope(self, buckets: list[Bucket]) -> ReadingSeries:
        return ReadingSeries(
            patient_id=self.patient_id, metric=self.metric, unit=CATALOGUE[self.metric].ucum,
            since=self.since, until=self.until, resolution=self.resolution,
            bucket_seconds=self.bucket_seconds, source=self.source, points=self.points,
            buckets=buckets, truncated=self.truncated)

    def model(self) -> ReadingSeries:
        return self._envelope([Bucket(start=start, min=low, max=high, mean=mean, count=count)
                               for start, low, high, mean, count in self.rows])

    def json(self) -> bytes:
        """Exactly `self.model().model_dump_json()`, without a model per bucket."""
        if not self.rows:
            return self.model().model_dump_json().encode()
        envelope = self._envelope([]).model_dump_json().encode()
        # `buckets` is the last field but one: the envelope ends with it, empty, then the
        # `truncated` flag; the rows go between the brackets.
        at = envelope.rindex(b'"buckets":[],"truncated":')
        # float() and int() convert as validating a Bucket would (a rollup's weighted mean
        # may come back as numeric, a Decimal); pydantic-core's serialiser then formats
        # datetimes and floats as the model's dump does, given the same settings
        # (tests/api/test_api_trend_json.py compares the two with hypothesis).
        body = to_json([{"start": start, "min": float(low), "max": float(high),
                         "mean": float(mean), "count": int(count)}
                        for start, low, high, mean, count in self.rows],
                       inf_nan_mode="null")  # the models' setting (ser_json_inf_nan)
        return b"".join((envelope[:at], b'"buckets":', body,
                         envelope[at + len(EMPTY_BUCKETS):]))


async def query(
    conn: Connection,
    *,
    patient_id: int,
    metric: Metric,
    since: datetime,
    until: datetime,
    resolution: Resolution,
    max_points: int,
    rollups: frozenset[str],
) -> Trend:
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
    if width is None:
        limit = min(max_points, MAX_RAW) if resolution is Resolution.AUTO else MAX_RAW
        points, truncated = await _raw(conn, patient_id, metric, since, until, limit)
        if not (truncated and resolution is Resolution.AUTO):
            return Trend(patient_id=patient_id, metric=metric, since=since, until=until,
                         resolution=Resolution.RAW, bucket_seconds=None, source="readings",
                         points=points, rows=[], truncated=truncated)
        width = RESOLUTION_SECONDS[Resolution.MINUTE]  # too dense for raw: finest buckets
    aligned = align(since, width)
    if (until - aligned).total_seconds() / width > MAX_BUCKETS:
        raise ProblemError(422, f"{resolution.value} buckets over this range would exceed "
                                f"{MAX_BUCKETS}; choose a coarser resolution or shorter range")
    rows, source = await _buckets(conn, patient_id, metric, aligned, until, width, rollups)
    return Trend(patient_id=patient_id, metric=metric, since=aligned, until=until,
                 resolution=_resolution_of(width), bucket_seconds=width, source=source,
                 points=[], rows=rows, truncated=False)
