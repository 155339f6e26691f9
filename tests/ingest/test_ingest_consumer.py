"""End to end through a real Mosquitto and PostgreSQL: a plain paho client plays the gateway.

Each test states its oracle: the set of reading ids published versus the ids stored (with
repeats, so a duplicate would show) and the ids acknowledged on the gateway's ack topic."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from ingest_helpers import (
    Fleet,
    GatewayClient,
    batch_payload,
    dead_letters,
    make_reading,
    running_consumer,
    stored_ids,
    wait_for,
)

from devstack.mosquitto import MosquittoBroker
from ingest.telemetry import HealthServer
from ingest.writer import NewReading
from vigil.messages import GatewayState, GatewayStatus, encode
from vigil.metrics import Metric
from vigil.topics import BUCKETS, Channel, bucket_of, topic


def test_duplicate_delivery_stores_once_and_acks_every_time(
    fleet: Fleet, mqtt_broker: MosquittoBroker, gateway_client: GatewayClient
) -> None:
    gw = fleet.gateways[0]
    devices = fleet.devices_of(gw)
    readings = [make_reading(devices[i % 2], value=90 + i % 10) for i in range(120)]
    expected = {r.id for r in readings}
    with running_consumer(fleet.url, mqtt_broker.url) as consumer:
        gateway_client.send(gw, readings[:60])
        gateway_client.send(gw, readings)  # a resend overlapping the first batch
        gateway_client.send(gw, readings[30:90])  # and another
        gateway_client.wait_acked(expected)
        wait_for(lambda: consumer.metrics.duplicates._value.get() == 120)

        def acked_ids() -> int:
            return sum(len(a.stored) for a in gateway_client.acks if a.gateway_id == gw)

        wait_for(lambda: acked_ids() >= 240, message=lambda: f"{acked_ids()} acked of 240")
    stored = stored_ids(fleet.url)
    assert Counter(stored) == Counter(expected)  # oracle: each expected id exactly once
    assert gateway_client.stored >= expected and not gateway_client.rejected
    assert acked_ids() == 240  # every delivery acknowledged, duplicates too
    assert consumer.metrics.accepted._value.get() == 120


def test_every_rejection_reason_lands_in_dead_letters_with_raw_bytes(
    fleet: Fleet, mqtt_broker: MosquittoBroker, gateway_client: GatewayClient
) -> None:
    gw_a, gw_b = fleet.gateways
    mine, theirs = fleet.devices_of(gw_a)[0], fleet.devices_of(gw_b)[0]
    now = datetime.now(UTC)
    good = make_reading(mine)
    # one batch carrying every per-reading problem next to a good reading
    per_reading = {
        "enrolled_to_other_patient": make_reading(theirs),
        "unknown_device": make_reading("00:11:22:33:44:55"),
        "not_enrolled": make_reading(mine, measured_at=fleet.since - timedelta(hours=1)),
        "implausible_value": make_reading(mine, Metric.BODY_TEMPERATURE, value=52.0),
        "future_timestamp": make_reading(mine, measured_at=now + timedelta(hours=1)),
    }
    mixed = batch_payload(gw_a, [good, *per_reading.values()])
    body = json.loads(mixed)
    body["readings"].append({**body["readings"][0], "unit": "bpm"})  # schema, one reading
    mixed = json.dumps(body).encode()
    wrong_bucket = (bucket_of(gw_a) + 1) % BUCKETS
    whole = {
        "malformed_json": (topic(gw_a, Channel.READINGS), b'{"v": 1, "readings": [tru'),
        "schema_violation": (topic(gw_a, Channel.READINGS), b'{"v": 1, "kind": "readings"}'),
        "oversized": (topic(gw_a, Channel.READINGS), b"{" + b" " * (256 * 1024) + b"}"),
        "payload_gateway_mismatch": (topic(gw_a, Channel.READINGS),
                                     batch_payload(gw_b, [make_reading(theirs)])),
        "unknown_gateway": (topic("unregistered-gw", Channel.READINGS),
                            batch_payload("unregistered-gw", [make_reading(mine)])),
        "bad_topic": (f"vigil/v1/gw/{wrong_bucket:02d}/{gw_a}/readings",
                      batch_payload(gw_a, [make_reading(mine)])),
    }
    with running_consumer(fleet.url, mqtt_broker.url):
        gateway_client.publish(gw_a, mixed)
        for topic_name, payload in whole.values():
            gateway_client.publish(gw_a, payload, topic_name=topic_name)
        wait_for(lambda: len(dead_letters(fleet.url)) >= len(per_reading) + 1 + len(whole))
        gateway_client.wait_acked({good.id, *(r.id for r in per_reading.values())})
    letters = dead_letters(fleet.url)
    assert stored_ids(fleet.url) == [good.id]  # oracle: only the good reading is stored
    by_reason = {reason: (rid, raw, t) for reason, rid, raw, t in letters}
    assert Counter(r for r, *_ in letters) == Counter(
        [*per_reading, "schema_violation", *whole])
    for reason, reading in per_reading.items():
        rid, raw, _ = by_reason[reason]
        assert rid == reading.id
        assert raw in mixed and json.loads(raw)["id"] == reading.id  # its own raw JSON
    schema_rows = [(rid, raw) for reason, rid, raw, _ in letters if reason == "schema_violation"]
    assert (good.id, json.dumps(body["readings"][-1]).encode()) in schema_rows
    for reason, (topic_name, payload) in whole.items():
        matching = [raw for r, _, raw, t in letters if r == reason and t == topic_name]
        assert payload in matching, reason  # the exact bytes received
    # the gateway hears back: stored for the good one, the reason for each rejected one
    assert good.id in gateway_client.stored
    for reason, reading in per_reading.items():
        assert gateway_client.rejected[reading.id] == reason


def test_forged_payload_for_another_patient_is_rejected(
    fleet: Fleet, mqtt_broker: MosquittoBroker, gateway_client: GatewayClient
) -> None:
    """Gateway A publishes readings of B's patient's device, on A's own (authenticated) topic,
    and also a batch naming gateway B in the payload. Neither is stored."""
    gw_a, gw_b = fleet.gateways
    victim_device = fleet.devices_of(gw_b)[0]
    forged = [make_reading(victim_device, value=70.0) for _ in range(3)]
    forged_envelope = [make_reading(victim_device, value=71.0)]
    with running_consumer(fleet.url, mqtt_broker.url):
        gateway_client.send(gw_a, forged)
        gateway_client.publish(gw_a, batch_payload(gw_b, forged_envelope),
                               topic_name=topic(gw_a, Channel.READINGS))
        gateway_client.wait_acked({r.id for r in forged + forged_envelope})
    assert stored_ids(fleet.url) == []  # oracle: nothing stored for the victim
    assert {r.id: gateway_client.rejected[r.id] for r in forged} == {
        r.id: "enrolled_to_other_patient" for r in forged}
    assert gateway_client.rejected[forged_envelope[0].id] == "payload_gateway_mismatch"
    assert {reason for reason, *_ in dead_letters(fleet.url)} == {
        "enrolled_to_other_patient", "payload_gateway_mismatch"}


def test_a_caught_up_writer_flushes_without_waiting_out_the_batch_delay(
    fleet: Fleet, mqtt_broker: MosquittoBroker, gateway_client: GatewayClient
) -> None:
    gw = fleet.gateways[0]
    readings = [make_reading(fleet.devices_of(gw)[0], value=90 + i) for i in range(3)]
    # A batch delay longer than wait_acked's timeout: only the early flush can store these.
    with running_consumer(fleet.url, mqtt_broker.url, batch_delay_ms=3_600_000,
                          batch_min_delay_ms=0):
        gateway_client.send(gw, readings[:1])
        gateway_client.wait_acked({readings[0].id})
        gateway_client.send(gw, readings[1:])
        gateway_client.wait_acked({r.id for r in readings})
    assert Counter(stored_ids(fleet.url)) == Counter(r.id for r in readings)


def test_status_events_metrics_and_health(
    fleet: Fleet, own_broker: MosquittoBroker
) -> None:
    gw = fleet.gateways[0]
    client = GatewayClient(own_broker.url, [gw])
    online = GatewayStatus(gateway_id=gw, state=GatewayState.ONLINE, at=datetime.now(UTC),
                           software_version="0.9", outbox_depth=4)
    try:
        with running_consumer(fleet.url, own_broker.url) as consumer:
            server = HealthServer(consumer.metrics, consumer.health, "127.0.0.1", 0)
            server.start()
            try:
                client.publish(gw, encode(online), Channel.STATUS, retain=True)
                reading = make_reading(fleet.devices_of(gw)[0])
                client.send(gw, [reading])
                client.wait_acked({reading.id})
                base = f"http://127.0.0.1:{server.port}"

                def scrape() -> str:
                    return urllib.request.urlopen(f"{base}/metrics").read().decode()

                # The gateway's Ack leaves before the flush's figures are recorded.
                wait_for(lambda: "vigil_ingest_readings_accepted_total 1.0" in scrape())
                metrics = scrape()
                health = json.loads(urllib.request.urlopen(f"{base}/healthz").read())
            finally:
                server.stop()
        with psycopg.connect(fleet.url) as conn:
            row = conn.execute("SELECT status, software_version, outbox_depth, "
                               "last_seen IS NOT NULL FROM gateways WHERE id = %s",
                               (gw,)).fetchone()
        assert row == ("online", "0.9", 4, True)
        assert "vigil_ingest_readings_accepted_total 1.0" in metrics
        assert 'vigil_ingest_dead_letters_total{reason="oversized"} 0.0' in metrics
        assert "vigil_ingest_commit_seconds_bucket" in metrics
        # The parts of publish-to-commit latency: waiting in ingest, and readings per write
        # (the status and the reading share a flush, or take one each).
        flushes = sample(metrics, "vigil_ingest_wait_seconds_count")
        assert flushes in (1.0, 2.0)
        assert sample(metrics, 'vigil_ingest_flush_readings_bucket{le="1.0"}') == flushes
        assert health["healthy"] is True and health["broker_connected"] is True
    finally:
        client.close()


def sample(metrics: str, name: str) -> float:
    """One sample's value from Prometheus text exposition."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exposed")


