"""The trend route's JSON fast path (api.trends Trend.json) against the model's own dump, and
the storage setting that keeps trend queries index-only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from api_helpers import World, insert_readings
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from api import trends
from api.models.readings import Resolution
from vigil.metrics import Metric

T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)

offsets = st.builds(lambda minutes: timezone(timedelta(minutes=minutes)),
                    st.integers(-14 * 60, 14 * 60))
instants = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2199, 12, 31),
                        timezones=st.one_of(st.just(UTC), offsets))
# Bucket values as the database can return them: float8 (NaN and infinities included, which
# both paths must render alike), an integer, or a numeric (the rollups' weighted mean).
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                    st.integers(-(2**53), 2**53),
                    st.decimals(allow_nan=False, allow_infinity=False, places=6,
                                min_value=-10**9, max_value=10**9))
rows = st.lists(st.tuples(instants, numbers, numbers, numbers, st.integers(0, 2**62)),
                max_size=40)


def _trend(found: list[tuple[datetime, object, object, object, int]], metric: Metric,
           source: trends.Source, truncated: bool) -> trends.Trend:
    return trends.Trend(patient_id=7, metric=metric, since=T0, until=T0 + timedelta(days=30),
                        resolution=Resolution.HOUR, bucket_seconds=3600, source=source,
                        points=[], rows=found, truncated=truncated)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(found=rows, metric=st.sampled_from(list(Metric)),
       source=st.sampled_from(["readings", "readings_hourly", "readings_daily"]),
       truncated=st.booleans())
def test_json_is_the_models_dump_byte_for_byte(found: list[tuple[datetime, object, object,
                                                                  object, int]],
                                               metric: Metric, source: trends.Source,
                                               truncated: bool) -> None:
    trend = _trend(found, metric, source, truncated)
    assert trend.json() == trend.model().model_dump_json().encode()


@pytest.mark.parametrize("found", [
    [],
    [(T0, 95.0, 97.0, 95.66666666666667, 6)],
    [(T0, 1e16, 1e-7, 1.7976931348623157e308, 1), (T0 + timedelta(hours=1), -0.0, 5e-324,
                                                      float("nan"), 2**62)],
    [(T0, 36, 37, Decimal("36.5000001"), 3)],
])
def test_json_cases(found: list[tuple[datetime, object, object, object, int]]) -> None:
    trend = _trend(found, Metric.SPO2, "readings", False)
    assert trend.json() == trend.model().model_dump_json().encode()


async def _series_json(url: str, patient: int, resolution: Resolution,
                       since: datetime, until: datetime) -> tuple[bytes, bytes]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SET TIME ZONE 'UTC'")
        args = {"patient_id": patient, "metric": Metric.PULSE_RATE, "since": since,
                "until": until, "resolution": resolution, "max_points": 1000,
                "rollups": frozenset[str]()}
        model = (await trends.query(conn, **args)).model()  # type: ignore[arg-type]
        fast = await trends.query(conn, **args)  # type: ignore[arg-type]
        return fast.json(), model.model_dump_json().encode()


@pytest.mark.parametrize("resolution", [Resolution.AUTO, Resolution.RAW, Resolution.MINUTE,
                                        Resolution.FIFTEEN_MINUTES, Resolution.HOUR,
                                        Resolution.DAY])
def test_route_serves_the_models_bytes(own_client: TestClient, own_world: World,
                                       resolution: Resolution) -> None:
    """Real rows, every resolution (raw and empty series included): the route's body is
    byte-for-byte the model's dump."""
    values = [(T0 + timedelta(seconds=97 * n), 60.0 + (n * 7919 % 83) / 7) for n in range(900)]
    with psycopg.connect(own_world.url) as conn:
        insert_readings(conn, own_world.patient_a, own_world.device_a, Metric.PULSE_RATE,
                        values)
        conn.commit()
    for since, until in ((T0 + timedelta(minutes=13), T0 + timedelta(hours=30)),
                         (T0 - timedelta(days=3), T0 - timedelta(days=2))):  # no rows
        response = own_client.get(
            f"/patients/{own_world.patient_a}/readings", headers=own_world.headers("alice"),
            params={"metric": "pulse_rate", "since": since.isoformat(),
                    "until": until.isoformat(), "resolution": resolution.value})
        assert response.status_code == 200, response.text
        fast, model = asyncio.run(_series_json(own_world.url, own_world.patient_a, resolution,
                                               since, until))
        assert response.content == fast == model
    assert len(response.json()["buckets"]) == 0


def test_readings_autovacuum_trigger_is_fixed(world: World) -> None:
    """Migration 0170: a fixed insert trigger keeps the visibility map current (see there)."""
    with psycopg.connect(world.url) as conn:
        row = conn.execute("SELECT reloptions FROM pg_class WHERE oid = 'readings'::regclass"
                           ).fetchone()
    assert row is not None
    assert set(row[0]) >= {"autovacuum_vacuum_insert_threshold=10000",
                           "autovacuum_vacuum_insert_scale_factor=0"}


async def _prepared_after_repeats(url: str, patient: int) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for _ in range(12):
            await trends.query(conn, patient_id=patient, metric=Metric.PULSE_RATE,
                               since=T0, until=T0 + timedelta(days=30),
                               resolution=Resolution.HOUR, max_points=1000,
                               rollups=frozenset())
        cur = await conn.execute("SELECT statement FROM pg_prepared_statements")
        return [str(row[0]) for row in await cur.fetchall()]


def test_bucket_query_is_never_prepared(world: World) -> None:
    """A prepared bucket query would soon run PostgreSQL's generic plan, which sorts every row
    of the range instead of hashing (api.trends._buckets): each run must be planned for its
    own range."""
    statements = asyncio.run(_prepared_after_repeats(world.url, world.patient_a))
    assert not [s for s in statements if "date_bin" in s]
