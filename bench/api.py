"""API latency: the alert queue and a 30-day SpO2 trend, at 1,000 patients with continuous
SpO2 history.

Seeds a database with COPY (by default 1 reading/min for 30 days for 1,000 patients = 43.2 M
rows, written time-major like live ingest so one patient's rows are spread over the table),
starts `vigil api` as a separate process, and times HTTP requests from here:

- the alert queue (GET /alerts) as a clinician of one team (100 patients) and as an admin who
  sees all 1,000 patients, with live alerts for about a third of the patients and 20,000
  resolved ones in the history;
- the 30-day trend (GET /patients/{id}/readings?metric=spo2, auto resolution = 1 h buckets,
  720 buckets from 43,200 rows), first for patients not queried before, then again, then
  from --concurrency clients at once (each request competing with the others: under load).

Prints p50/p99 per scenario against the goals (queue p99 <= 50 ms, trend <= 100 ms).

    .venv/bin/python bench/api.py                     # full scale (about 10 minutes to seed)
    .venv/bin/python bench/api.py --patients 200 --days 7    # quick
    .venv/bin/python bench/api.py --workdir var/bench-api --keep  # reuse the seeded data
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.security import Role, hash_password, issue_token  # noqa: E402
from devstack.ports import free_port, wait_for_port  # noqa: E402
from devstack.postgres import PostgresServer  # noqa: E402
from ingest.migrate import migrate  # noqa: E402
from vigil.metrics import CATALOGUE, Metric  # noqa: E402

SECRET = "bench-secret-" + "x" * 40
TEAM_SIZE = 100
QUEUE_GOAL_MS = 50.0
TREND_GOAL_MS = 100.0
SPO2 = CATALOGUE[Metric.SPO2].number


@dataclass
class Seeded:
    patients: list[int]
    clinician: int
    admin: int
    readings: int
    live_alerts: int


def nhs_numbers(count: int) -> Iterator[str]:
    base = 900_000_000
    while count:
        digits = f"{base:09d}"
        base += 1
        check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(digits)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            count -= 1
            yield digits + str(check)


def seed_directory(conn: psycopg.Connection, patients: int, start: datetime) -> Seeded:
    org = conn.execute("INSERT INTO organisations (name) VALUES ('Bench Trust') RETURNING id"
                       ).fetchone()[0]  # type: ignore[index]
    teams = [r[0] for r in conn.execute(
        "INSERT INTO care_teams (organisation_id, name) SELECT %s, 'Ward ' || n "
        "FROM generate_series(1, %s) AS n RETURNING id",
        (org, max(1, patients // TEAM_SIZE))).fetchall()]
    hashed = hash_password("bench")
    admin = conn.execute(
        "INSERT INTO users (organisation_id, email, display_name, password_hash, role) "
        "VALUES (%s, 'admin@bench.example', 'Admin', %s, 'admin') RETURNING id",
        (org, hashed)).fetchone()[0]  # type: ignore[index]
    clinicians = []
    for n, team in enumerate(teams):
        user = conn.execute(
            "INSERT INTO users (organisation_id, email, display_name, password_hash, role) "
            "VALUES (%s, %s, %s, %s, 'clinician') RETURNING id",
            (org, f"clinician{n}@bench.example", f"Clinician {n}", hashed)).fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO team_members (team_id, user_id) VALUES (%s, %s)",
                     (team, user))
        clinicians.append(user)
    ids: list[int] = []
    with conn.cursor() as cur:
        for n, nhs in enumerate(nhs_numbers(patients)):
            pid = cur.execute(
                "INSERT INTO patients (organisation_id, nhs_number, display_name) "
                "VALUES (%s, %s, %s) RETURNING id", (org, nhs, f"Patient {n}")).fetchone()[0]  # type: ignore[index]
            ids.append(pid)
            cur.execute("INSERT INTO patient_teams (patient_id, team_id) VALUES (%s, %s)",
                        (pid, teams[n % len(teams)]))
            cur.execute("INSERT INTO gateways (id, organisation_id, status, last_seen) "
                        "VALUES (%s, %s, 'online', now())", (f"gw-{pid}", org))
            dev = cur.execute("INSERT INTO devices (address, model) VALUES (%s, 'Oximeter') "
                              "RETURNING id", (f"OX:{pid:08d}",)).fetchone()[0]  # type: ignore[index]
            cur.execute("INSERT INTO enrolments (patient_id, device_id, gateway_id, period) "
                        "VALUES (%s, %s, %s, tstzrange(%s, NULL))",
                        (pid, dev, f"gw-{pid}", start - timedelta(days=1)))
    return Seeded(ids, clinicians[0], admin, 0, 0)


def copy_readings(conn: psycopg.Connection, patients: list[int], start: datetime,
                  steps: int, interval: timedelta) -> int:
    """COPY in time order across patients, as live ingest would write them. Device id equals
    the enrolment's device (created in patient order, so patient id order)."""
    devices: dict[int, int] = dict(conn.execute(
        "SELECT patient_id, device_id FROM enrolments").fetchall())
    rng = random.Random(7)
    baseline = {p: rng.randint(93, 98) for p in patients}
    noise = [rng.choice((-2, -1, -1, 0, 0, 0, 0, 1, 1, 2)) for _ in range(997)]
    fmt = "%Y-%m-%d %H:%M:%S+00"
    rows = 0
    # Load without the index, then rebuild it exactly as the migrations define it.
    indexdef = conn.execute("SELECT pg_get_indexdef('readings_patient_metric_time_idx'::regclass)"
                            ).fetchone()[0]  # type: ignore[index]
    conn.execute("DROP INDEX readings_patient_metric_time_idx")
    with conn.cursor() as cur, cur.copy(
        "COPY readings (measured_at, received_at, patient_id, device_id, metric, value, "
        "origin, reading_id) FROM STDIN"
    ) as copy:
        for step in range(steps):
            at = start + step * interval
            measured = at.strftime(fmt)
            received = (at + timedelta(seconds=2)).strftime(fmt)
            prefix = f"{measured}\t{received}\t"
            lines = [
                f"{prefix}{p}\t{devices[p]}\t{SPO2}\t{baseline[p] + noise[(step + p) % 997]}"
                f"\tlive\t{p:08x}-0000-4000-8000-{step:012x}\n"
                for p in patients
            ]
            copy.write("".join(lines))
            rows += len(lines)
            if step % 1440 == 0:
                print(f"  copied {rows:,} readings", file=sys.stderr, flush=True)
    print(f"  building {indexdef}", file=sys.stderr, flush=True)
    conn.execute(indexdef)
    return rows


