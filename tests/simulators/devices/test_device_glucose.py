"""Glucose meter: the canonical RACP flows (Glucose Service 1.0 section 3.8)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from bleak import BleakClient
from bleak.exc import BleakGATTProtocolError, BleakGATTProtocolErrorCode
from device_bench import Inbox, connect, subscribe, u

from edge.gatt import (
    GlucoseMeasurement,
    RacpNumberOfRecords,
    RacpResponse,
    RacpResponseCode,
    abort_operation,
    decode,
    delete_records_up_to,
    report_all_records,
    report_number_of_records,
    report_number_of_records_from,
    report_records_from,
)
from simulators.ble import Room
from simulators.devices import FaultProfile, GlucoseMeter, ManualClock, scripted
from vigil.metrics import Metric

ADDRESS = "C0:00:00:00:03:01"
GLUCOSE, RACP = 0x2A18, 0x2A52
Host = Callable[..., Awaitable[Room]]


def answer(op: int, code: RacpResponseCode) -> RacpResponse:
    return RacpResponse(request_op_code=op, response_code=code)


async def meter_with(clock: ManualClock, host: Host, n: int, **kwargs: object) -> GlucoseMeter:
    values = scripted({Metric.BLOOD_GLUCOSE: [5.0 + i / 10 for i in range(n)]})
    meter = GlucoseMeter(ADDRESS, clock=clock, values=values, **kwargs)  # type: ignore[arg-type]
    await host(meter)
    for _ in range(n):
        meter.measure_now()  # a finger-stick takes five seconds
        await clock.advance(meter.duration_s + 1)
    return meter


async def ready(clock: ManualClock) -> tuple[BleakClient, Inbox]:
    client = await connect(ADDRESS)
    inbox = Inbox()
    await subscribe(client, inbox, GLUCOSE, RACP)
    return client, inbox


async def racp(client: BleakClient, inbox: Inbox, request: bytes) -> list[object]:
    await client.write_gatt_char(u(RACP), request, response=True)
    got: list[object] = []
    while True:
        uuid, data = await inbox.next()
        got.append(decode(uuid, data))
        if uuid == RACP:
            return got


async def test_report_greater_or_equal_returns_only_those(clock: ManualClock, host: Host) -> None:
    await meter_with(clock, host, 5)
    client, inbox = await ready(clock)
    got = await racp(client, inbox, report_records_from(3))
    records, response = got[:-1], got[-1]
    assert [r.sequence_number for r in records] == [3, 4]  # type: ignore[attr-defined]
    assert all(isinstance(r, GlucoseMeasurement) for r in records)
    assert [round(r.concentration * 1000, 1) for r in records] == [5.3, 5.4]  # type: ignore[attr-defined]
    assert records[0].unit == "mol/L" and records[0].sample_location == "finger"  # type: ignore[attr-defined]
    assert response == answer(1, RacpResponseCode.SUCCESS)


async def test_number_of_records_all_and_from(clock: ManualClock, host: Host) -> None:
    await meter_with(clock, host, 5)
    client, inbox = await ready(clock)
    assert await racp(client, inbox, report_number_of_records()) == [RacpNumberOfRecords(count=5)]
    assert await racp(client, inbox, report_number_of_records_from(2)) == [
        RacpNumberOfRecords(count=3)
    ]
    assert await racp(client, inbox, delete_records_up_to(1)) == [
        answer(2, RacpResponseCode.SUCCESS)
    ]
    assert await racp(client, inbox, report_number_of_records()) == [RacpNumberOfRecords(count=3)]
    got = await racp(client, inbox, report_all_records())
    assert [r.sequence_number for r in got[:-1]] == [2, 3, 4]  # type: ignore[attr-defined]
    assert await racp(client, inbox, report_records_from(9)) == [
        answer(1, RacpResponseCode.NO_RECORDS_FOUND)
    ]


async def test_abort_stops_a_transfer(clock: ManualClock, host: Host) -> None:
    await meter_with(clock, host, 60)
    client, inbox = await ready(clock)
    await client.write_gatt_char(u(RACP), report_all_records(), response=True)
    got = await racp(client, inbox, abort_operation())
    assert got[-1] == answer(3, RacpResponseCode.SUCCESS)
    assert len(got) - 1 < 60


async def test_a_second_request_while_one_runs_is_refused(clock: ManualClock, host: Host) -> None:
    await meter_with(clock, host, 20)
    client, inbox = await ready(clock)
    await client.write_gatt_char(u(RACP), report_all_records(), response=True)
    with pytest.raises(BleakGATTProtocolError) as busy:
        await client.write_gatt_char(u(RACP), report_number_of_records(), response=True)
    assert busy.value.code is BleakGATTProtocolErrorCode.PROCEDURE_ALREADY_IN_PROGRESS
    while not isinstance(await inbox.next_value(), RacpResponse):
        pass


@pytest.mark.parametrize(
    "request_bytes, expected",
    [
        (bytes((0x07, 0x01)), answer(0x07, RacpResponseCode.OP_CODE_NOT_SUPPORTED)),
        (bytes((0x01, 0x00)), answer(0x01, RacpResponseCode.INVALID_OPERATOR)),
        (bytes((0x01, 0x03, 0x02, 0, 0)), answer(0x01, RacpResponseCode.OPERAND_NOT_SUPPORTED)),
        (bytes((0x03, 0x01)), answer(0x03, RacpResponseCode.INVALID_OPERATOR)),
    ],
)
async def test_bad_requests_get_response_codes(
    clock: ManualClock, host: Host, request_bytes: bytes, expected: RacpResponse
) -> None:
    await meter_with(clock, host, 1)
    client, inbox = await ready(clock)
    assert await racp(client, inbox, request_bytes) == [expected]


async def test_racp_without_cccds_is_improperly_configured(clock: ManualClock, host: Host) -> None:
    await meter_with(clock, host, 1)
    client = await connect(ADDRESS)
    with pytest.raises(BleakGATTProtocolError) as refused:
        await client.write_gatt_char(u(RACP), report_all_records(), response=True)
    assert refused.value.code is BleakGATTProtocolErrorCode.CCCD_IMPROPERLY_CONFIGURED


async def test_idle_link_is_dropped_by_the_meter(clock: ManualClock, host: Host) -> None:
    await meter_with(clock, host, 1, idle_timeout_s=30)
    gone = asyncio.Event()
    await connect(ADDRESS, lambda _c: gone.set())
    await clock.advance(31)
    await asyncio.wait_for(gone.wait(), 5)


async def test_low_battery_is_annunciated(clock: ManualClock, host: Host) -> None:
    meter = await meter_with(clock, host, 1, faults=FaultProfile(battery_start=8))
    record = meter.store.records[0].value
    assert isinstance(record, GlucoseMeasurement)
    assert record.sensor_status == frozenset({"device_battery_low"})


async def test_a_transfer_dies_with_its_link(clock: ManualClock, host: Host) -> None:
    meter = await meter_with(clock, host, 40)
    client, inbox = await ready(clock)
    await client.write_gatt_char(u(RACP), report_all_records(), response=True)
    assert meter.racp.busy
    meter.peripheral.drop_link("battery pulled")
    await asyncio.sleep(0)
    assert not meter.racp.busy
    assert len(inbox.raw) < 40
