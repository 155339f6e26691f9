"""Pulse oximeter: 1 Hz continuous stream, spot-checks, RACP over stored spot-checks, its clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from bleak.exc import BleakGATTProtocolError, BleakGATTProtocolErrorCode
from device_bench import Inbox, connect, subscribe, u

from edge.gatt import (
    CurrentTime,
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
    RacpNumberOfRecords,
    RacpResponse,
    RacpResponseCode,
    decode,
    delete_all_records,
    encode_current_time,
    report_all_records,
    report_number_of_records,
    report_number_of_records_from,
    report_records_from,
)
from simulators.ble import Room
from simulators.devices import FaultProfile, ManualClock, PulseOximeter, scripted
from vigil.metrics import Metric

ADDRESS = "C0:00:00:00:01:01"
CONTINUOUS, SPOT, FEATURES, RACP, CTS = 0x2A5F, 0x2A5E, 0x2A60, 0x2A52, 0x2A2B
Host = Callable[..., Awaitable[Room]]


async def test_a_simulated_hour_streams_3600_values_once_subscribed(
    clock: ManualClock, host: Host
) -> None:
    await host(PulseOximeter(ADDRESS, clock=clock, every_s=900))
    inbox = Inbox()
    client = await connect(ADDRESS)
    await clock.advance(10)  # connected but not subscribed: the device sends nothing
    assert inbox.raw == []
    await subscribe(client, inbox, CONTINUOUS, SPOT)
    await clock.advance(3600)
    await asyncio.sleep(0)
    continuous = inbox.values(CONTINUOUS)
    assert len(continuous) == 3600
    assert set(continuous) == {PlxContinuous(spo2=97, pulse_rate=72)}
    # Spot-checks every 15 minutes of device life, indicated live: at 900, 1800, 2700, 3600 s.
    spots = inbox.values(SPOT)
    assert len(spots) == 4 and all(isinstance(s, PlxSpotCheck) for s in spots)
    await client.disconnect()


async def test_features_and_spot_check_timestamps_follow_the_device_clock(
    clock: ManualClock, host: Host
) -> None:
    oximeter = PulseOximeter(
        ADDRESS, clock=clock, every_s=None, faults=FaultProfile(clock_offset_s=-3600)
    )
    await host(oximeter)
    client = await connect(ADDRESS)
    features = decode(FEATURES, await client.read_gatt_char(u(FEATURES)))
    assert isinstance(features, PlxFeatures)
    assert features.timestamp_supported and features.measurement_storage_supported

    shown = decode(CTS, await client.read_gatt_char(u(CTS)))
    assert isinstance(shown, CurrentTime) and shown.timestamp is not None
    true_now = clock.now().replace(tzinfo=None)
    assert (true_now - shown.timestamp).total_seconds() == 3600  # an hour slow

    inbox = Inbox()
    await subscribe(client, inbox, SPOT)
    oximeter.measure_now()
    before = await inbox.next_value()
    await client.write_gatt_char(u(CTS), encode_current_time(true_now), response=True)
    oximeter.measure_now()
    after = await inbox.next_value()
    assert isinstance(before, PlxSpotCheck) and isinstance(after, PlxSpotCheck)
    assert before.timestamp is not None and after.timestamp == true_now
    assert (after.timestamp - before.timestamp).total_seconds() == 3600

    with pytest.raises(BleakGATTProtocolError) as refused:
        await client.write_gatt_char(u(CTS), b"\x00\x01", response=True)
    assert refused.value.code is BleakGATTProtocolErrorCode.VALUE_NOT_ALLOWED


async def stored_oximeter(clock: ManualClock, host: Host, n: int) -> PulseOximeter:
    spo2 = [float(90 + i) for i in range(n)]
    oximeter = PulseOximeter(
        ADDRESS, clock=clock, every_s=None, values=scripted({Metric.SPO2: spo2})
    )
    await host(oximeter)
    for _ in range(n):
        oximeter.measure_now()
        await clock.advance(60)
    assert len(oximeter.store) == n
    return oximeter


async def racp(client: object, inbox: Inbox, request: bytes) -> list[object]:
    """Write a RACP request; everything received up to and including the RACP answer."""
    await client.write_gatt_char(u(RACP), request, response=True)  # type: ignore[attr-defined]
    got: list[object] = []
    while True:
        uuid, data = await inbox.next()
        got.append(decode(uuid, data))
        if uuid == RACP:
            return got


async def test_racp_reports_all_or_from_an_index(clock: ManualClock, host: Host) -> None:
    await stored_oximeter(clock, host, 5)
    client = await connect(ADDRESS)
    inbox = Inbox()
    await subscribe(client, inbox, SPOT, RACP)

    everything = await racp(client, inbox, report_all_records())
    assert [s.spo2 for s in everything[:-1]] == [90, 91, 92, 93, 94]  # type: ignore[attr-defined]
    assert everything[-1] == RacpResponse(request_op_code=1, response_code=RacpResponseCode.SUCCESS)

    since = await racp(client, inbox, report_records_from(3))
    assert [s.spo2 for s in since[:-1]] == [93, 94]  # type: ignore[attr-defined]

    assert await racp(client, inbox, report_number_of_records()) == [RacpNumberOfRecords(count=5)]
    assert await racp(client, inbox, report_number_of_records_from(4)) == [
        RacpNumberOfRecords(count=1)
    ]
    none = await racp(client, inbox, report_records_from(5))
    assert none == [
        RacpResponse(request_op_code=1, response_code=RacpResponseCode.NO_RECORDS_FOUND)
    ]

    await racp(client, inbox, delete_all_records())
    assert await racp(client, inbox, report_number_of_records()) == [RacpNumberOfRecords(count=0)]


async def test_racp_needs_its_cccds(clock: ManualClock, host: Host) -> None:
    await stored_oximeter(clock, host, 1)
    client = await connect(ADDRESS)
    with pytest.raises(BleakGATTProtocolError) as no_racp:
        await client.write_gatt_char(u(RACP), report_all_records(), response=True)
    assert no_racp.value.code is BleakGATTProtocolErrorCode.CCCD_IMPROPERLY_CONFIGURED
    inbox = Inbox()
    await subscribe(client, inbox, RACP)
    with pytest.raises(BleakGATTProtocolError) as no_records:
        await client.write_gatt_char(u(RACP), report_all_records(), response=True)
    assert no_records.value.code is BleakGATTProtocolErrorCode.CCCD_IMPROPERLY_CONFIGURED
    # Counting needs no measurement CCCD.
    assert await racp(client, inbox, report_number_of_records()) == [RacpNumberOfRecords(count=1)]


async def test_the_oximeter_always_advertises_its_service(clock: ManualClock, host: Host) -> None:
    oximeter = PulseOximeter(ADDRESS, clock=clock, every_s=None)
    await host(oximeter)
    assert oximeter.peripheral.visible
    assert oximeter.peripheral.advertisement.service_uuids == (u(0x1822),)
    assert datetime.now(UTC) > clock.now()  # the manual clock is not wall time