def seed_alerts(conn: psycopg.Connection, patients: list[int], now: datetime) -> int:
    rng = random.Random(11)
    live = 0
    with conn.cursor() as cur:
        # History: 20,000 resolved alerts, spread over the month.
        for n in range(20_000):
            pid = rng.choice(patients)
            opened = now - timedelta(minutes=rng.randint(60, 43_000))
            cur.execute(
                "INSERT INTO alerts (patient_id, rule_key, severity, state, message, opened_at, "
                "last_evidence_at, resolved_at, resolution_source, resolution) VALUES "
                "(%s, %s, %s, 'resolved', 'SpO2 low', %s, %s, %s, 'rule', 'auto-resolved')",
                (pid, f"threshold:spo2_{n % 7}" if n % 7 else "threshold:spo2",
                 rng.choice(("low", "medium", "high")), opened, opened,
                 opened + timedelta(minutes=30)))
        for pid in patients:
            if rng.random() < 0.33:
                opened = now - timedelta(minutes=rng.randint(1, 600))
                cur.execute(
                    "INSERT INTO alerts (patient_id, rule_key, severity, message, opened_at, "
                    "last_evidence_at, last_value, trigger_metric, trigger_value, "
                    "trigger_measured_at, paged_at) VALUES (%s, 'news2', %s, 'NEWS2 5', %s, %s, "
                    "91, %s, 91, %s, %s)",
                    (pid, rng.choice(("low", "medium", "high")), opened, opened, SPO2, opened,
                     opened))
                live += 1
    return live


def seed(url: str, patients: int, days: int, interval_s: int) -> Seeded:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    interval = timedelta(seconds=interval_s)
    steps = int(timedelta(days=days) / interval)
    start = now - steps * interval
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        seeded = seed_directory(conn, patients, start)
        conn.commit()
        seeded.readings = copy_readings(conn, seeded.patients, start, steps, interval)
        conn.commit()
        seeded.live_alerts = seed_alerts(conn, seeded.patients, now)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"seeded {seeded.readings:,} readings, {seeded.live_alerts} live alerts in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    return seeded


