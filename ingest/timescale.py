"""Everything TimescaleDB-specific, in one place (the DDL lives in ingest/timescale/*.sql).

Applied by `vigil db migrate` only when `pg_available_extensions` lists timescaledb; without it
the same tables work on plain PostgreSQL and rollups are computed at query time
(ingest.rollups). Written to the TimescaleDB 2.x documentation (generalised
`create_hypertable(..., by_range(...))` interface, so 2.13 or later); the text generation and
the job-health report are unit-tested here, the DDL itself only where the extension exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg

from ingest.migrate import Migration, Step

SQL_DIR = Path(__file__).parent / "timescale"
PREFIX = "timescale/"
MIN_VERSION = (2, 13)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_INTERVAL = re.compile(r"^[1-9][0-9]{0,5} (second|minute|hour|day|week|month|year)s?$")
_UNIT_DAYS = {"second": 1 / 86400, "minute": 1 / 1440, "hour": 1 / 24, "day": 1.0,
              "week": 7.0, "month": 30.0, "year": 365.0}

# proc_name of each policy's job in timescaledb_information.jobs.
COMPRESSION_PROCS = frozenset({"policy_compression", "policy_columnstore"})
REFRESH_PROC = "policy_refresh_continuous_aggregate"
RETENTION_PROC = "policy_retention"
PRUNE_PROC = "vigil_prune_reading_ids_job"
AGGREGATES = ("readings_hourly", "readings_daily")


class TimescaleConfigError(ValueError):
    """A TimescaleDB setting that cannot be applied as given."""


def interval_days(text: str) -> float:
    """Approximate length of a validated interval, for sanity comparisons only."""
    count, unit = validate_interval(text).split()
    return int(count) * _UNIT_DAYS[unit.rstrip("s")]


def validate_interval(text: str) -> str:
    """Intervals are spliced into DDL, so only `<n> <unit>` is accepted."""
    value = " ".join(text.strip().lower().split())
    if not _INTERVAL.match(value):
        raise TimescaleConfigError(
            f"interval {text!r} must look like '7 days' (unit second..year)"
        )
    return value


@dataclass(frozen=True)
class TimescaleSettings:
    # A chunk of 7 days of readings for a few thousand patients stays far below the "chunk
    # indexes fit in ~25 % of memory" rule of thumb while keeping the chunk count low.
    chunk_interval: str = "7 days"
    compress_after: str = "30 days"
    refresh_window: str = "45 days"
    # None: keep forever (the default for clinical data); "off" removes an existing policy.
    retention: str | None = None

    def values(self) -> dict[str, str]:
        return {
            "chunk_interval": validate_interval(self.chunk_interval),
            "compress_after": validate_interval(self.compress_after),
            "refresh_window": validate_interval(self.refresh_window),
        }

    def check_retention(self) -> str | None:
        if self.retention is None or self.retention == "off":
            return self.retention
        drop_after = validate_interval(self.retention)
        if interval_days(drop_after) <= interval_days(self.refresh_window):
            raise TimescaleConfigError(
                f"retention {drop_after!r} must be longer than the aggregate refresh window "
                f"{self.refresh_window!r}, or refreshes would erase trends over dropped data"
            )
        return drop_after


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill `{name}` placeholders; an unknown placeholder is an error, not an empty string."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise TimescaleConfigError(f"no value for placeholder {{{key}}}")
        return values[key]

    return _PLACEHOLDER.sub(fill, template)


def migrations(settings: TimescaleSettings | None = None) -> list[Migration]:
    """The numbered TimescaleDB steps, rendered. Checksums are of the templates, so changing a
    setting later does not look like an edited migration (it applies to new databases)."""
    values = (settings or TimescaleSettings()).values()
    steps: list[Migration] = []
    for path in sorted(SQL_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        template = Migration.from_text(PREFIX + path.stem, path.read_text())
        steps.append(Migration(template.name, render(template.sql, values), template.checksum,
                               template.transactional))
    return steps


def retention_sql(settings: TimescaleSettings) -> str | None:
    drop_after = settings.check_retention()
    if drop_after is None:
        return None
    if drop_after == "off":
        return (SQL_DIR / "retention_off.sql").read_text()
    return render((SQL_DIR / "retention.sql").read_text(), {"drop_after": drop_after})


def available(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return row is not None


def installed_version(conn: psycopg.Connection) -> tuple[int, ...] | None:
    row = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    return None if row is None else parse_version(str(row[0]))


def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def check_preloaded(conn: psycopg.Connection) -> None:
    row = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    libraries = str(row[0]) if row else ""
    if "timescaledb" not in libraries:
        raise TimescaleConfigError(
            "the timescaledb extension is installed on the server but not preloaded: add "
            "timescaledb to shared_preload_libraries and restart PostgreSQL"
        )


def step(settings: TimescaleSettings) -> Step:
    """A migrate() step: the TimescaleDB migrations where the extension exists, else none."""

    def timescale_step(conn: psycopg.Connection) -> Sequence[Migration]:
        if not available(conn):
            return []
        check_preloaded(conn)
        version = installed_version(conn)
        if version is not None and version < MIN_VERSION:
            raise TimescaleConfigError(
                f"TimescaleDB {'.'.join(map(str, version))} is older than 2.13"
            )
        return migrations(settings)

    return timescale_step


# ---- job health -----------------------------------------------------------------------

JOBS_QUERY = """
SELECT j.job_id, j.proc_name, j.application_name, j.scheduled,
       coalesce(ca.view_name, j.hypertable_name) AS target,
       s.last_run_status, s.job_status, s.last_run_started_at, s.last_successful_finish,
       s.next_start, coalesce(s.total_runs, 0), coalesce(s.total_failures, 0)
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
LEFT JOIN timescaledb_information.continuous_aggregates ca
       ON ca.materialization_hypertable_schema = j.hypertable_schema
      AND ca.materialization_hypertable_name = j.hypertable_name
