"""Delivery the network and the devices get wrong: the same readings delivered several times and
out of order, and device clocks hours off. Real broker, real `vigil ingest`, real PostgreSQL.

Oracles (sets of reading ids and alerts):
- duplicated + reordered: ids stored == ids sent, each exactly once; every id acknowledged; a
  sustained desaturation delivered three times, backwards, raises its SpO2 alert exactly once.
- clock hours behind: stored (never lost), acknowledged; an alert from five-hour-old evidence
  is recorded but never paged.
- clock hours ahead: dead-lettered as future_timestamp, acknowledged as rejected, nothing stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from system_stack import RawGateway, dead_letter_reasons, stored_ids, wait_for
from vigil_stack import Stack

from simulators.fleet.config import FleetConfig
from simulators.fleet.engine import FleetRun
from simulators.fleet.enrol import enrol_fleet
from vigil.messages import Reading, ReadingBatch, encode
from vigil.metrics import Metric

SKEW = timedelta(hours=5)


def payload(gateway: str, readings: list[Reading]) -> bytes:
    return encode(ReadingBatch(gateway_id=gateway, sent_at=datetime.now(UTC),
                               readings=readings))


def desaturation(device: str, end: datetime, seconds: int = 40) -> list[Reading]:
    """SpO2 80 % once a second: below every patient's target, sustained past the rule's 15 s."""
    return [Reading.create(device_id=device, metric=Metric.SPO2, value=80.0,
                           measured_at=end - timedelta(seconds=seconds - i),
                           received_at=end, sequence=i) for i in range(seconds)]


def alerts_of(url: str, gateway: str) -> list[tuple[str, bool]]:
    """(threshold rule, paged?) for the patient on this gateway."""
    with psycopg.connect(url) as conn:
        return [(r[0], r[1] is not None) for r in conn.execute(
            "SELECT a.rule_key, a.paged_at FROM alerts a JOIN patients p ON p.id = a.patient_id "
            "JOIN enrolments e ON e.patient_id = p.id WHERE e.gateway_id = %s "
            "AND a.rule_key LIKE 'threshold:%%'", (gateway,))]


def test_duplicated_reordered_and_skewed_delivery(system: Stack) -> None:
    run = FleetRun(FleetConfig(mqtt_url=system.mqtt_url, gateways=3, devices_per_gateway=1,
                               prefix="deliv", values="flat"))
    enrol_fleet(system.database_url, run.roster)
    url = system.database_url
    (dup_gw, behind_gw, ahead_gw) = run.roster.gateways
    now = datetime.now(UTC)
    clients = [RawGateway(system.mqtt_url, g.id) for g in (dup_gw, behind_gw, ahead_gw)]
    dup, behind, ahead = clients
    try:
        readings = desaturation(dup_gw.devices[0].id, now)
        first, second = readings[:20], readings[20:]
        dup.publish(payload(dup_gw.id, second))  # newer half first
        dup.publish(payload(dup_gw.id, first))
        dup.publish(payload(dup_gw.id, list(reversed(readings))))  # all again, backwards
        dup.publish(payload(dup_gw.id, first))  # and a plain resend
        sent = {r.id for r in readings}
        wait_for(lambda: sent <= dup.confirmed(), 30, lambda: "duplicates never acked")

        # Device clock five hours slow, and the gateway could not correct it.
        late = desaturation(behind_gw.devices[0].id, now - SKEW)
        behind.publish(payload(behind_gw.id, late))
        wait_for(lambda: {r.id for r in late} <= behind.confirmed(), 30)

        # Device clock five hours fast: beyond ingest's max-future window (600 s).
        early = desaturation(ahead_gw.devices[0].id, now + SKEW, seconds=5)
        ahead.publish(payload(ahead_gw.id, early))
        wait_for(lambda: {r.id for r in early} <= ahead.confirmed(), 30)
        rejected = {r.id: r.reason for a in ahead.acks for r in a.rejected}
    finally:
        for client in clients:
            client.close()

    stored = stored_ids(url)
    assert len(stored) == len(set(stored)), "a reading was stored twice"
    assert set(stored) == sent | {r.id for r in late}
    assert {r.id for r in early} == set(rejected)
    assert set(dead_letter_reasons(url, ahead_gw.id)) == {"future_timestamp"}
    assert len(dead_letter_reasons(url, ahead_gw.id)) == len(early)
    # Alert evaluation runs in the commit transaction: let the sweeper-free path settle.
    wait_for(lambda: bool(alerts_of(url, dup_gw.id)), 30, lambda: "desaturation never paged")
    # Once, and paged once, for three deliveries in any order.
    assert alerts_of(url, dup_gw.id) == [("threshold:spo2", True)]
    # Five hours old: stored and recorded, never paged as if new.
    assert all(not paged for _, paged in alerts_of(url, behind_gw.id))
    assert alerts_of(url, ahead_gw.id) == []
