"""Outages: PostgreSQL down mid-stream, ingest killed between commit and ack, the broker
restarting, and SIGTERM. Oracle in each: the set of reading ids published equals the set
stored, each exactly once, and every one is acknowledged to the gateway in the end."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg
from ingest_helpers import (
    Fleet,
    GatewayClient,
    IngestProcess,
    make_reading,
    migrate_db,
    running_consumer,
    seed_fleet,
    stored_ids,
    wait_for,
)

from devstack.mosquitto import MosquittoBroker
from devstack.postgres import PostgresServer
from ingest.consumer import CRASH_AFTER_COMMIT_ENV

# The issue asks for a 30 s database outage, and gets it: the consumer fails its flushes and
# retries at its longest backoff for most of it while the broker holds the stream.
OUTAGE_SECONDS = 30


class Stream:
    """Publishes small batches from a thread until stopped; remembers every id it sent."""

    def __init__(self, client: GatewayClient, fleet: Fleet) -> None:
        self.client, self.fleet = client, fleet
        self.sent: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for gw in self.fleet.gateways:
                readings = [make_reading(d) for d in self.fleet.devices_of(gw) for _ in range(5)]
                self.client.send(gw, readings)
                self.sent.update(r.id for r in readings)
            time.sleep(0.1)

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def count_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
    return int(row[0]) if row else 0


def test_postgres_down_mid_stream_loses_and_duplicates_nothing(
    own_postgres: PostgresServer, mqtt_broker: MosquittoBroker
) -> None:
    url = own_postgres.url
    migrate_db(url)
    fleet = seed_fleet(url)
    client = GatewayClient(mqtt_broker.url, fleet.gateways)
    try:
        with running_consumer(url, mqtt_broker.url) as consumer, Stream(client, fleet) as stream:
            wait_for(lambda: count_rows(url) > 50)
            own_postgres.stop()  # fast shutdown, mid-stream
            time.sleep(OUTAGE_SECONDS)
            assert consumer.metrics.database_errors._value.get() >= 2  # it kept retrying
            assert not consumer.health()["healthy"]
            own_postgres.start()
            time.sleep(1)
        client.wait_acked(stream.sent, timeout=60)
        wait_for(lambda: count_rows(url) >= len(stream.sent), 30)
        stored = stored_ids(url)
        assert Counter(stored) == Counter(stream.sent)  # nothing lost, nothing twice
        assert len(stream.sent) > 200
    finally:
        client.close()


def test_sigkill_between_commit_and_ack_stores_nothing_twice(
    fleet: Fleet, mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    gw = fleet.gateways[0]
    client_id = f"ingest-kill-{uuid.uuid4().hex[:6]}"
    client = GatewayClient(mqtt_broker.url, [gw])
    extra = ("--session-expiry-s", "120")
    readings = [make_reading(d) for d in fleet.devices_of(gw) for _ in range(50)]
    expected = {r.id for r in readings}
    try:
        doomed = IngestProcess(fleet.url, mqtt_broker.url, client_id, tmp_path / "1.log",
                               {CRASH_AFTER_COMMIT_ENV: "1"}, extra)
        doomed.start()
        client.send(gw, readings)
        assert doomed.wait() == -signal.SIGKILL  # died right after its commit
        assert Counter(stored_ids(fleet.url)) == Counter(expected)  # committed...
        time.sleep(0.5)
        assert not client.stored  # ...but never acknowledged
        survivor = IngestProcess(fleet.url, mqtt_broker.url, client_id, tmp_path / "2.log",
                                 extra=extra)
        survivor.start()  # same client id: the broker redelivers the unacknowledged batch
        try:
            client.wait_acked(expected)
        finally:
            survivor.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            assert survivor.wait() == 0
        assert Counter(stored_ids(fleet.url)) == Counter(expected)  # still exactly once
    finally:
        client.close()


def test_broker_restart_reconnects_and_continues(fleet: Fleet, own_broker: MosquittoBroker
                                                 ) -> None:
    gw = fleet.gateways[0]
    device = fleet.devices_of(gw)[0]
    client = GatewayClient(own_broker.url, [gw])
    before = [make_reading(device) for _ in range(20)]
    after = [make_reading(device) for _ in range(20)]
    try:
        with running_consumer(fleet.url, own_broker.url) as consumer:
            client.send(gw, before)
            client.wait_acked({r.id for r in before})
            client._subscribed.clear()
            own_broker.restart()
            wait_for(lambda: consumer.health()["broker_connected"], 30)
            wait_for(lambda: client.client.is_connected() and client._subscribed.is_set(), 30)
            client.send(gw, after)
            client.wait_acked({r.id for r in after}, timeout=60)
        assert Counter(stored_ids(fleet.url)) == Counter(r.id for r in before + after)
    finally:
        client.close()


def test_sigterm_finishes_the_batch_in_hand(fleet: Fleet, mqtt_broker: MosquittoBroker,
                                            tmp_path: Path) -> None:
    gw = fleet.gateways[0]
    client_id = f"ingest-term-{uuid.uuid4().hex[:6]}"
    client = GatewayClient(mqtt_broker.url, [gw])
    readings = [make_reading(d) for d in fleet.devices_of(gw) for _ in range(200)]
    expected = {r.id for r in readings}
    extra = ("--session-expiry-s", "120", "--batch-delay-ms", "2000",
             "--batch-readings", "100000")
    try:
        process = IngestProcess(fleet.url, mqtt_broker.url, client_id, tmp_path / "t.log",
                                extra=extra)
        process.start()
        for i in range(0, len(readings), 50):
            client.send(gw, readings[i:i + 50])
        time.sleep(0.5)  # received, still waiting for the 2 s batch delay
        assert process.process is not None
        process.process.send_signal(signal.SIGTERM)
        assert process.wait() == 0
        # Oracle: the batch in hand was committed and acknowledged before exiting.
        client.wait_acked(expected, timeout=10)
        assert Counter(stored_ids(fleet.url)) == Counter(expected)
        assert any(str(line.get("msg", "")).startswith("stopping")
                   for line in process.log_lines())
    finally:
        client.close()
