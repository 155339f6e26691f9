"""A hostile gateway floods ingest with malformed, oversized and forged payloads while a fleet
keeps flowing through the same broker and the same ingest process.

Oracle: the fleet's ids generated == ids stored, each once (nothing lost, nothing doubled);
every hostile message is dead-lettered under the hostile gateway with its reason, none of its
readings is stored, and no alert is raised (no false page from a forged low SpO2)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg
from system_stack import (
    FleetThread,
    RawGateway,
    assert_fleet_oracle,
    dead_letter_reasons,
    stored_ids,
    wait_for,
)
from vigil_stack import Stack

from simulators.fleet.config import FleetConfig
from simulators.fleet.engine import FleetRun
from simulators.fleet.enrol import enrol_fleet
from vigil.messages import MAX_PAYLOAD_BYTES, Reading, ReadingBatch, encode
from vigil.metrics import CATALOGUE, Metric

ROUNDS = 25


def batch(gateway: str, reading: Reading) -> bytes:
    return encode(ReadingBatch(gateway_id=gateway, sent_at=datetime.now(UTC),
                               readings=[reading]))


def hostile_payloads(own: str, own_device: str, victim_gateway: str, victim_device: str,
                     n: int) -> list[tuple[bytes, str]]:
    """(payload, the dead-letter reason ingest must give it), one round's worth."""
    now = datetime.now(UTC)

    def reading(device: str, value: float, at: datetime, metric: Metric = Metric.SPO2
                ) -> Reading:
        return Reading.create(device_id=device, metric=metric, value=value, measured_at=at,
                              received_at=now, sequence=n)

    # Across the rounds the forgeries form a desaturation sustained long enough to page.
    forged = reading(victim_device, 70.0, now - timedelta(seconds=60 - 2 * n))
    return [
        (b"\x00\xff\xfe not json at all", "malformed_json"),
        (b'{"v":1,"kind":"readings","gateway_id":', "malformed_json"),
        (json.dumps({"v": 1, "kind": "readings", "gateway_id": own,
                     "readings": "lots"}).encode(), "schema_violation"),
        (b"[" + b"1," * (MAX_PAYLOAD_BYTES // 2) + b"1]", "oversized"),
        # Claims to be another gateway: the topic (authenticated) wins.
        (batch(victim_gateway, reading(own_device, 96.0, now)), "payload_gateway_mismatch"),
        # Our topic, but another patient's device and a desaturation: must never page.
        (batch(own, forged), "enrolled_to_other_patient"),
        (batch(own, reading(own_device, 400.0, now, Metric.PULSE_RATE)), "implausible_value"),
        (batch(own, reading(own_device, 95.0, now + timedelta(days=1))), "future_timestamp"),
        (batch(own, reading("DE:AD:BE:EF:00:01", 95.0, now)), "unknown_device"),
    ]


def test_hostile_payload_storm_from_one_gateway_while_others_flow(system: Stack) -> None:
    config = FleetConfig(mqtt_url=system.mqtt_url, gateways=4, devices_per_gateway=1,
                         rate=150, duration_s=8, prefix="calm", values="flat",
                         database_url=system.database_url, alert_settle_s=0, drain_s=60)
    fleet = FleetThread(config, system.database_url)
    hostile_run = FleetRun(config.model_copy(update={"gateways": 1, "prefix": "storm"}))
    enrol_fleet(system.database_url, hostile_run.roster)
    hostile = hostile_run.roster.gateways[0]
    raw = RawGateway(system.mqtt_url, hostile.id)
    expected: Counter[str] = Counter()

    def seen() -> Counter[str]:
        return Counter(dead_letter_reasons(system.database_url, hostile.id))

    try:
        fleet.start()
        fleet.wait_acked(100)
        for n in range(ROUNDS):
            victim = fleet.run.roster.gateways[n % len(fleet.run.roster.gateways)]
            for payload, reason in hostile_payloads(hostile.id, hostile.devices[0].id,
                                                    victim.id, victim.devices[0].id, n):
                raw.publish(payload)
                expected[reason] += 1
        report = fleet.report()
        wait_for(lambda: len(dead_letter_reasons(system.database_url, hostile.id))
                 >= sum(expected.values()), 60,
                 lambda: f"dead letters so far: {seen()}")
    finally:
        raw.close()
    assert_fleet_oracle(fleet, report, system.database_url)
    assert report.readings_generated >= 600
    assert Counter(dead_letter_reasons(system.database_url, hostile.id)) == expected
    assert set(stored_ids(system.database_url)) == fleet.generated_ids()  # none of the storm's
    # No false page: a patient whose own stored SpO2 never fell below the default target (94)
    # has no SpO2 alert, although forged desaturations named every patient's oximeter.
    with psycopg.connect(system.database_url) as conn:
        lowest: dict[int, float] = dict(conn.execute(
            "SELECT patient_id, min(value) FROM readings WHERE metric = %s GROUP BY patient_id",
            (CATALOGUE[Metric.SPO2].number,)).fetchall())
        paged = {r[0] for r in conn.execute(
            "SELECT patient_id FROM alerts WHERE rule_key = 'threshold:spo2'")}
    well = {p for p, v in lowest.items() if v >= 94}
    assert well, "every generated patient desaturated: the oracle has nothing to judge"
    assert not well & paged