class FlakyHook:
    """Fails its first call, like an alerting defect fixed by a retry."""

    def __init__(self) -> None:
        self.calls = 0

    def on_inserted(self, cursor: psycopg.Cursor[Any], rows: Sequence[NewReading]) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("alerting hiccup")


def test_failing_hook_keeps_the_batch_and_retries(
    fleet: Fleet, mqtt_broker: MosquittoBroker, gateway_client: GatewayClient
) -> None:
    gw = fleet.gateways[0]
    readings = [make_reading(fleet.devices_of(gw)[0]) for _ in range(10)]
    hook = FlakyHook()
    with running_consumer(fleet.url, mqtt_broker.url, hook=hook) as consumer:
        gateway_client.send(gw, readings)
        gateway_client.wait_acked({r.id for r in readings})
        assert consumer.metrics.write_errors._value.get() == 1
    assert hook.calls == 2
    assert Counter(stored_ids(fleet.url)) == Counter(r.id for r in readings)  # oracle
    assert dead_letters(fleet.url) == []


def test_internal_decoder_error_is_dead_lettered_not_stuck(
    fleet: Fleet, mqtt_broker: MosquittoBroker, gateway_client: GatewayClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ingest.consumer

    real = ingest.consumer.decode_message

    def flaky(topic_name: str, payload: bytes, *args: Any) -> Any:
        if b"poison" in payload:
            raise ZeroDivisionError("a defect")
        return real(topic_name, payload, *args)

    monkeypatch.setattr(ingest.consumer, "decode_message", flaky)
    gw = fleet.gateways[0]
    good = [make_reading(fleet.devices_of(gw)[0])]
    with running_consumer(fleet.url, mqtt_broker.url):
        gateway_client.publish(gw, b'{"poison": true}')
        gateway_client.send(gw, good)
        gateway_client.wait_acked({good[0].id})
        wait_for(lambda: len(dead_letters(fleet.url)) == 1)
    [(reason, _, raw, _)] = dead_letters(fleet.url)
    assert (reason, raw) == ("storage_error", b'{"poison": true}')
    assert stored_ids(fleet.url) == [good[0].id]
