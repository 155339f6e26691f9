"""Ingest benchmark: the raw COPY ceiling versus the full durable path, in one run.

    .venv/bin/python bench/ingest.py                 # a minute of full path (the goal's length)
    .venv/bin/python bench/ingest.py --seconds 10    # quick look

Phases (own PostgreSQL and Mosquitto, started here; nothing else is touched):
 1. raw ceiling: psycopg binary COPY of the same rows straight into the same tables with their
    unique keys, one connection, 50k rows per transaction. Two figures: into a readings-shaped
    table with UNIQUE (reading_id) (the reference shape), and into readings + reading_ids
    (the exact storage work of the full path: both tables, both keys).
 2. full path, closed loop for --seconds: gateway batches (--batch readings per message)
    published QoS 1 to Mosquitto, consumed by `vigil ingest` (a subprocess, its own GIL),
    validated against the contract, committed and acked end to end. The publisher keeps at
    most --window readings unacknowledged, like gateways waiting for their acks.
 3. latency, open loop at --rate readings/s for --latency-seconds: p50 / p99 from publish
    to commit (Ack.committed_at, same host clock) and from publish to the gateway seeing the Ack.
After phases 2 and 3, ingest's own histograms (scraped from its metrics port) split
publish->commit into its parts: waiting in ingest (queues, decoding, the batching delay),
writing the batch, COMMIT, readings per transaction, and garbage-collector pauses.
`--batch 2` gives the shape of real virtual-ward gateways (one or two readings a message); add
`--devices 1 --gateways 2000 --spread --alerting` for a virtual ward's spread as well (every
flush then holds about as many distinct gateways and patients as messages, as bench/system.py's
virtual-ward mix does; without --spread each gateway's messages come in a run).
Zero loss is checked after each phase: ids acknowledged == ids published == rows stored.
Payloads are generated before timing starts, so the publisher costs little CPU during it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
import psycopg  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from quiet import pg_processes, wait_quiet  # noqa: E402 (bench/, beside this script)
from teardown import end_run  # noqa: E402

from devstack.mosquitto import MosquittoBroker  # noqa: E402
from devstack.postgres import PostgresServer  # noqa: E402
from ingest import migrate, registry  # noqa: E402
from ingest.db_cli import sync_metrics  # noqa: E402
from vigil.messages import READING_ID_NAMESPACE, reading_id  # noqa: E402
from vigil.metrics import CATALOGUE, Metric  # noqa: E402
from vigil.topics import Channel, topic  # noqa: E402

METRICS = [(Metric.SPO2, 97.0), (Metric.PULSE_RATE, 72.0)]
_NS = READING_ID_NAMESPACE.bytes


def fast_reading_id(device: str, metric: str, key_time: datetime, seq: int) -> str:
    """vigil.messages.reading_id, minus uuid.UUID's overhead (checked against it below)."""
    name = f"{device}|{metric}|{key_time.isoformat()}|{seq}".encode()
    raw = bytearray(hashlib.sha1(_NS + name, usedforsecurity=False).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass
class Message:
    gateway: str
    topic: str
    payload: bytes
    ids: list[str]


def generate(args: tuple[list[tuple[str, list[str]]], int, int, float, int, bool]
             ) -> list[Message]:
    """Messages for some gateways: `per_gateway` readings each, `batch` per message. With
    `spread` the gateways take turns message by message (a virtual ward: every flush then
    spans about as many gateways and patients as it holds messages); without, each gateway's
    messages come in a run."""
    gateways, per_gateway, batch, base_ts, salt, spread = args
    base = datetime.fromtimestamp(base_ts, UTC)
    sent_at = datetime.now(UTC).isoformat()
    messages: list[Message] = []
    starts = range(0, per_gateway, batch)
    order = ([(g, s) for s in starts for g in gateways] if spread
             else [(g, s) for g in gateways for s in starts])
    for (gateway, devices), start in order:
        name = topic(gateway, Channel.READINGS)
        parts, ids = [], []
        for i in range(start, min(start + batch, per_gateway)):
            device = devices[i % len(devices)]
            metric, value = METRICS[i % len(METRICS)]
            at = base + timedelta(milliseconds=10 * i)
            seq = salt * 10_000_000 + i
            rid = fast_reading_id(device, metric.value, at, seq)
            stamp = at.isoformat()
            parts.append(
                f'{{"id":"{rid}","device_id":"{device}","metric":"{metric.value}",'
                f'"value":{value + i % 3},"unit":"{CATALOGUE[metric].ucum}",'
                f'"measured_at":"{stamp}","received_at":"{stamp}","sequence":{seq}}}')
            ids.append(rid)
        payload = (f'{{"v":1,"kind":"readings","gateway_id":"{gateway}",'
                   f'"sent_at":"{sent_at}","readings":[{",".join(parts)}]}}').encode()
        messages.append(Message(gateway, name, payload, ids))
    return messages


def make_messages(fleet: list[tuple[str, list[str]]], total: int, batch: int, salt: int,
                  spread: bool = False) -> list[Message]:
    per_gateway = max(batch, total // len(fleet) // batch * batch)
    base_ts = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    chunks = [fleet[i::4] for i in range(4)]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        parts = pool.map(generate, [(c, per_gateway, batch, base_ts, salt, spread)
                                     for c in chunks if c])
    # Interleave gateways so every partition and device is busy at once.
    messages: list[Message] = []
    for group in zip(*parts, strict=False):
        messages.extend(group)
    for part in parts:
        messages.extend(part[min(len(p) for p in parts):])
    return messages


# ---- phase 1: the raw ceiling -------------------------------------------------------------

CEILING_DDL = """
CREATE TABLE ceiling_readings (LIKE readings INCLUDING DEFAULTS);
CREATE UNIQUE INDEX ON ceiling_readings (reading_id);
CREATE INDEX ON ceiling_readings (patient_id, metric, measured_at DESC);
"""
READING_COLUMNS = ("measured_at, received_at, patient_id, device_id, metric, value, quality, "
                   "origin, reading_id, sequence")
READING_TYPES = ["timestamptz", "timestamptz", "int4", "int4", "int2", "float8", "text[]",
                 "text", "uuid", "int8"]


def ceiling_rows(messages: list[Message], limit: int) -> list[tuple[object, ...]]:
    base = datetime.now(UTC) - timedelta(days=1)
    rows: list[tuple[object, ...]] = []
    for n, rid in enumerate(i for m in messages for i in m.ids):
        if n >= limit:
            break
        at = base + timedelta(microseconds=n)
        rows.append((at, at, n % 200 + 1, n % 400 + 1, 1 + n % 2, 97.0, [], "live",
                     uuid.UUID(rid), n))
    return rows


@dataclass
class Ceiling:
    rows_per_s: float
    python_us: float  # CPU per row in this process (formatting binary COPY)
    postgres_us: float  # CPU per row in the server backend


def run_ceiling(url: str, rows: list[tuple[object, ...]]) -> tuple[Ceiling, Ceiling]:
    """(readings-shaped table with UNIQUE(reading_id), readings + reading_ids)."""
    chunk = 50_000
    results = []
    with psycopg.connect(url) as conn:
        conn.execute(CEILING_DDL.encode())
        conn.commit()
        for tables in (("ceiling_readings",), ("reading_ids", "readings")):
            backend = CpuMeter({"pg": [conn.info.backend_pid]})
            cpu_started = time.process_time()
            started = time.perf_counter()
            for i in range(0, len(rows), chunk):
                with conn.cursor() as cur:
                    for table in tables:
                        _copy_rows(cur, table, rows[i:i + chunk])
                conn.commit()
            elapsed = time.perf_counter() - started
            results.append(Ceiling(len(rows) / elapsed,
                                   (time.process_time() - cpu_started) / len(rows) * 1e6,
                                   backend.used()["pg"] / len(rows) * 1e6))
    return results[0], results[1]


def _copy_rows(cur: psycopg.Cursor[tuple[object, ...]], table: str,
               rows: list[tuple[object, ...]]) -> None:
    if table == "reading_ids":
        with cur.copy("COPY reading_ids (reading_id, measured_at) FROM STDIN (FORMAT BINARY)"
                      ) as copy:
            copy.set_types(["uuid", "timestamptz"])
            for row in rows:
                copy.write_row((row[8], row[0]))
        return
    with cur.copy(f"COPY {table} ({READING_COLUMNS}) FROM STDIN (FORMAT BINARY)".encode()
                  ) as copy:
        copy.set_types(READING_TYPES)
        for row in rows:
            copy.write_row(row)


# ---- phases 2 and 3: the full path --------------------------------------------------------

class Gateways:
    """The gateways' side: publish QoS 1, collect end-to-end Acks."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-gateways",
                                  protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(0)  # our own window below
        self.client.max_queued_messages_set(0)
        self.lock = threading.Condition()
        self.acked: set[str] = set()
        self.sent: set[str] = set()
        self.published_at: dict[str, float] = {}  # first id of a message -> publish time
        self.commit_latency: list[float] = []
        self.ack_latency: list[float] = []
        self.sent_times: list[float] = []  # publish time of each commit_latency entry
        ready = threading.Event()
        self.client.on_message = self._on_ack
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.client.subscribe("vigil/v1/gw/+/+/ack", qos=1)
        assert ready.wait(10)

    def _on_ack(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            self._record_ack(msg)
        except Exception as exc:  # a bug here must not silently stop ack collection
            print(f"  ack handler failed: {exc!r}", file=sys.stderr)

    def _record_ack(self, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        ack = json.loads(msg.payload)
        committed = datetime.fromisoformat(ack["committed_at"]).timestamp()
        stored = ack.get("stored", [])
        with self.lock:
            for rid in stored:
                sent = self.published_at.pop(rid, None)
                if sent is not None:
                    self.commit_latency.append(committed - sent)
                    self.sent_times.append(sent)
                    self.ack_latency.append(now - sent)
            self.acked.update(stored)
            self.lock.notify_all()

    def publish(self, message: Message) -> None:
        with self.lock:
            self.published_at[message.ids[0]] = time.time()
            self.sent.update(message.ids)
        self.client.publish(message.topic, message.payload, qos=1)

    def clear_latency(self) -> None:
        with self.lock:
            self.commit_latency.clear()
            self.ack_latency.clear()
            self.sent_times.clear()

    def unacked(self) -> int:
        return len(self.sent) - len(self.acked)

    def run_closed_loop(self, messages: list[Message], seconds: float, window: int
                        ) -> tuple[int, float]:
        """Publish as fast as acks allow for `seconds`; returns (readings, elapsed)."""
        published = 0
        started = time.perf_counter()
        deadline = started + seconds
        it = iter(messages)
        while time.perf_counter() < deadline:
            with self.lock:
                while len(self.sent) - len(self.acked) >= window:
                    self.lock.wait(0.5)
            message = next(it, None)
            if message is None:
                print("  (ran out of pre-generated readings: raise --max-rate)")
                break
            self.publish(message)
            published += len(message.ids)
        self.wait_all()
        return published, time.perf_counter() - started

    def run_open_loop(self, messages: list[Message], seconds: float, rate: float) -> int:
        published = 0
        started = time.perf_counter()
        for message in messages:
            due = started + published / rate
            if due > started + seconds:
                break
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            self.publish(message)
            published += len(message.ids)
        return published

    def wait_all(self, timeout: float = 120.0) -> None:
        """Until every id published so far is acknowledged (or the timeout)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not self.sent <= self.acked and time.monotonic() < deadline:
                self.lock.wait(0.5)


def worst_spans(starts: list[float], values: list[float], span: float, top: int
                ) -> list[tuple[float, float]]:
    """(offset from the first start, worst value) of the `top` worst `span`-second spans,
    worst first: where in a phase its tail came from."""
    if not starts:
        return []
    first = min(starts)
    worst: dict[int, float] = {}
    for start, value in zip(starts, values, strict=True):
        k = int((start - first) / span)
        worst[k] = max(worst.get(k, value), value)
    ranked = sorted(worst.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return [(k * span, value) for k, value in ranked]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def seed(url: str, gateways: int, devices: int) -> list[tuple[str, list[str]]]:
    migrate.migrate(url)
    fleet: list[tuple[str, list[str]]] = []
    with psycopg.connect(url) as conn:
        sync_metrics(conn)
        org = registry.create_organisation(conn, "bench")
        since = datetime.now(UTC) - timedelta(days=30)
        for g in range(gateways):
            gw = registry.create_gateway(conn, f"bench-{g:04d}", org)
            patient = registry.create_patient(conn, org, _nhs(g), f"P{g}")
            addresses = []
            for d in range(devices):
                address = f"BE:NC:{g // 256:02X}:{g % 256:02X}:00:{d:02X}"
                registry.enrol(conn, patient, registry.create_device(conn, address), gw, since)
                addresses.append(address)
            fleet.append((gw, addresses))
        conn.commit()
    return fleet


def _nhs(seed: int) -> str:
    from ingest.nhs import valid_nhs_number

    return valid_nhs_number(100_000_000 + seed, step=100_000)


def count(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT reading_id) FROM readings"
                           ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


class CpuMeter:
    """CPU seconds (user + system) used by groups of processes since construction, read from
    /proc: a cost per reading that does not depend on how busy the shared machine is."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.start = {name: self._cpu(pids) for name, pids in groups.items()}

    @staticmethod
    def _cpu(pids: list[int]) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return total

    def used(self) -> dict[str, float]:
        return {name: self._cpu(pids) - self.start[name] for name, pids in self.groups.items()}


class IngestProbe:
    """Reads ingest's own Prometheus histograms, to split publish->commit into its parts."""

    NAMES = ("vigil_ingest_wait_seconds", "vigil_ingest_batch_seconds",
             "vigil_ingest_commit_seconds", "vigil_ingest_flush_readings",
             "vigil_ingest_gc_seconds")

    def __init__(self, port: int) -> None:
        self.port = port
        self.start = self.read()

    def read(self) -> dict[str, dict[float, float]]:
        """Cumulative bucket counts per histogram (all label sets summed), +Inf included,
        and the sum under the key -1."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            text = r.read().decode()
        found: dict[str, dict[float, float]] = {name: {} for name in self.NAMES}
        for family in text_string_to_metric_families(text):
            if family.name not in found:
                continue
            for sample in family.samples:
                name = family.name
                if "generation" in sample.labels:  # GC pauses: one histogram per generation
                    name = f"{name}:{sample.labels['generation']}"
                buckets = found.setdefault(name, {})
                if sample.name.endswith("_bucket"):
                    le = float(sample.labels["le"])
                    buckets[le] = buckets.get(le, 0.0) + sample.value
                elif sample.name.endswith("_sum"):
                    buckets[-1] = buckets.get(-1, 0.0) + sample.value
        return found

    def report(self, indent: str = "  ") -> None:
        now = self.read()
        parts = []
        for name, label, scale, unit in (
            ("vigil_ingest_wait_seconds", "waiting in ingest (oldest message of a batch)",
             1000, "ms"),
            ("vigil_ingest_batch_seconds", "writing a batch", 1000, "ms"),
            ("vigil_ingest_commit_seconds", "  of which COMMIT", 1000, "ms"),
            ("vigil_ingest_flush_readings", "readings per transaction", 1, ""),
            *((f"vigil_ingest_gc_seconds:{g}", f"GC pauses, generation {g}", 1000, "ms")
              for g in range(3)),
        ):
            diff = {le: now.get(name, {}).get(le, 0.0) - self.start.get(name, {}).get(le, 0.0)
                    for le in now.get(name, {})}
            total = diff.get(float("inf"), 0.0)
            if not total:
                continue
            bounds = sorted(le for le in diff if le >= 0)
            p99 = next(le for le in bounds if diff[le] >= 0.99 * total)
            mean = diff.get(-1, 0.0) / total
            parts.append(f"{indent}  {label:<48} n {total:>7,.0f}  mean {mean * scale:8.1f}"
                         f"{unit:<2}  p99 <= {p99 * scale:g}{unit}")
        print(f"{indent}ingest's own histograms for this phase:")
        print("\n".join(parts))
        self.start = now


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60, help="full-path phase length")
    p.add_argument("--latency-seconds", type=float, default=15)
    p.add_argument("--rate", type=float, default=20_000, help="latency phase readings/s")
    p.add_argument("--batch", type=int, default=50, help="readings per MQTT message")
    p.add_argument("--gateways", type=int, default=200)
    p.add_argument("--devices", type=int, default=2, help="devices per gateway")
    p.add_argument("--spread", action="store_true",
                   help="gateways take turns message by message, so a flush spans as many "
                   "gateways and patients as messages (virtual ward: --batch 2 --devices 1 "
                   "--gateways 2000 --spread --alerting)")
    p.add_argument("--window", type=int, default=60_000, help="unacked readings in flight")
    p.add_argument("--max-rate", type=float, default=150_000,
                   help="readings/s to pre-generate for (upper bound of the full path)")
    p.add_argument("--ceiling-rows", type=int, default=500_000)
    p.add_argument("--batch-readings", type=int, default=5000, help="ingest flush size")
    p.add_argument("--batch-delay-ms", type=int, default=50,
                   help="ingest flush delay (the shipped default)")
    p.add_argument("--alerting", action="store_true",
                   help="evaluate alert rules in the write transaction, as `vigil ingest` does "
                   "by default (off here: this measures the storage path)")
    p.add_argument("--ingest-workers", type=int, default=1,
                   help="`vigil ingest` processes, each owning a bucket partition")
    p.add_argument("--ingest-arg", action="append", default=[],
                   help="extra `vigil ingest` argument (repeatable)")
    p.add_argument("--profile", type=Path,
                   help="record the ingest process with py-spy into this SVG")
    p.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                   help="extra PostgreSQL server setting for an experiment (repeatable), e.g. "
                   "--pg-setting synchronous_commit=off to see what commit flushes cost; the "
                   "summary names them, as such a run is not the shipped configuration")
    p.add_argument("--keep", action="store_true",
                   help="keep the work dir (database, broker store, logs) afterwards")
    args = p.parse_args()
    for setting in args.pg_setting:
        if "=" not in setting:
            p.error(f"--pg-setting {setting!r}: expected NAME=VALUE")

    assert fast_reading_id("AA", "spo2", datetime(2026, 1, 1, tzinfo=UTC), 3) == reading_id(
        "AA", Metric.SPO2, datetime(2026, 1, 1, tzinfo=UTC), 3)
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    pg = PostgresServer(work / "pg", settings=dict(
        setting.split("=", 1) for setting in args.pg_setting))
    # Persistence as in deploy/mosquitto.conf (periodic autosave). The devstack default saves
    # on every change, which is right for crash tests and ruinous for throughput.
    broker = MosquittoBroker(work / "mqtt", max_inflight=1000, max_queued=10_000_000,
                             extra_config="autosave_interval 60\nautosave_on_changes false\n")
    ingests: list[subprocess.Popen[bytes]] = []
    profiler: subprocess.Popen[bytes] | None = None
    try:
        pg.start()
        broker.start()
        print(f"servers: PostgreSQL {pg.bindir.parent.name} on :{pg.port}, "
              f"Mosquitto on :{broker.port}; {os.cpu_count()} cores")
        fleet = seed(pg.url, args.gateways, args.devices)
        total = int(args.max_rate * args.seconds)
        started = time.perf_counter()
        messages = make_messages(fleet, total, args.batch, salt=1, spread=args.spread)
        latency_messages = make_messages(fleet, int(args.rate * args.latency_seconds),
                                         args.batch, salt=2, spread=args.spread)
        print(f"generated {sum(len(m.ids) for m in messages):,} + "
              f"{sum(len(m.ids) for m in latency_messages):,} readings in "
              f"{time.perf_counter() - started:.1f}s ({args.batch} per message, "
              f"{len(messages[0].payload):,} bytes)")

        # phase 1
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE ceiling")
        ceiling_url = pg.admin_url.rsplit("/", 1)[0] + "/ceiling"
        migrate.migrate(ceiling_url)
        rows = ceiling_rows(messages, args.ceiling_rows)
        one, two = run_ceiling(ceiling_url, rows)
        one_table, two_tables = one.rows_per_s, two.rows_per_s
        print(f"raw ceiling, binary COPY on one connection, {len(rows):,} rows:")
        for label, c in (("readings-shaped table + UNIQUE(reading_id)", one),
                         ("readings + reading_ids (the full path's work)", two)):
            print(f"  into {label:<46} {c.rows_per_s:>9,.0f} rows/s  (CPU per row: "
                  f"python {c.python_us:.1f} us, postgres {c.postgres_us:.1f} us)")

        # phase 2
        metrics_port = free_port()
        for worker in range(args.ingest_workers):
            log = open(work / f"ingest-{worker}.log", "wb")  # noqa: SIM115 - the child's
            ingests.append(subprocess.Popen(
                [sys.executable, "-m", "vigil.cli", "ingest", "--database-url", pg.url,
                 "--mqtt-url", broker.url, "--client-id", f"bench-ingest-{worker}",
                 "--worker", str(worker), "--workers", str(args.ingest_workers),
                 "--batch-readings", str(args.batch_readings), "--batch-delay-ms",
                 str(args.batch_delay_ms),
                 *([] if args.alerting else ["--no-alerting", "--sweep-interval-s", "0"]),
                 *(["--metrics-port", str(metrics_port)] if worker == 0 else []),
                 *args.ingest_arg], cwd=REPO, stdout=log, stderr=log))
        deadline = time.monotonic() + 30
        for worker, process in enumerate(ingests):
            while b"connected to broker" not in (work / f"ingest-{worker}.log").read_bytes():
                assert process.poll() is None and time.monotonic() < deadline, "no ingest"
                time.sleep(0.1)
        gateways = Gateways(broker)
        warm = make_messages(fleet, len(fleet) * args.batch, args.batch, salt=3)
        for m in warm:  # first touch of every gateway and device
            gateways.publish(m)
        gateways.wait_all()
        if args.profile:
            profiler = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "-o", str(args.profile),
                 "-p", str(ingests[0].pid), "-d", str(int(args.seconds)), "-r", "50",
                 "--nonblocking", "--format",
                 "raw" if args.profile.suffix == ".txt" else "flamegraph"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        gateways.clear_latency()
        probe = IngestProbe(metrics_port)
        cpu = CpuMeter({"ingest": [p.pid for p in ingests], "postgres": pg_processes(pg),
                        "mosquitto": [broker.process.pid] if broker.process else [],
                        "publisher": [os.getpid()]})
        before = set(gateways.sent)
        _published, elapsed = gateways.run_closed_loop(messages, args.seconds, args.window)
        used = cpu.used()
        phase = gateways.sent - before
        lost = len(phase - gateways.acked)
        full = (len(phase) - lost) / elapsed
        print(f"full path{' with alerting' if args.alerting else ''}, closed loop "
              f"({args.ingest_workers} ingest worker(s), "
              f"{args.window:,} readings in flight, up to {args.batch_readings} per "
              f"transaction), {elapsed:.1f}s:")
        print(f"  {len(phase):,} published, {len(phase) - lost:,} acknowledged (loss {lost})")
        print(f"  {full:>10,.0f} readings/s  = {full / one_table:.1%} of the one-table ceiling,"
              f" {full / two_tables:.1%} of the two-table ceiling")
        print(f"  publish->commit under full load: p50 "
              f"{percentile(gateways.commit_latency, 0.5) * 1000:.0f} ms, p99 "
              f"{percentile(gateways.commit_latency, 0.99) * 1000:.0f} ms")
        print("  CPU per reading (load-independent): " + ", ".join(
            f"{name} {seconds / len(phase) * 1e6:.1f} us" for name, seconds in used.items()))
        print(f"  -> one core of ingest carries {len(phase) / used['ingest']:,.0f} readings/s;"
              f" ingest + PostgreSQL together cost "
              f"{(used['ingest'] + used['postgres']) / len(phase) * 1e6:.0f} us of CPU a reading")
        # On a shared machine wall-clock rates say more about the neighbours than about us.
        # From CPU cost alone, on otherwise idle cores: the ceiling is its slower side (client
        # formatting and server run in parallel); the full path is bound by its single-threaded
        # ingest process per worker, or by all CPU it needs spread over the cores.
        probe.report()
        cores = os.cpu_count() or 1
        per_reading = {k: v / len(phase) * 1e6 for k, v in used.items()}
        idle_ceiling = 1e6 / max(one.python_us, one.postgres_us)
        idle_full = min(1e6 / per_reading["ingest"] * args.ingest_workers,
                        cores * 1e6 / sum(per_reading.values()))
        print(f"  CPU-cost estimate for {cores} idle cores: ceiling {idle_ceiling:,.0f} rows/s,"
              f" full path {idle_full:,.0f} readings/s = {idle_full / idle_ceiling:.1%}")

        # phase 3, once ingest and PostgreSQL are idle: the drain after phase 2, and the
        # autovacuum and checkpoint it sets off, belong to no phase (bench/quiet.py)
        waited = wait_quiet(lambda: [*(p.pid for p in ingests), *pg_processes(pg)],
                            busy_cores=0.15)
        print(f"(waited {waited:.0f} s for ingest and PostgreSQL to go quiet)")
        probe.start = probe.read()
        gateways.clear_latency()
        before = set(gateways.sent)
        sent = gateways.run_open_loop(latency_messages, args.latency_seconds, args.rate)
        gateways.wait_all()
        phase = gateways.sent - before
        print(f"latency at {args.rate:,.0f} readings/s for {args.latency_seconds:.0f}s "
              f"({sent:,} readings, loss {len(phase - gateways.acked)}):")
        for name, values in (("publish->commit", gateways.commit_latency),
                             ("publish->ack at gateway", gateways.ack_latency)):
            print(f"  {name:<24} p50 {percentile(values, 0.5) * 1000:6.1f} ms   p99 "
                  f"{percentile(values, 0.99) * 1000:6.1f} ms   max "
                  f"{max(values, default=float('nan')) * 1000:6.1f} ms")
        probe.report()
        print("  worst half-seconds of the phase (from its start: worst publish->commit): "
              + ", ".join(f"{at:.1f} s: {worst * 1000:.0f} ms" for at, worst in
                          worst_spans(gateways.sent_times, gateways.commit_latency, 0.5, 5)))
        rows_stored, distinct = count(pg.url)
        ok = gateways.sent == gateways.acked and rows_stored == distinct == len(gateways.sent)
        print(f"zero-loss check: {len(gateways.sent):,} published, {len(gateways.acked):,} "
              f"acknowledged, {rows_stored:,} rows, {distinct:,} distinct: "
              f"{'OK' if ok else 'FAIL'}")
        if profiler is not None:
            profiler.wait(args.seconds + 30)
            print(f"profile: {args.profile}")
        print(f"summary: ceiling {one_table:,.0f} rows/s; full path {full:,.0f} readings/s "
              f"({full / one_table:.1%}); p99 publish->commit at {args.rate:,.0f}/s "
              f"{percentile(gateways.commit_latency, 0.99) * 1000:.0f} ms; "
              f"{'zero loss' if ok else 'LOSS OR DUPLICATES'}"
              + (f" (EXPERIMENT, PostgreSQL with {', '.join(args.pg_setting)})"
                 if args.pg_setting else ""))
        return 0
    finally:
        end_run(ingests, [broker, pg], work, args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
