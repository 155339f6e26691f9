"""Sweeper cost: CPU per patient per sweep (issues #5 and #7, 10,000 patients every 15 s).

    .venv/bin/python bench/sweeper.py                    # 1,000 patients
    .venv/bin/python bench/sweeper.py --patients 5000 --repeat 3

A PostgreSQL of our own (started here) holds N patients, each with a home gateway and a
device, a mix of conditions (general adult without a rule_settings row, COPD, heart failure,
hypertension), 10 % of gateways offline, 5 % of devices on low battery, and recent readings
of every scheduled metric for 90 % of patients (--measured; the rest get missing-data alerts).
A first sweep opens those alerts; a few are acknowledged or snoozed. Then the figures: the
steady "quiet" sweep a minute later (what runs every 15 s), alternating with the same sweep
evaluating everything (the test's reference sweep_patient, as before the shortcut), and a
sweep an hour on (escalations, snooze expiry, new missing data). Prints process CPU per
patient (time.process_time, not wall) and the sweeper's own split: SQL load, pure rules,
writes.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from devstack.postgres import PostgresServer  # noqa: E402
from ingest import migrate, registry  # noqa: E402
from ingest.alerting import Sweeper, sweeper  # noqa: E402
from ingest.alerting.sweeper import SweepResult  # noqa: E402
from ingest.db_cli import sync_metrics  # noqa: E402
from ingest.nhs import valid_nhs_number  # noqa: E402
from vigil.metrics import CATALOGUE, Metric  # noqa: E402

CONDITIONS = [None] * 7 + ["copd", "heart_failure", "hypertension"]
SCHEDULED = (Metric.SPO2, Metric.SYSTOLIC_BP, Metric.BODY_TEMPERATURE, Metric.BODY_WEIGHT)



def seed(url: str, patients: int, now: datetime, measured: float) -> None:
    rnd = random.Random(7)
    migrate.migrate(url)
    with psycopg.connect(url) as conn:
        sync_metrics(conn)
        org = registry.create_organisation(conn, "bench")
        for i in range(patients):
            gateway = registry.create_gateway(conn, f"bench-{i:05d}", org)
            patient = registry.create_patient(conn, org, valid_nhs_number(1000 + 10 * i), f"P{i}")
            device = registry.create_device(conn, f"BENCH-{i:05d}")
            registry.enrol(conn, patient, device, gateway, start=now - timedelta(days=2))
            condition = CONDITIONS[i % len(CONDITIONS)]
            if condition is not None:
                conn.execute("INSERT INTO rule_settings (patient_id, condition) VALUES (%s, %s)",
                             (patient, condition))
            offline = rnd.random() < 0.10
            conn.execute("UPDATE gateways SET status = %s, last_seen = %s WHERE id = %s",
                         ("offline" if offline else "online",
                          now - timedelta(hours=2) if offline else now, gateway))
            conn.execute("UPDATE devices SET last_seen = %s, battery_level = %s WHERE id = %s",
                         (now, 10 if rnd.random() < 0.05 else 80, device))
            if rnd.random() < measured:
                for metric in SCHEDULED:
                    conn.execute(
                        "INSERT INTO readings (measured_at, received_at, patient_id, device_id,"
                        " metric, value, origin, reading_id) VALUES (%s, %s, %s, %s, %s, 1.0,"
                        " 'live', gen_random_uuid())",
                        (now - timedelta(seconds=30), now, patient, device,
                         CATALOGUE[metric].number))
        conn.commit()


def timed(conn: psycopg.Connection, now: datetime, chunk: int, full: bool = False
          ) -> tuple[float, float, SweepResult]:
    fast = sweeper.sweep_patient
    if full:  # the reference that builds every evaluation (tests/ingest/alerting)
        sys.path.insert(0, str(REPO / "tests" / "ingest" / "alerting"))
        from test_alerting_sweep_skip import reference
        sweeper.sweep_patient = reference
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        result = Sweeper(chunk).sweep(conn, now)
        return time.process_time() - cpu, time.perf_counter() - wall, result
    finally:
        sweeper.sweep_patient = fast


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--patients", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3, help="quiet sweeps to time")
    p.add_argument("--measured", type=float, default=0.9,
                   help="share of patients with recent readings (the rest: missing-data alerts)")
    p.add_argument("--chunk", type=int, default=Sweeper().chunk,
                   help="patients per chunk transaction")
    args = p.parse_args()

    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-sweeper-") as tmp, \
            PostgresServer(Path(tmp) / "pg") as pg:
        url = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        print(f"seeding {args.patients} patients ...", flush=True)
        seed(url, args.patients, now, args.measured)
        with psycopg.connect(url, autocommit=True) as conn:
            first = timed(conn, now, args.chunk)
            # A few clinician actions on the alerts just opened.
            conn.execute("UPDATE alerts SET state = 'acknowledged', acknowledged_at = %s "
                         "WHERE id %% 5 = 0", (now,))
            conn.execute("UPDATE alerts SET snoozed_until = %s WHERE id %% 7 = 0",
                         (now + timedelta(minutes=30),))
            conn.execute("VACUUM ANALYZE")
            runs = [("first", first)]
            for k in range(args.repeat):
                at = now + timedelta(seconds=60 + k)
                runs.append((f"full {k + 1}", timed(conn, at, args.chunk, full=True)))
                runs.append((f"quiet {k + 1}", timed(conn, at, args.chunk)))
            runs.append(("an hour on", timed(conn, now + timedelta(hours=1), args.chunk)))
            alerts = conn.execute("SELECT count(*) FROM alerts").fetchone()

    print(f"\n{args.patients} patients, {alerts and alerts[0]} alerts")
    for label, (cpu, wall, r) in runs:
        n = max(r.patients, 1)
        print(f"  {label:>10}: {1000 * cpu / n:.3f} ms CPU/patient (wall {1000 * wall / n:.3f}"
              f" ms) = load {1000 * r.load_cpu / n:.3f} + rules {1000 * r.rules_cpu / n:.3f}"
              f" + write {1000 * r.write_cpu / n:.3f}; {r.patients} patients, "
              f"{r.skipped} skipped by the pre-check, {r.changes} changes, {r.marks} marks")
    for prefix, name in (("full", "evaluating everything"), ("quiet", "with the shortcut")):
        best = min(cpu / max(r.patients, 1) for label, (cpu, _, r) in runs
                   if label.startswith(prefix))
        print(f"  quiet sweep {name}, best of {args.repeat}: {1000 * best:.3f} ms CPU per "
              f"patient; 10,000 patients: {10 * best * 1000:.1f} s CPU per sweep")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
