"""Helpers for the ingest tests: a seeded fleet, a gateway-side MQTT client that publishes
and collects Acks, and the consumer in-process or as a `vigil ingest` subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from ingest import migrate, registry
from ingest.consumer import Consumer
from ingest.db_cli import sync_metrics
from ingest.decoding import decode_message
from ingest.nhs import valid_nhs_number
from ingest.settings import load_settings
from ingest.writer import BatchWriter, FlushResult, Incoming, InsertHook
from vigil.messages import Ack, Reading, ReadingBatch, encode
from vigil.metrics import Metric
from vigil.topics import Channel, topic

REPO = Path(__file__).resolve().parents[2]


def nhs_number(seed: int) -> str:
    """A valid NHS number derived from a seed."""
    return valid_nhs_number(seed)


def migrate_db(url: str) -> None:
    migrate.migrate(url)
    with psycopg.connect(url) as conn:
        sync_metrics(conn)


@dataclass
class Fleet:
    """One organisation; gateways each with patients and devices enrolled from `since`."""

    url: str
    organisation_id: int
    since: datetime
    gateways: list[str] = field(default_factory=list)
    # device address -> (patient_id, gateway_id)
    devices: dict[str, tuple[int, str]] = field(default_factory=dict)

    def devices_of(self, gateway: str) -> list[str]:
        return [d for d, (_, g) in self.devices.items() if g == gateway]


def seed_fleet(url: str, gateways: int = 2, devices_per_gateway: int = 2,
               prefix: str | None = None) -> Fleet:
    prefix = prefix or f"gw{uuid.uuid4().hex[:6]}"
    since = datetime.now(UTC) - timedelta(days=30)
    with psycopg.connect(url) as conn:
        org = registry.create_organisation(conn, f"org {prefix}")
        team = registry.create_team(conn, org, "virtual ward")
        fleet = Fleet(url, org, since)
        for g in range(gateways):
            gateway = registry.create_gateway(conn, f"{prefix}-{g}", org)
            fleet.gateways.append(gateway)
            patient = registry.create_patient(conn, org, nhs_number(abs(hash((prefix, g)))),
                                              f"Patient {g}", team_ids=(team,))
            for d in range(devices_per_gateway):
                address = f"{prefix.upper()}:{g:02d}:{d:02d}"
                device = registry.create_device(conn, address, model="sim")
                registry.enrol(conn, patient, device, gateway, start=since)
                fleet.devices[address] = (patient, gateway)
        conn.commit()
    return fleet


_counter = iter(range(1, 10**9))


def make_reading(device: str, metric: Metric = Metric.SPO2, value: float = 97.0,
                 measured_at: datetime | None = None, **kw: object) -> Reading:
    now = datetime.now(UTC)
    return Reading.create(device_id=device, metric=metric, value=value,
                          measured_at=measured_at or now - timedelta(seconds=5),
                          received_at=now - timedelta(seconds=4), sequence=next(_counter),
                          **kw)  # type: ignore[arg-type]


def batch_payload(gateway: str, readings: list[Reading]) -> bytes:
    return encode(ReadingBatch(gateway_id=gateway, sent_at=datetime.now(UTC), readings=readings))


class GatewayClient:
    """What a gateway does on the wire: publish QoS 1 under its own topics, collect Acks."""

    def __init__(self, broker_url: str, gateways: list[str], name: str | None = None):
        host, port = broker_url.removeprefix("mqtt://").split(":")
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=name or f"gwtest-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(0)
        self.acks: list[Ack] = []
        self.stored: set[str] = set()
        self.rejected: dict[str, str] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        filters = [(topic(g, Channel.ACK), 1) for g in gateways]
        # (Re)subscribe on every connection: the session does not outlive a broker restart.
        self.client.on_connect = lambda c, *a: c.subscribe(filters)
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert self._subscribed.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        ack = Ack.model_validate_json(msg.payload)
        with self._lock:
            self.acks.append(ack)
            self.stored.update(ack.stored)
            self.rejected.update({r.id: r.reason for r in ack.rejected})

    def publish(self, gateway: str, payload: bytes, channel: Channel = Channel.READINGS,
                retain: bool = False, topic_name: str | None = None) -> None:
        info = self.client.publish(topic_name or topic(gateway, channel), payload, qos=1,
                                   retain=retain)
        info.wait_for_publish(10)

    def send(self, gateway: str, readings: list[Reading]) -> set[str]:
        self.publish(gateway, batch_payload(gateway, readings))
        return {r.id for r in readings}

    def wait_acked(self, ids: set[str], timeout: float = 30.0) -> None:
        wait_for(lambda: ids <= (self.stored | set(self.rejected)), timeout,
                 lambda: f"{len(ids - self.stored - set(self.rejected))} ids never acked")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0,
             message: Callable[[], str] = lambda: "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {message()}")
        time.sleep(0.05)


@contextlib.contextmanager
def running_consumer(database_url: str, broker_url: str, hook: InsertHook | None = None,
                     **overrides: object) -> Iterator[Consumer]:
    overrides.setdefault("batch_delay_ms", 20)
    settings = load_settings(None, database_url=database_url, mqtt_url=broker_url,
                             client_id=f"ingest-test-{uuid.uuid4().hex[:8]}", **overrides)
    consumer = Consumer(settings, hook=hook)
    consumer.start()
    assert consumer.wait_connected(10)
    time.sleep(0.2)  # subscriptions granted
    try:
        yield consumer
    finally:
        consumer.stop(forget_session=True)


def incoming(gateway: str, readings: list[Reading]) -> Incoming:
    name = topic(gateway, Channel.READINGS)
    now = datetime.now(UTC)
    return Incoming(name, decode_message(name, batch_payload(gateway, readings), now), now)


def write(url: str, items: list[Incoming], writer: BatchWriter | None = None) -> FlushResult:
    writer = writer or BatchWriter()
    with psycopg.connect(url) as conn:
        BatchWriter.prepare(conn)
        return writer.write(conn, items)


def stored_ids(url: str) -> list[str]:
    """Reading ids in `readings`, with repeats (a duplicate would show twice)."""
    with psycopg.connect(url) as conn:
        return [str(r[0]) for r in conn.execute("SELECT reading_id FROM readings")]


def dead_letters(url: str) -> list[tuple[str, str | None, bytes, str]]:
    """(reason, reading_id, payload, topic) of every dead letter."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT reason, reading_id::text, payload, topic FROM dead_letters ORDER BY id")
        return [(r[0], r[1], bytes(r[2]), r[3]) for r in rows]


class IngestProcess:
    """`vigil ingest` as a subprocess we own, for SIGTERM/SIGKILL tests."""

    def __init__(self, database_url: str, broker_url: str, client_id: str, log: Path,
                 env: dict[str, str] | None = None, extra: tuple[str, ...] = ()):
        self.args = [sys.executable, "-m", "vigil.cli", "ingest", "--database-url",
                     database_url, "--mqtt-url", broker_url, "--client-id", client_id,
                     "--batch-delay-ms", "20", *extra]
        self.env = {**os.environ, **(env or {})}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.args, cwd=REPO, env=self.env, stdout=out,
                                            stderr=out)
        wait_for(lambda: "connected to broker" in self.log.read_text(errors="replace")
                 or self.process is None or self.process.poll() is not None, 30)
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        time.sleep(0.3)  # subscriptions granted

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_lines(self) -> list[dict[str, object]]:
        lines = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        return lines
