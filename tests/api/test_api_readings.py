"""Readings over a range (raw and bucketed) and monitoring status, where every value carries
its time, age and a stale flag against its expected interval."""

from __future__ import annotations

import statistics
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from api_helpers import World, insert_readings
from fastapi.testclient import TestClient

from api.models.readings import Resolution
from api.trends import ORIGIN, align, auto_width
from vigil.metrics import CATALOGUE, Metric

T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("span", "max_points", "width"), [
    (timedelta(days=30), 1000, 3600),
    (timedelta(days=30), 100, 86400),
    (timedelta(days=1), 1000, 300),
    (timedelta(hours=1), 1000, None),
    (timedelta(days=400), 10, 86400),
])
def test_auto_width(span: timedelta, max_points: int, width: int | None) -> None:
    assert auto_width(span, max_points) == width


def test_align_is_stable() -> None:
    at = datetime(2024, 5, 1, 10, 37, 12, tzinfo=UTC)
    assert align(at, 3600) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert align(at, 86400) == datetime(2024, 5, 1, tzinfo=UTC)
    assert (align(at, 6 * 3600) - ORIGIN).total_seconds() % (6 * 3600) == 0


@pytest.fixture
def series(own_world: World) -> dict[datetime, float]:
    values = {T0 + timedelta(minutes=7 * n): 90.0 + (n * 37 % 11) for n in range(60)}
    with psycopg.connect(own_world.url) as conn:
        insert_readings(conn, own_world.patient_a, own_world.device_a, Metric.PULSE_RATE,
                        sorted(values.items()))
        conn.commit()
    return values


