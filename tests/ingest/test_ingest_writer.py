"""The writer against a real PostgreSQL: trust checks, dedupe, the in-transaction hook,
gateway status and device events. Oracle: reading ids expected versus stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from ingest_helpers import Fleet, incoming, make_reading, stored_ids, write

from ingest import registry
from ingest.decoding import decode_message
from ingest.reasons import RejectReason
from ingest.writer import BatchWriter, Incoming, NewReading
from vigil.messages import (
    DeviceEvent,
    DeviceEventKind,
    DeviceState,
    GatewayState,
    GatewayStatus,
    Reading,
    encode,
)
from vigil.metrics import Metric
from vigil.topics import Channel, topic


def dead(url: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        return [(r[0], r[1]) for r in conn.execute(
            "SELECT reason, reading_id::text FROM dead_letters ORDER BY id")]


def test_readings_are_stored_once_for_their_enrolled_patient(fleet: Fleet) -> None:
    gw = fleet.gateways[0]
    device = fleet.devices_of(gw)[0]
    readings = [make_reading(device, value=95 + i) for i in range(3)]
    result = write(fleet.url, [incoming(gw, readings), incoming(gw, readings[:1])])
    expected = {r.id for r in readings}
    assert result.inserted == 3 and result.duplicates == 1
    assert sorted(stored_ids(fleet.url)) == sorted(expected)
    again = write(fleet.url, [incoming(gw, readings)])
    assert again.inserted == 0 and again.duplicates == 3
    assert set(again.stored[gw]) == expected  # duplicates are acked as stored
    assert sorted(stored_ids(fleet.url)) == sorted(expected)
    with psycopg.connect(fleet.url) as conn:
        patients = {r[0] for r in conn.execute("SELECT patient_id FROM readings")}
        row = conn.execute("SELECT metric, origin, quality FROM readings LIMIT 1").fetchone()
    assert patients == {fleet.devices[device][0]}
    assert row == (1, "live", [])


def test_trust_checks_reject_per_reading(fleet: Fleet) -> None:
    gw_a, gw_b = fleet.gateways
    mine = fleet.devices_of(gw_a)[0]
    theirs = fleet.devices_of(gw_b)[0]
    good = make_reading(mine)
    forged = make_reading(theirs)  # gateway A speaking for B's patient
    stranger = make_reading("FF:FF:FF:FF:FF:FF")
    before_enrolment = make_reading(mine, measured_at=fleet.since - timedelta(days=1))
    result = write(fleet.url, [incoming(gw_a, [good, forged, stranger, before_enrolment])])
    assert stored_ids(fleet.url) == [good.id]
    assert dead(fleet.url) == [
        ("enrolled_to_other_patient", forged.id),
        ("unknown_device", stranger.id),
        ("not_enrolled", before_enrolment.id),
    ]
    assert result.stored[gw_a] == [good.id]
    assert {i for i, _ in result.rejected[gw_a]} == {forged.id, stranger.id, before_enrolment.id}


def test_unknown_gateway_dead_letters_the_message(fleet: Fleet) -> None:
    readings = [make_reading(next(iter(fleet.devices)))]
    item = incoming("not-registered", readings)
    result = write(fleet.url, [item])
    assert stored_ids(fleet.url) == []
    assert dead(fleet.url) == [("unknown_gateway", None)]
    assert result.rejected["not-registered"] == [(readings[0].id, RejectReason.UNKNOWN_GATEWAY)]


def test_enrolment_period_decides_the_patient(fleet: Fleet) -> None:
    """A device moved to another patient: each reading goes to whoever had it then."""
    gw = fleet.gateways[0]
    device = fleet.devices_of(gw)[0]
    switch = datetime.now(UTC) - timedelta(hours=1)
    with psycopg.connect(fleet.url) as conn:
        enrolment, device_id = conn.execute(
            "SELECT e.id, d.id FROM enrolments e JOIN devices d ON d.id = e.device_id "
            "WHERE d.address = %s", (device,)).fetchone() or (0, 0)
        registry.end_enrolment(conn, enrolment, at=switch, reason="new patient")
        newcomer = registry.create_patient(conn, fleet.organisation_id, "9434765919", "New")
        registry.enrol(conn, newcomer, device_id, gw, start=switch)
        with pytest.raises(registry.AlreadyEnrolled):
            registry.enrol(conn, newcomer, device_id, gw, start=switch + timedelta(minutes=1))
        conn.commit()
    old = make_reading(device, measured_at=switch - timedelta(minutes=5))
    new = make_reading(device, measured_at=switch + timedelta(minutes=5))
    write(fleet.url, [incoming(gw, [old, new])])
    with psycopg.connect(fleet.url) as conn:
        owners: dict[str, int] = dict(
            conn.execute("SELECT reading_id::text, patient_id FROM readings"))
    assert owners == {old.id: fleet.devices[device][0], new.id: newcomer}


class RecordingHook:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def on_inserted(self, cursor: psycopg.Cursor[Any], rows: Sequence[NewReading]) -> None:
        # Same transaction: the new rows are visible here, uncommitted.
        cursor.execute("SELECT count(*) FROM readings WHERE reading_id = ANY(%s::uuid[])",
                       ([r.reading.id for r in rows],))
        row = cursor.fetchone()
        assert row is not None and row[0] == len(rows)
        self.calls.append([r.reading.id for r in rows])
        if self.fail:
            raise RuntimeError("alert engine failed")


def test_hook_sees_only_new_rows_inside_the_transaction(fleet: Fleet) -> None:
    gw = fleet.gateways[0]
    device = fleet.devices_of(gw)[0]
    first = [make_reading(device) for _ in range(2)]
    hook = RecordingHook()
    write(fleet.url, [incoming(gw, first)], BatchWriter(hook))
    second = [make_reading(device)]
    write(fleet.url, [incoming(gw, first + second)], BatchWriter(hook))
    assert hook.calls == [[r.id for r in first], [second[0].id]]


def test_failing_hook_rolls_back_the_readings(fleet: Fleet) -> None:
    gw = fleet.gateways[0]
    readings = [make_reading(fleet.devices_of(gw)[0])]
    with pytest.raises(RuntimeError):
        write(fleet.url, [incoming(gw, readings)], BatchWriter(RecordingHook(fail=True)))
    assert stored_ids(fleet.url) == []
    with psycopg.connect(fleet.url) as conn:
        assert conn.execute("SELECT count(*) FROM reading_ids").fetchone() == (0,)


def status_item(gateway: str, status: GatewayStatus, retained: bool = False,
                received_at: datetime | None = None) -> Incoming:
    name = topic(gateway, Channel.STATUS)
    now = received_at or datetime.now(UTC)
    return Incoming(name, decode_message(name, encode(status), now, retained=retained), now)


def gateway_row(url: str, gateway: str) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT status, status_at, last_seen, software_version, outbox_depth "
                           "FROM gateways WHERE id = %s", (gateway,)).fetchone()
    assert row is not None
    return tuple(row)


def test_gateway_status_online_offline_and_devices(fleet: Fleet) -> None:
    gw = fleet.gateways[0]
    device = fleet.devices_of(gw)[0]
    other_device = fleet.devices_of(fleet.gateways[1])[0]
    connected_at = datetime.now(UTC) - timedelta(minutes=10)
    online = GatewayStatus(
        gateway_id=gw, state=GatewayState.ONLINE, at=connected_at, software_version="1.2.3",
        outbox_depth=12,
        devices=[DeviceState(device_id=device, connected=True, battery_level=55,
                             last_seen=connected_at),
                 DeviceState(device_id=other_device, connected=True, battery_level=1)])
    write(fleet.url, [status_item(gw, online)])
    status, status_at, last_seen, version, depth = gateway_row(fleet.url, gw)
    assert (status, status_at, version, depth) == ("online", connected_at, "1.2.3", 12)
    assert last_seen is not None
    # The last will: composed at connect time, so the receipt time is the offline time.
    will = GatewayStatus(gateway_id=gw, state=GatewayState.OFFLINE, at=connected_at,
                         reason="connection lost")
    received = datetime.now(UTC)
    write(fleet.url, [status_item(gw, will, received_at=received)])
    status, status_at, _, _, depth = gateway_row(fleet.url, gw)
    assert (status, status_at, depth) == ("offline", received, 12)
    # A retained status replayed on subscribe does not overwrite what we know.
    write(fleet.url, [status_item(gw, online, retained=True)])
    assert gateway_row(fleet.url, gw)[0] == "offline"
    with psycopg.connect(fleet.url) as conn:
        batteries: dict[str, int | None] = dict(
            conn.execute("SELECT address, battery_level FROM devices"))
    assert batteries[device] == 55
    assert batteries[other_device] is None  # not this gateway's device: ignored


def test_device_events_are_recorded_once(fleet: Fleet) -> None:
    gw = fleet.gateways[0]
    device = fleet.devices_of(gw)[0]
    event = DeviceEvent.new(gateway_id=gw, device_id=device, event=DeviceEventKind.BATTERY,
                            at=datetime.now(UTC), battery_level=20)
    name = topic(gw, Channel.EVENTS)
    now = datetime.now(UTC)
    item = Incoming(name, decode_message(name, encode(event), now), now)
    write(fleet.url, [item, item])
    write(fleet.url, [item])
    with psycopg.connect(fleet.url) as conn:
        events = conn.execute("SELECT event_id::text, event, battery_level, device_id IS NOT NULL "
                              "FROM device_events").fetchall()
        battery = conn.execute("SELECT battery_level FROM devices WHERE address = %s",
                               (device,)).fetchone()
    assert events == [(event.event_id, "battery", 20, True)]
    assert battery == (20,)


def _status_and_event_items(gw: str, device: str, base: datetime) -> list[Incoming]:
    """Online, a battery event, the last will, online again with a device report, another
    event: each one's effect depends on the ones before it."""
    events = topic(gw, Channel.EVENTS)

    def event(level: int, at: datetime) -> Incoming:
        e = DeviceEvent.new(gateway_id=gw, device_id=device, event=DeviceEventKind.BATTERY,
                            at=at, battery_level=level)
        return Incoming(events, decode_message(events, encode(e), at), at)

    online = GatewayStatus(gateway_id=gw, state=GatewayState.ONLINE, at=base, outbox_depth=3)
    will = GatewayStatus(gateway_id=gw, state=GatewayState.OFFLINE, at=base,
                         reason="connection lost")
    again = GatewayStatus(
        gateway_id=gw, state=GatewayState.ONLINE, at=base + timedelta(seconds=3),
        outbox_depth=7, devices=[DeviceState(device_id=device, connected=True,
                                             battery_level=55, last_seen=base)])
    return [status_item(gw, online, received_at=base), event(20, base + timedelta(seconds=1)),
            status_item(gw, will, received_at=base + timedelta(seconds=2)),
            status_item(gw, again, received_at=base + timedelta(seconds=3)),
            event(30, base + timedelta(seconds=4))]