def load_seeded(url: str) -> Seeded:
    with psycopg.connect(url) as conn:
        patients = [r[0] for r in conn.execute("SELECT id FROM patients ORDER BY id")]
        admin = conn.execute("SELECT id FROM users WHERE role = 'admin'").fetchone()[0]  # type: ignore[index]
        clinician = conn.execute("SELECT min(id) FROM users WHERE role = 'clinician'"
                                 ).fetchone()[0]  # type: ignore[index]
        readings = conn.execute("SELECT reltuples::bigint FROM pg_class "
                                "WHERE relname = 'readings'").fetchone()[0]  # type: ignore[index]
        live = conn.execute("SELECT count(*) FROM alerts WHERE state <> 'resolved'"
                            ).fetchone()[0]  # type: ignore[index]
    return Seeded(patients, clinician, admin, readings, live)


def readings_index(url: str) -> str:
    """The readings index as it stands (migration 0003 gives it INCLUDE (value)); drops the
    extra index that older versions of this benchmark could add to data kept with --keep."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP INDEX IF EXISTS readings_trend_covering_idx")
        row = conn.execute("SELECT pg_get_indexdef('readings_patient_metric_time_idx'::regclass)"
                           ).fetchone()
    return str(row[0]) if row else "none"


def visibility(url: str, patient: int) -> str:
    """How much of `readings` is marked all-visible, and the heap fetches of one 30-day trend
    query: an index-only scan visits the heap for every row on a page VACUUM has not yet marked
    (migration 0170 keeps autovacuum doing that; the seed VACUUMs once at the end)."""
    with psycopg.connect(url, autocommit=True) as conn:
        visible, pages = conn.execute(
            "SELECT relallvisible, relpages FROM pg_class WHERE oid = 'readings'::regclass"
        ).fetchone() or (0, 0)
        plan = "\n".join(str(row[0]) for row in conn.execute(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT date_bin('1 hour', measured_at, "
            "'2000-01-03'::timestamptz), min(value), max(value), sum(value) / count(*), "
            "count(*) FROM readings WHERE patient_id = %s AND metric = %s "
            "AND measured_at >= now() - interval '30 days' GROUP BY 1",
            (patient, SPO2)))
    fetches = next((line.split(":")[1].strip() for line in plan.splitlines()
                    if "Heap Fetches" in line), "n/a (not an index-only scan)")
    return (f"visibility map: {visible / max(pages, 1):.2%} of {pages:,} heap pages "
            f"all-visible; heap fetches in one 30-day trend query: {fetches}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def cpu_ms(parent: int) -> float:
    """CPU time (user + system) used so far by a process and its children (PostgreSQL
    backends are the postmaster's children): the machine is shared and noisy, so CPU per
    request says what wall time cannot."""
    if parent <= 0:
        return 0.0
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
        if pid == parent or int(fields[1]) == parent:  # the process, or its ppid
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total * TICK_MS


@dataclass
class Sample:
    wall_ms: list[float]
    api_cpu_ms: float  # per request
    db_cpu_ms: float  # per request


def timed(client: httpx.Client, paths: list[str], headers: dict[str, str],
          groups: tuple[int, int] = (0, 0)) -> Sample:
    api_before, db_before = cpu_ms(groups[0]), cpu_ms(groups[1])
    out = []
    for path in paths:
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        out.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return Sample(out, (cpu_ms(groups[0]) - api_before) / len(paths),
                  (cpu_ms(groups[1]) - db_before) / len(paths))


def report(name: str, sample: Sample, goal: float | None,
           extra: str = "") -> dict[str, object]:
    samples = sample.wall_ms
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    ratio = f"p99/goal {p99 / goal:.2f}" if goal else ""
    print(f"{name:<44} n={len(samples):<4} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
          f"max {max(samples):7.1f} ms  {ratio} {extra}\n{'':<44} CPU per request: API "
          f"{sample.api_cpu_ms:.1f} ms, PostgreSQL {sample.db_cpu_ms:.1f} ms")
    return {"scenario": name, "n": len(samples), "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2), "max_ms": round(max(samples), 2),
            "mean_ms": round(statistics.fmean(samples), 2), "goal_ms": goal,
            "api_cpu_ms_per_request": round(sample.api_cpu_ms, 2),
            "db_cpu_ms_per_request": round(sample.db_cpu_ms, 2)}


def concurrent(base_url: str, paths: list[str], headers: dict[str, str], clients: int,
               groups: tuple[int, int]) -> Sample:
    """The same requests from `clients` clients at once (each its own connection), so each
    request competes with clients - 1 others: the trend under load."""
    api_before, db_before = cpu_ms(groups[0]), cpu_ms(groups[1])

    def one_client(share: list[str]) -> list[float]:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            return timed(client, share, headers).wall_ms

    with ThreadPoolExecutor(clients) as pool:
        shares = pool.map(one_client, [paths[i::clients] for i in range(clients)])
        wall = [ms for share in shares for ms in share]
    return Sample(wall, (cpu_ms(groups[0]) - api_before) / len(paths),
                  (cpu_ms(groups[1]) - db_before) / len(paths))


def run(url: str, seeded: Seeded, requests: int, db_group: int, clients: int
        ) -> list[dict[str, object]]:
    port = free_port()
    env = {**os.environ, "VIGIL_JWT_SECRET": SECRET, "VIGIL_LOG_LEVEL": "WARNING",
           "VIGIL_POOL_MAX_SIZE": "4"}
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "--port", str(port), "--database-url", url],
        cwd=ROOT, env=env)
    groups = (server.pid, db_group)
    results = []
    try:
        wait_for_port(port, 60)
        ttl = timedelta(hours=1)
        clinician = {"Authorization": "Bearer " + issue_token(
            str(seeded.clinician), Role.CLINICIAN, SECRET, ttl, "vigil")[0]}
        admin = {"Authorization": "Bearer " + issue_token(
            str(seeded.admin), Role.ADMIN, SECRET, ttl, "vigil")[0]}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            timed(client, ["/alerts"] * 20, clinician)  # warm the connection pool
            queue = timed(client, ["/alerts"] * requests, clinician, groups)
            shown = len(client.get("/alerts", headers=clinician).json()["alerts"])
            results.append(report("alert queue, clinician (100 patients)", queue,
                                  QUEUE_GOAL_MS, f"[{shown} alerts]"))
            queue = timed(client, ["/alerts"] * requests, admin, groups)
            shown = len(client.get("/alerts", headers=admin).json()["alerts"])
            results.append(report(f"alert queue, admin ({len(seeded.patients)} patients)",
                                  queue, QUEUE_GOAL_MS, f"[{shown} alerts, limit 100]"))
            since = (datetime.now(UTC) - timedelta(days=30)).isoformat()
            rng = random.Random(3)
            chosen = rng.sample(seeded.patients, min(requests, len(seeded.patients)))
            paths = [f"/patients/{p}/readings?metric=spo2&since={since.replace('+', '%2B')}"
                     for p in chosen]
            sample = client.get(paths[0], headers=admin).json()
            detail = (f"[{len(sample['buckets'])} x {sample['resolution']} buckets from "
                      f"{sum(b['count'] for b in sample['buckets']):,} readings]")
            results.append(report("30-day SpO2 trend, first query per patient",
                                   timed(client, paths, admin, groups), TREND_GOAL_MS,
                                   detail))
            results.append(report("30-day SpO2 trend, repeated",
                                   timed(client, paths, admin, groups), TREND_GOAL_MS))
            if clients > 1:
                # Untimed: the pool (min_size 1) grows to `clients` connections only when
                # requests wait for one; connecting is not what this case measures.
                concurrent(str(client.base_url), paths[:clients * 5], admin, clients, groups)
                results.append(report(f"30-day SpO2 trend, {clients} clients at once",
                                      concurrent(str(client.base_url), paths, admin, clients,
                                                 groups), TREND_GOAL_MS))
    finally:
        server.terminate()
        server.wait(30)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--interval", type=int, default=60, help="seconds between readings")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per case")
    parser.add_argument("--workdir", type=Path, help="PostgreSQL data directory to (re)use")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="clients in parallel for the trend under concurrent load "
                             "(0 or 1 = skip that case)")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vigil-bench-api-"))
    server = PostgresServer(workdir / "pg", database="bench")
    server.start()
    try:
        url = server.url
        with psycopg.connect(url) as conn:
            ready = conn.execute("SELECT to_regclass('patients') IS NOT NULL").fetchone()
        if ready and ready[0]:
            seeded = load_seeded(url)
            print(f"reusing {len(seeded.patients)} patients, ~{seeded.readings:,} readings",
                  file=sys.stderr)
        else:
            migrate(url)
            seeded = seed(url, args.patients, args.days, args.interval)
        index = readings_index(url)
        print(f"\n{len(seeded.patients)} patients, {seeded.readings:,} SpO2 readings "
              f"({args.days} days at 1 per {args.interval} s), {seeded.live_alerts} live "
              f"alerts + 20,000 resolved; plain PostgreSQL, {index.split(' ON ')[-1]}; API "
              f"with a pool of 4, sequential requests, then {args.concurrency} clients at "
              f"once\n")
        print(visibility(url, seeded.patients[len(seeded.patients) // 2]) + "\n")
        assert server.process is not None
        results = run(url, seeded, args.requests, server.process.pid, args.concurrency)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        server.stop()
        if not args.keep and args.workdir is None:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
