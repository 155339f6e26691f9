"""Alerting cost: the batch writer's readings/s without and with the in-transaction alerting
hook, on the same data, in the same run.

    .venv/bin/python bench/alerting.py                       # 500 patients, 24 flushes each way
    .venv/bin/python bench/alerting.py --patients 2000 --flushes 10
    .venv/bin/python bench/alerting.py --patients 2500 --seconds 1 --flushes 8

The last is the system target's shape: 10,000 patients at 1 Hz SpO2 + pulse fill a 5,000
reading flush with ~2 readings per patient, so per-patient costs (state, history, locks)
weigh five times more than in the default run (10 readings per patient per flush).

A PostgreSQL of our own (started here) holds two identical databases; one writer stores the
flushes without a hook, the other with `ingest.alerting.AlertingHook` (the path `vigil ingest`
runs). Flushes alternate between the two so the shared machine's noise falls on both alike.
Each flush is what the consumer commits at its default size: one message per gateway (a home
gateway per patient) carrying --seconds of a continuous pulse oximeter (SpO2 and pulse at
1 Hz), already decoded (decoding is the consumer's cost either way). --breaching of the
patients desaturate to 90 %, so alerts are opened, raised and updated along the way, and
every patient's SpO2/pulse runs the general adult rules (thresholds and NEWS2, which looks
up the latest of six parameters). Prints the figures and the ratio.
"""

from __future__ import annotations

import argparse
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
from ingest.alerting import AlertingHook, Sweeper  # noqa: E402
from ingest.cli import tune_gc  # noqa: E402
from ingest.db_cli import sync_metrics  # noqa: E402
from ingest.decoding import decode_message  # noqa: E402
from ingest.nhs import valid_nhs_number  # noqa: E402
from ingest.writer import BatchWriter, Incoming  # noqa: E402
from vigil.messages import Reading, ReadingBatch, encode  # noqa: E402
from vigil.metrics import Metric  # noqa: E402
from vigil.topics import Channel, topic  # noqa: E402


def seed(url: str, patients: int, since: datetime) -> list[tuple[str, str]]:
    """One gateway and one oximeter per patient; returns (gateway, device) pairs."""
    migrate.migrate(url)
    pairs = []
    with psycopg.connect(url) as conn:
        sync_metrics(conn)
        org = registry.create_organisation(conn, "bench")
        for i in range(patients):
            gateway = registry.create_gateway(conn, f"bench-{i:05d}", org)
            patient = registry.create_patient(conn, org, valid_nhs_number(1000 + 10 * i), f"P{i}")
            address = f"BENCH-{i:05d}"
            device = registry.create_device(conn, address)
            registry.enrol(conn, patient, device, gateway, start=since)
            pairs.append((gateway, address))
        conn.commit()
    return pairs