def test_statuses_and_events_in_one_flush_apply_in_order(fleet: Fleet) -> None:
    """One flush sends them together (one pipeline); the outcome is that of one flush each."""
    base = datetime.now(UTC) - timedelta(minutes=5)
    together, apart = fleet.gateways[0], fleet.gateways[1]
    write(fleet.url, _status_and_event_items(together, fleet.devices_of(together)[0], base))
    for item in _status_and_event_items(apart, fleet.devices_of(apart)[0], base):
        write(fleet.url, [item])

    def outcome(gw: str) -> tuple[Any, ...]:
        with psycopg.connect(fleet.url) as conn:
            row = conn.execute(
                "SELECT g.status, g.status_at, g.status_reason, g.outbox_depth, d.battery_level "
                "FROM gateways g, devices d WHERE g.id = %s AND d.address = %s",
                (gw, fleet.devices_of(gw)[0])).fetchone()
        assert row is not None
        return tuple(row)

    assert outcome(together) == outcome(apart)
    assert outcome(together)[0] == "online" and outcome(together)[4] == 30


def test_quality_flags_origin_and_device_time_are_kept(fleet: Fleet) -> None:
    from vigil.messages import Origin
    from vigil.quality import QualityFlag

    gw = fleet.gateways[0]
    device = fleet.devices_of(gw)[0]
    now = datetime.now(UTC)
    reading = Reading.create(device_id=device, metric=Metric.SYSTOLIC_BP, value=128,
                             measured_at=now - timedelta(hours=2), received_at=now,
                             device_time=datetime(2026, 1, 1, 8, 30), sequence=7,
                             quality=[QualityFlag.BODY_MOVEMENT, QualityFlag.IRREGULAR_PULSE],
                             origin=Origin.STORED)
    write(fleet.url, [incoming(gw, [reading])])
    with psycopg.connect(fleet.url) as conn:
        row = conn.execute("SELECT metric, value, quality, origin, sequence, device_time "
                           "FROM readings").fetchone()
    assert row == (3, 128.0, ["body_movement", "irregular_pulse"], "stored", 7,
                   datetime(2026, 1, 1, 8, 30))
