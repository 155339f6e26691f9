"""The TimescaleDB side, tested without TimescaleDB: DDL text generation and the job-health
report. (The extension is not installed here; the DDL follows the 2.x documentation.)"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from ingest import timescale
from ingest.timescale import (
    JobRow,
    TimescaleConfigError,
    TimescaleSettings,
    assess_jobs,
    expected_jobs,
)


def test_steps_are_ordered_rendered_and_marked() -> None:
    steps = timescale.migrations(TimescaleSettings(chunk_interval="1 day",
                                                   compress_after="14 days"))
    assert [s.name for s in steps] == [
        "timescale/0001_hypertable", "timescale/0002_compression",
        "timescale/0003_readings_hourly", "timescale/0004_readings_daily",
        "timescale/0005_refresh_policies"]
    text = {s.name.split("/")[1]: s.sql for s in steps}
    assert "by_range('measured_at', INTERVAL '1 day')" in text["0001_hypertable"]
    assert "create_default_indexes => false" in text["0001_hypertable"]
    assert "compress_after => INTERVAL '14 days'" in text["0002_compression"]
    assert "timescaledb.compress_segmentby = 'patient_id, metric'" in text["0002_compression"]
    for view, width in (("0003_readings_hourly", "1 hour"), ("0004_readings_daily", "1 day")):
        sql = text[view]
        assert "timescaledb.continuous" in sql and "materialized_only = false" in sql
        assert f"time_bucket(INTERVAL '{width}', measured_at)" in sql
        assert sql.rstrip().endswith("WITH NO DATA;")
    assert "start_offset => INTERVAL '45 days'" in text["0005_refresh_policies"]
    assert all("{" not in s.sql.replace("'{}'", "") for s in steps)
    # Continuous aggregates are created outside a transaction block, one statement each.
    assert [s.transactional for s in steps] == [True, True, False, False, True]


def test_checksums_do_not_depend_on_settings() -> None:
    a = timescale.migrations(TimescaleSettings(chunk_interval="1 day"))
    b = timescale.migrations(TimescaleSettings(chunk_interval="30 days"))
    assert [s.checksum for s in a] == [s.checksum for s in b]
    assert a[0].sql != b[0].sql


@pytest.mark.parametrize("bad", ["7", "7 fortnights", "1 day'; DROP TABLE readings; --",
                                 "0 days", "-1 day", ""])
def test_intervals_are_validated_before_reaching_sql(bad: str) -> None:
    with pytest.raises(TimescaleConfigError):
        timescale.migrations(TimescaleSettings(chunk_interval=bad))


def test_retention_off_by_default_and_must_outlive_refresh_window() -> None:
    assert timescale.retention_sql(TimescaleSettings()) is None
    sql = timescale.retention_sql(TimescaleSettings(retention="7 years"))
    assert sql is not None
    assert "add_retention_policy('readings', drop_after => INTERVAL '7 years')" in sql
    assert "'older_than', '7 years'" in sql
    off = timescale.retention_sql(TimescaleSettings(retention="off"))
    assert off is not None and "remove_retention_policy('readings', if_exists => true)" in off
    with pytest.raises(TimescaleConfigError, match="refresh window"):
        timescale.retention_sql(TimescaleSettings(retention="30 days"))


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(TimescaleConfigError, match="nope"):
        timescale.render("SELECT {nope}", {})


def _job(job_id: int, proc: str, target: str, status: str | None = "Success",
         scheduled: bool = True, runs: int = 3, failures: int = 0,
         job_status: str | None = "Scheduled") -> JobRow:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return JobRow(job_id, proc, f"{proc} [{job_id}]", scheduled, target, status, job_status,
                  when, when, when, runs, failures)


HEALTHY = [
    _job(1000, "policy_compression", "readings"),
    _job(1001, "policy_refresh_continuous_aggregate", "readings_hourly"),
    _job(1002, "policy_refresh_continuous_aggregate", "readings_daily", status=None, runs=0),
]


def test_all_jobs_present_and_healthy() -> None:
    health = assess_jobs(HEALTHY, expected_jobs(retention=False))
    assert health.healthy, health.problems
    assert len(health.ok) == 3 and any("not run yet" in line for line in health.ok)


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (HEALTHY[1:], "compression of readings: no job found"),
        ([HEALTHY[0], HEALTHY[1]], "refresh of readings_daily: no job found"),
        ([_job(1000, "policy_compression", "readings", status="Failed", failures=2),
          *HEALTHY[1:]], "last run failed (2 failures"),
        ([_job(1000, "policy_compression", "readings", scheduled=False), *HEALTHY[1:]],
         "not scheduled"),
        ([_job(1000, "policy_compression", "readings", job_status="Paused"), *HEALTHY[1:]],
         "not scheduled"),
        (HEALTHY, "retention of readings: no job found"),
    ],
)
def test_problems_are_reported(rows: list[JobRow], problem: str) -> None:
    health = assess_jobs(rows, expected_jobs(retention="retention" in problem))
    assert not health.healthy
    assert any(problem in p for p in health.problems), health.problems


def test_job_rows_parse_from_the_view_columns() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    row = JobRow.from_row((1003, "policy_retention", "Retention Policy [1003]", True, "readings",
                           "Success", "Scheduled", when, when, when, 5, 0))
    assert row.job_id == 1003 and row.target == "readings" and row.total_runs == 5


def test_without_the_extension_nothing_timescale_is_applied(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        assert timescale.available(conn) is False
        assert timescale.step(TimescaleSettings())(conn) == []
        assert timescale.installed_version(conn) is None


@pytest.mark.parametrize(("text", "version"), [("2.13.1", (2, 13, 1)), ("2.17.0-dev", (2, 17, 0))])
def test_parse_version(text: str, version: tuple[int, ...]) -> None:
    assert timescale.parse_version(text) == version