def flushes(pairs: list[tuple[str, str]], count: int, seconds: int, breaching: float,
            start: datetime) -> list[list[Incoming]]:
    """`count` flushes of `seconds` of oximetry per patient, decoded as the consumer would."""
    out: list[list[Incoming]] = []
    sick = max(1, int(len(pairs) * breaching))
    seq = 0
    for f in range(count):
        items = []
        for n, (gateway, device) in enumerate(pairs):
            readings = []
            for s in range(seconds):
                at = start + timedelta(seconds=f * seconds + s)
                spo2 = 90.0 if n < sick and f >= 2 else 97.0
                for metric, value in ((Metric.SPO2, spo2), (Metric.PULSE_RATE, 72.0)):
                    seq += 1
                    readings.append(Reading.create(device_id=device, metric=metric,
                                                   value=value, measured_at=at,
                                                   received_at=at, sequence=seq))
            name = topic(gateway, Channel.READINGS)
            now = datetime.now(UTC)
            payload = encode(ReadingBatch(gateway_id=gateway, sent_at=now, readings=readings))
            items.append(Incoming(name, decode_message(name, payload, now), now))
        out.append(items)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--patients", type=int, default=500)
    p.add_argument("--flushes", type=int, default=24, help="flushes each way")
    p.add_argument("--seconds", type=int, default=5,
                   help="seconds of oximetry per patient per flush (500 x 5 x 2 = 5000)")
    p.add_argument("--breaching", type=float, default=0.05, help="share of patients at 90 %%")
    args = p.parse_args()

    since = datetime.now(UTC) - timedelta(days=1)
    start = datetime.now(UTC) - timedelta(minutes=30)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-alerting-") as tmp, \
            PostgresServer(Path(tmp) / "pg") as pg:
        urls = {}
        for name in ("plain", "alerting"):
            with psycopg.connect(pg.admin_url, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name}")
            urls[name] = f"postgresql://postgres@127.0.0.1:{pg.port}/{name}"
        print(f"seeding {args.patients} patients twice ...", flush=True)
        pairs = seed(urls["plain"], args.patients, since)
        seed(urls["alerting"], args.patients, since)
        tune_gc()  # the collector as `vigil ingest` runs it (its young generation dominated)
        print(f"generating {args.flushes} flushes of "
              f"{args.patients * args.seconds * 2} readings ...", flush=True)
        work = flushes(pairs, args.flushes, args.seconds, args.breaching, start)

        hook = AlertingHook()
        writers = {"plain": BatchWriter(), "alerting": BatchWriter(hook)}
        conns = {name: psycopg.connect(url) for name, url in urls.items()}
        elapsed = {name: 0.0 for name in urls}
        stored = {name: 0 for name in urls}
        try:
            for conn in conns.values():
                BatchWriter.prepare(conn)
            for items in work:
                for name in ("plain", "alerting"):
                    started = time.perf_counter()
                    result = writers[name].write(conns[name], items)
                    elapsed[name] += time.perf_counter() - started
                    stored[name] += result.inserted
            with conns["alerting"].cursor() as cur:
                open_alerts = cur.execute("SELECT count(*) FROM alerts").fetchone()
                events = cur.execute("SELECT count(*) FROM alert_events").fetchone()
            # The sweeper over the same patients: a first sweep (opening missing-data alerts
            # for the never-measured schedules), then a quiet one (nothing to write).
            sweeps = []
            with psycopg.connect(urls["alerting"], autocommit=True) as conn:
                for _ in range(2):
                    started = time.perf_counter()
                    swept = Sweeper().sweep(conn, datetime.now(UTC))
                    sweeps.append((time.perf_counter() - started, swept))
        finally:
            for conn in conns.values():
                conn.close()

    rate = {name: stored[name] / elapsed[name] for name in urls}
    per_flush = {name: 1000 * elapsed[name] / len(work) for name in urls}
    print(f"\n{args.patients} patients, {len(work)} flushes of "
          f"{stored['plain'] // len(work)} readings each way")
    print(f"  writer without hook: {rate['plain']:>9,.0f} readings/s "
          f"({per_flush['plain']:.0f} ms per flush)")
    print(f"  writer with alerting: {rate['alerting']:>8,.0f} readings/s "
          f"({per_flush['alerting']:.0f} ms per flush)")
    print(f"  ratio with/without:  {rate['alerting'] / rate['plain']:.2f}")
    print(f"  alerting cost:       {per_flush['alerting'] - per_flush['plain']:.0f} ms per "
          f"flush, {1e6 * (elapsed['alerting'] - elapsed['plain']) / stored['alerting']:.1f} "
          "us per reading")
    s = hook.stats
    print(f"  hook: {s.readings} readings, {s.alert_changes} alert changes, {s.pages} pages, "
          f"{s.failures} failures; alerts {open_alerts and open_alerts[0]}, "
          f"alert_events {events and events[0]}")
    total = s.load_seconds + s.rules_seconds + s.write_seconds
    print(f"  hook time: {1e6 * total / s.readings:.1f} us per reading = load "
          f"{1e6 * s.load_seconds / s.readings:.1f} + rules (vigil.rules, pure) "
          f"{1e6 * s.rules_seconds / s.readings:.1f} + write "
          f"{1e6 * s.write_seconds / s.readings:.1f}")
    for label, (seconds, swept) in zip(("first", "quiet"), sweeps, strict=True):
        print(f"  sweeper, {label} sweep: {swept.patients} patients in {1000 * seconds:.0f} ms "
              f"({swept.patients / seconds:,.0f} patients/s), {swept.changes} alert changes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
