"""`vigil db migrate | status`: schema migrations, reference data, TimescaleDB job health."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import psycopg

from ingest import migrate, timescale
from ingest.settings import DEFAULT_DATABASE_URL
from vigil.metrics import CATALOGUE

SYNC_METRICS = """
INSERT INTO metrics (number, code, display, ucum, loinc, mdc_code, plausible_min,
                     plausible_max, decimals)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (number) DO UPDATE SET code = excluded.code, display = excluded.display,
    ucum = excluded.ucum, loinc = excluded.loinc, mdc_code = excluded.mdc_code,
    plausible_min = excluded.plausible_min, plausible_max = excluded.plausible_max,
    decimals = excluded.decimals
"""


def sync_metrics(conn: psycopg.Connection) -> None:
    """The metrics reference table mirrors vigil.metrics.CATALOGUE exactly."""
    with conn.cursor() as cur:
        cur.executemany(SYNC_METRICS, [
            (s.number, s.metric.value, s.display, s.ucum, s.loinc, s.mdc_code,
             s.plausible_min, s.plausible_max, s.decimals) for s in CATALOGUE.values()])


def run_migrate(database_url: str, retention: str | None) -> int:
    settings = timescale.TimescaleSettings(retention=retention)
    try:
        settings.check_retention()
        timescale_step = timescale.step(settings)
        result = migrate.migrate(database_url, after=[timescale_step])
        with psycopg.connect(database_url) as conn:
            sync_metrics(conn)
            conn.commit()
            has_timescale = timescale.installed_version(conn) is not None
            if has_timescale:
                sql = timescale.retention_sql(settings)
                if sql is not None:
                    conn.execute(sql.encode())
                    conn.commit()
    except (migrate.MigrationError, timescale.TimescaleConfigError, psycopg.Error) as exc:
        print(f"vigil db migrate: {exc}", file=sys.stderr)
        return 1
    for name in result.applied:
        print(f"applied  {name}")
    print(f"{len(result.applied)} applied, {len(result.already)} already up to date")
    if not has_timescale:
        print("timescaledb: not available; plain PostgreSQL tables, rollups at query time")
        return 0
    return report_jobs(database_url)


def report_jobs(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        health = timescale.job_health(conn)
    print("timescaledb jobs:")
    for line in health.lines():
        print(f"  {line}")
    return 0 if health.healthy else 3


def run_status(database_url: str) -> int:
    try:
        with psycopg.connect(database_url) as conn:
            done = migrate.applied_migrations(conn)
            version = timescale.installed_version(conn)
            steps = timescale.migrations() if version is not None else []
    except psycopg.Error as exc:
        print(f"vigil db status: {exc}", file=sys.stderr)
        return 1
    known = migrate.discover() + steps
    for m in known:
        state = "applied" if m.name in done else "PENDING"
        if m.name in done and done[m.name] != m.checksum:
            state = "CHANGED"
        print(f"{state:8} {m.name}")
    unknown = sorted(set(done) - {m.name for m in known})
    for name in unknown:
        print(f"{'applied':8} {name} (no longer on disk)")
    print(f"timescaledb: {'.'.join(map(str, version)) if version else 'not installed'}")
    pending = [m for m in known if m.name not in done]
    code = 4 if pending else 0
    if version is not None:
        code = code or report_jobs(database_url)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vigil db", description=__doc__)
    parser.add_argument("--database-url",
                        default=os.environ.get("VIGIL_DATABASE_URL", DEFAULT_DATABASE_URL),
                        help="libpq URL (VIGIL_DATABASE_URL)")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("migrate", help="apply pending migrations (safe to run concurrently)")
    m.add_argument("--retention", default=os.environ.get("VIGIL_READINGS_RETENTION"),
                   help="TimescaleDB only: drop raw readings older than e.g. '7 years'; "
                   "'off' removes the policy; unset leaves it as it is (none by default)")
    sub.add_parser("status", help="applied and pending migrations, TimescaleDB job health")
    args = parser.parse_args(argv)
    if args.command == "migrate":
        return run_migrate(args.database_url, args.retention)
    return run_status(args.database_url)
