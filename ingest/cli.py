"""`vigil ingest`: consume gateway messages from MQTT into PostgreSQL."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from ingest.settings import InvalidMqttUrl, load_settings
from ingest.telemetry import GcTimer, HealthServer, configure_logging

log = logging.getLogger("vigil.ingest")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vigil ingest",
        description="Consume gateway readings, status and events from MQTT into PostgreSQL. "
        "Settings come from --config (TOML, [ingest] section), then VIGIL_* environment "
        "variables, then these flags.")
    p.add_argument("--config", type=Path, help="TOML config file")
    p.add_argument("--database-url", help="libpq URL (VIGIL_DATABASE_URL)")
    p.add_argument("--mqtt-url", help="mqtt[s]://user:pass@host:port (VIGIL_MQTT_URL)")
    p.add_argument("--tls-ca-file", type=Path, help="CA bundle for mqtts://")
    p.add_argument("--worker", type=int, help="this worker's index, 0-based (default 0)")
    p.add_argument("--workers", type=int, help="how many workers share the buckets (default 1)")
    p.add_argument("--client-id", help="stable MQTT client id (default vigil-ingest-N-of-M)")
    p.add_argument("--session-expiry-s", type=int, help="persistent session lifetime")
    p.add_argument("--receive-maximum", type=int,
                   help="unacknowledged messages the broker may send us (default 1000)")
    p.add_argument("--writers", type=int,
                   help="writer threads, each with a database connection (2)")
    p.add_argument("--batch-readings", type=int, help="flush at this many readings (5000)")
    p.add_argument("--batch-delay-ms", type=int, help="flush when the oldest waited this (50)")
    p.add_argument("--batch-min-delay-ms", type=int,
                   help="flush when the oldest waited this and nothing else is waiting (5; "
                        "--batch-delay-ms or more turns it off)")
    p.add_argument("--max-future-s", type=float,
                   help="reject timestamps further ahead than this (600)")
    p.add_argument("--metrics-port", type=int, help="serve /metrics and /healthz on this port")
    p.add_argument("--metrics-host", help="address for the metrics port (127.0.0.1)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (INFO)")
    p.add_argument("--sweep-interval-s", type=float,
                   help="run the alert sweeper every N seconds in this process (15; 0 = off)")
    p.add_argument("--no-alerting", dest="alerting", action="store_const", const=False,
                   help="store readings without evaluating alert rules (benchmarks only)")
    p.add_argument("--migrate", action="store_true",
                   help="apply database migrations before consuming")
    return p


# Young-generation collections every GC_GEN0 net allocations instead of CPython's 700. Ingest
# allocates a few objects per reading and frees them a batch later, so with 700 the collector
# ran every few messages and promoted in-flight readings to older generations, whose scans
# cost more: decoding 30k messages of 50 readings spent 2.1 s CPU in 2,640 collections at 700,
# 7 ms in one at 20,000 (9.6 s -> 5.3 s in all). A collection scans what is alive, and under
# load that is the decoded readings waiting for a writer (up to 2 x batch_readings of them, a
# few objects each), so a threshold below that working set still collected every ~0.5 s and
# scanned the whole backlog each time. Above it collections are rare (bench/ingest.py, 20 s
# at full load, A/B pairs in one session: 20,000 -> 100,000 took 39-41 collections averaging
# 47-54 ms down to one of ~100 ms, ingest CPU 29.6-31.9 -> 22.7-25.0 us a reading; with
# alerting at 6 readings a message 70 collections + 6 older-generation ones, 2.1 s in all,
# down to 5 of 88 ms, 69 -> 62 us a reading).
GC_GEN0 = 100_000


def tune_gc() -> None:
    """Everything alive after start-up (modules, pydantic schemas, the metric catalogue) lives
    as long as the process: freeze it out of the collector's full scans, and collect the young
    generation less often. The vigil_ingest_gc_seconds histogram shows the effect."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0, gen1, gen2)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k not in {"config", "migrate"}}
    try:
        settings = load_settings(args.config, **overrides)
    except (ValidationError, InvalidMqttUrl, ValueError, OSError) as exc:
        print(f"vigil ingest: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.migrate:
        from ingest.db_cli import run_migrate

        code = run_migrate(settings.database_url, None)
        if code:
            return code
    from ingest.alerting import AlertingHook, SweeperThread
    from ingest.consumer import Consumer

    consumer = Consumer(settings, hook=AlertingHook() if settings.alerting else None)
    GcTimer(consumer.metrics).install()
    tune_gc()
    sweeper = None
    if settings.sweep_interval_s > 0:
        sweeper = SweeperThread(settings.database_url, settings.sweep_interval_s)
    server = None
    if settings.metrics_port is not None:
        server = HealthServer(consumer.metrics, consumer.health, settings.metrics_host,
                              settings.metrics_port)
        server.start()
        log.info("metrics and health endpoint",
                 extra={"fields": {"url": f"http://{settings.metrics_host}:{server.port}/"}})
    log.info("ingest starting", extra={"fields": {
        "mqtt": repr(settings.mqtt), "worker": settings.worker, "workers": settings.workers,
        "client_id": settings.effective_client_id}})
    try:
        if sweeper is not None:
            sweeper.start()
        return consumer.run()
    finally:
        if sweeper is not None:
            sweeper.stop()
        if server is not None:
            server.stop()