ORDER BY j.job_id
"""


@dataclass(frozen=True)
class JobRow:
    job_id: int
    proc_name: str
    application_name: str
    scheduled: bool
    target: str | None  # hypertable, or the continuous aggregate's view name
    last_run_status: str | None  # 'Success' / 'Failed' / None before the first run
    job_status: str | None  # 'Scheduled' / 'Running' / 'Paused'
    last_run_started_at: datetime | None
    last_successful_finish: datetime | None
    next_start: datetime | None
    total_runs: int
    total_failures: int

    @classmethod
    def from_row(cls, row: Sequence[object]) -> JobRow:
        (job_id, proc, app, scheduled, target, status, job_status, started, finished,
         next_start, runs, failures) = row
        return cls(int(str(job_id)), str(proc), str(app), bool(scheduled),
                   None if target is None else str(target),
                   None if status is None else str(status),
                   None if job_status is None else str(job_status),
                   _dt(started), _dt(finished), _dt(next_start), int(str(runs)),
                   int(str(failures)))


def _dt(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


@dataclass(frozen=True)
class ExpectedJob:
    description: str
    procs: frozenset[str]
    target: str


def expected_jobs(retention: bool) -> list[ExpectedJob]:
    jobs = [ExpectedJob("compression of readings", COMPRESSION_PROCS, "readings")]
    jobs += [ExpectedJob(f"refresh of {view}", frozenset({REFRESH_PROC}), view)
             for view in AGGREGATES]
    if retention:
        jobs.append(ExpectedJob("retention of readings", frozenset({RETENTION_PROC}),
                                "readings"))
    return jobs


@dataclass
class JobHealth:
    ok: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return [f"ok       {line}" for line in self.ok] + [f"PROBLEM  {p}" for p in self.problems]


def assess_jobs(rows: Iterable[JobRow], expected: Sequence[ExpectedJob]) -> JobHealth:
    """Every expected policy has a scheduled job whose last run (if any) succeeded."""
    rows = list(rows)
    health = JobHealth()
    for want in expected:
        matches = [r for r in rows if r.proc_name in want.procs and r.target == want.target]
        if not matches:
            health.problems.append(f"{want.description}: no job found")
            continue
        for job in matches:
            label = f"{want.description} (job {job.job_id})"
            if not job.scheduled or job.job_status == "Paused":
                health.problems.append(f"{label}: not scheduled")
            elif job.last_run_status == "Failed":
                health.problems.append(
                    f"{label}: last run failed ({job.total_failures} failures of "
                    f"{job.total_runs} runs; last success {job.last_successful_finish})"
                )
            else:
                state = "not run yet" if job.total_runs == 0 else (
                    f"last run {job.last_run_status}, {job.total_runs} runs")
                health.ok.append(f"{label}: {state}, next {job.next_start}")
    return health


def job_health(conn: psycopg.Connection, retention: bool | None = None) -> JobHealth:
    rows = [JobRow.from_row(r) for r in conn.execute(JOBS_QUERY.encode()).fetchall()]
    if retention is None:
        retention = any(r.proc_name == RETENTION_PROC and r.target == "readings" for r in rows)
    return assess_jobs(rows, expected_jobs(retention))
