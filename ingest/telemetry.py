"""Prometheus metrics, the health endpoint, and JSON-lines logs for the consumer."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ingest.reasons import RejectReason

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_FLUSH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 3000, 4000, 5000, 10000)
_GC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)


class IngestMetrics:
    """One registry per consumer, so several consumers can live in one process (tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter("vigil_ingest_readings_accepted",
                                "Readings newly stored", registry=r)
        self.duplicates = Counter("vigil_ingest_readings_duplicate",
                                  "Readings already stored (resend or redelivery)", registry=r)
        self.dead_letters = Counter("vigil_ingest_dead_letters",
                                    "Messages or readings dead-lettered", ["reason"], registry=r)
        for reason in RejectReason:
            self.dead_letters.labels(reason.value)
        self.messages = Counter("vigil_ingest_messages", "MQTT messages consumed", registry=r)
        self.batch_seconds = Histogram("vigil_ingest_batch_seconds",
                                       "Time to write one batch, first query to commit",
                                       buckets=_LATENCY_BUCKETS, registry=r)
        self.commit_seconds = Histogram("vigil_ingest_commit_seconds", "COMMIT alone",
                                        buckets=_LATENCY_BUCKETS, registry=r)
        self.lag_seconds = Histogram("vigil_ingest_lag_seconds",
                                     "Commit time minus the gateway's sent_at, per message",
                                     buckets=_LAG_BUCKETS, registry=r)
        self.reading_lag_seconds = Gauge(
            "vigil_ingest_reading_lag_seconds",
            "Commit time minus the oldest received_at in the last batch", registry=r)
        self.database_errors = Counter("vigil_ingest_database_errors",
                                       "Failed write attempts (retried)", registry=r)
        self.write_errors = Counter("vigil_ingest_write_errors",
                                    "Failed write attempts not caused by the database "
                                    "(retried)", registry=r)
        # Where publish-to-commit latency goes: a message waits in ingest (queues, decoding,
        # the batching delay) for `wait`, then its batch is written in `batch_seconds`.
        self.wait_seconds = Histogram("vigil_ingest_wait_seconds",
                                      "Receipt of a batch's oldest message to the start of "
                                      "its write", buckets=_LATENCY_BUCKETS, registry=r)
        self.flush_readings = Histogram("vigil_ingest_flush_readings",
                                        "Readings per write transaction",
                                        buckets=_FLUSH_BUCKETS, registry=r)
        self.gc_seconds = Histogram("vigil_ingest_gc_seconds",
                                    "Garbage collector pauses (all threads stop)",
                                    ["generation"], buckets=_GC_BUCKETS, registry=r)
        self.pending = Gauge("vigil_ingest_pending_messages",
                             "Messages received and not yet acknowledged", registry=r)
        self.connected = Gauge("vigil_ingest_broker_connected", "1 while connected", registry=r)


class GcTimer:
    """Times the garbage collector's pauses into a histogram (a gc.callbacks pair)."""

    def __init__(self, metrics: IngestMetrics) -> None:
        self._histogram = metrics.gc_seconds
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._histogram.labels(str(info["generation"])).observe(
                time.perf_counter() - self._started)

    def install(self) -> None:
        gc.callbacks.append(self)

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self)


class HealthServer:
    """GET /metrics (Prometheus) and GET /healthz (JSON; 503 when unhealthy)."""

    def __init__(self, metrics: IngestMetrics, health: Callable[[], dict[str, Any]],
                 host: str, port: int) -> None:
        registry, get_health = metrics.registry, health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    body, ctype, code = generate_latest(registry), CONTENT_TYPE_LATEST, 200
                elif self.path.startswith("/healthz"):
                    state = get_health()
                    body = json.dumps(state, default=str).encode()
                    ctype, code = "application/json", 200 if state.get("healthy") else 503
                else:
                    body, ctype, code = b"not found\n", "text/plain", 404
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # scrapes every few seconds would drown the real log

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="ingest-http",
                                       daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