def test_hourly_buckets_match_the_raw_values(own_client: TestClient, own_world: World,
                                             series: dict[datetime, float]) -> None:
    response = own_client.get(
        f"/patients/{own_world.patient_a}/readings", headers=own_world.headers("alice"),
        params={"metric": "pulse_rate", "since": "2024-05-01T00:20:00Z",
                "until": "2024-05-01T05:00:00Z", "resolution": "1h"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unit"] == "/min" and body["bucket_seconds"] == 3600
    assert body["since"] == "2024-05-01T00:00:00Z"  # aligned to the bucket boundary
    assert body["source"] == "readings" and body["points"] == []
    for bucket in body["buckets"]:
        start = datetime.fromisoformat(bucket["start"])
        inside = [v for t, v in series.items() if start <= t < start + timedelta(hours=1)]
        assert bucket["count"] == len(inside)
        assert bucket["min"] == min(inside) and bucket["max"] == max(inside)
        assert bucket["mean"] == pytest.approx(statistics.fmean(inside))
    assert sum(b["count"] for b in body["buckets"]) == len(
        [t for t in series if t < T0 + timedelta(hours=5)])


def test_bucket_means_are_exactly_what_avg_gives(own_client: TestClient, own_world: World
                                                 ) -> None:
    """The bucket query's sum / count is avg(value) bit for bit (awkward decimals, buckets of
    uneven size), so dropping avg's sum of squares changed no figure."""
    values = [(T0 + timedelta(seconds=53 * n), 36.1 + (n * 7919 % 97) / 30)
              for n in range(400)]
    with psycopg.connect(own_world.url) as conn:
        insert_readings(conn, own_world.patient_a, own_world.device_a,
                        Metric.BODY_TEMPERATURE, values)
        conn.commit()
        expected = dict(conn.execute(
            "SELECT date_bin('15 minutes', measured_at, %s), avg(value) FROM readings "
            "WHERE patient_id = %s AND metric = %s GROUP BY 1",
            (ORIGIN, own_world.patient_a, CATALOGUE[Metric.BODY_TEMPERATURE].number)).fetchall())
    response = own_client.get(
        f"/patients/{own_world.patient_a}/readings", headers=own_world.headers("alice"),
        params={"metric": "body_temperature", "since": T0.isoformat(),
                "until": (T0 + timedelta(days=1)).isoformat(), "resolution": "15m"})
    assert response.status_code == 200, response.text
    got = {datetime.fromisoformat(b["start"]): b["mean"] for b in response.json()["buckets"]}
    assert len(got) == len(expected) > 20
    assert got == expected


def test_raw_readings_carry_quality_and_lateness(own_client: TestClient,
                                                 own_world: World) -> None:
    with psycopg.connect(own_world.url) as conn:
        late = insert_readings(conn, own_world.patient_a, own_world.device_a,
                               Metric.BODY_TEMPERATURE, [(T0, 37.9)], origin="late")
        poor = insert_readings(conn, own_world.patient_a, own_world.device_a,
                               Metric.BODY_TEMPERATURE, [(T0 + timedelta(minutes=1), 39.4)],
                               quality=("measurement_ongoing",))
        conn.commit()
    body = own_client.get(
        f"/patients/{own_world.patient_a}/readings", headers=own_world.headers("alice"),
        params={"metric": "body_temperature", "since": "2024-05-01T00:00:00Z",
                "until": "2024-05-01T01:00:00Z", "resolution": "raw"}).json()
    points = body["points"]
    assert [p["id"] for p in points] == late + poor
    assert (points[0]["late"], points[0]["questionable"]) == (True, False)
    assert (points[1]["late"], points[1]["questionable"]) == (False, True)
    assert body["resolution"] == "raw" and body["truncated"] is False


def test_auto_falls_back_to_buckets_when_raw_is_too_dense(
    own_client: TestClient, own_world: World, series: dict[datetime, float]
) -> None:
    body = own_client.get(
        f"/patients/{own_world.patient_a}/readings", headers=own_world.headers("alice"),
        params={"metric": "pulse_rate", "since": "2024-05-01T00:00:00Z",
                "until": "2024-05-01T02:00:00Z", "max_points": 10}).json()
    assert body["resolution"] == Resolution.FIFTEEN_MINUTES.value
    few = own_client.get(
        f"/patients/{own_world.patient_a}/readings", headers=own_world.headers("alice"),
        params={"metric": "pulse_rate", "since": "2024-05-01T00:00:00Z",
                "until": "2024-05-01T00:10:00Z", "max_points": 10}).json()
    assert few["resolution"] == "raw" and len(few["points"]) == 2


@pytest.mark.parametrize("params", [
    {"metric": "spo2", "since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"},
    {"metric": "spo2", "since": "2020-01-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
    {"metric": "spo2", "since": "2024-05-01T00:00:00"},
    {"metric": "oxygen"},
    {"metric": "spo2", "since": "0001-01-01T00:00:00+14:00"},
    {"metric": "spo2", "resolution": "1m", "since": "2024-01-01T00:00:00Z",
     "until": "2024-03-01T00:00:00Z"},
])
def test_bad_ranges_are_422(client: TestClient, world: World, params: dict[str, str]) -> None:
    response = client.get(f"/patients/{world.patient_a}/readings",
                          headers=world.headers("alice"), params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_status_marks_stale_and_offline(own_client: TestClient, own_world: World) -> None:
    w = own_world
    now = datetime.now(UTC)
    with psycopg.connect(w.url) as conn:
        # Gateway A reported online but has been silent for an hour.
        conn.execute("UPDATE gateways SET status = 'online', status_at = %s, last_seen = %s, "
                     "heartbeat_interval_s = 30 WHERE id = %s",
                     (now - timedelta(hours=2), now - timedelta(hours=1), w.gateway_a))
        conn.execute("UPDATE devices SET battery_level = 15, last_seen = %s WHERE id = %s",
                     (now - timedelta(hours=1), w.device_a))
        conn.execute(
            "INSERT INTO device_events (event_id, gateway_id, device_id, event, at, "
            "battery_level) VALUES (%s, %s, %s, 'battery', %s, 15)",
            (uuid.uuid4(), w.gateway_a, w.device_a, now - timedelta(hours=3)))
        insert_readings(conn, w.patient_a, w.device_a, Metric.BODY_WEIGHT,
                        [(now - timedelta(hours=2), 81.2)])
        conn.commit()
    status = own_client.get(f"/patients/{w.patient_a}/status",
                            headers=w.headers("alice")).json()
    gateway = status["gateways"][0]
    assert gateway["reported_state"] == "online" and gateway["state"] == "offline"
    assert gateway["last_seen"]["stale"] is True and gateway["last_seen"]["stale_after_s"] == 90
    assert 3500 < gateway["last_seen"]["age_seconds"] < 3700
    assert "silent" in gateway["state_reason"]
    latest = {v["metric"]: v for v in status["latest"]}
    # SpO2 was measured a minute ago; its rule expects one a minute, with 10 min grace.
    assert latest["spo2"]["reading"]["stale"] is False
    assert latest["spo2"]["reading"]["stale_after_s"] == 660
    # Weight has no missing-data rule for a general adult: the default allowance applies.
    assert latest["body_weight"]["reading"]["stale"] is False
    assert latest["body_weight"]["unit"] == "kg"
    device = status["devices"][0]
    assert device["battery_level"] == 15 and device["battery"]["age_seconds"] > 3 * 3600 - 60
    assert set(device["metrics"]) == {"spo2", "body_weight"}
    assert device["last_seen"]["stale"] is False  # its SpO2 reading is a minute old
    assert status["monitoring"] == "stopped"  # no gateway online


def test_status_of_a_quiet_patient_is_stale_not_current(own_client: TestClient,
                                                        own_world: World) -> None:
    w = own_world
    with psycopg.connect(w.url) as conn:
        conn.execute("UPDATE gateways SET status = 'online', last_seen = now() WHERE id = %s",
                     (w.gateway_b,))
        conn.execute("UPDATE readings SET measured_at = measured_at - interval '3 hours' "
                     "WHERE patient_id = %s", (w.patient_b,))
        conn.commit()
    status = own_client.get(f"/patients/{w.patient_b}/status",
                            headers=w.headers("bob")).json()
    spo2 = next(v for v in status["latest"] if v["metric"] == "spo2")
    assert spo2["reading"]["stale"] is True and spo2["reading"]["age_seconds"] > 3 * 3600
    assert status["devices"][0]["last_seen"]["stale"] is True
    assert status["gateways"][0]["state"] == "online"
    assert status["monitoring"] == "stopped"
