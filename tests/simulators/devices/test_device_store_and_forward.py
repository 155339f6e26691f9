"""BP cuff, thermometer and scale: measure, store, advertise, indicate on connection, hang up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from bleak import BleakScanner
from device_bench import Inbox, connect, subscribe, u

from edge.gatt import (
    BloodPressureMeasurement,
    IntermediateCuffPressure,
    IntermediateTemperature,
    TemperatureMeasurement,
    WeightMeasurement,
    WeightScaleFeature,
    decode,
    encode_current_time,
)
from simulators.ble import Room, local
from simulators.devices import (
    BloodPressureCuff,
    FaultProfile,
    ManualClock,
    Thermometer,
    WeightScale,
    scripted,
)
from simulators.devices.measuring import StoreAndForwardDevice
from vigil.metrics import Metric

ADDRESS = "C0:00:00:00:02:01"
BPM, ICP, CTS = 0x2A35, 0x2A36, 0x2A2B
Host = Callable[..., Awaitable[Room]]
GUARD_S = 5.0


async def measure(device: StoreAndForwardDevice, clock: ManualClock, times: int = 1) -> None:
    for _ in range(times):
        device.measure_now()
        await clock.advance(device.duration_s + 1)


async def test_cuff_measures_advertises_delivers_and_hangs_up(
    clock: ManualClock, host: Host
) -> None:
    cuff = BloodPressureCuff(ADDRESS, clock=clock, faults=FaultProfile(clock_offset_s=600))
    await host(cuff)
    assert not cuff.peripheral.visible  # nothing stored: no reason to advertise
    await measure(cuff, clock)
    found = await BleakScanner.discover(
        timeout=0.05, service_uuids=[u(0x1810)], backend=local.scanner_backend
    )
    assert [d.address for d in found] == [ADDRESS]

    gone = asyncio.Event()
    client = await connect(ADDRESS, lambda _c: gone.set())
    # Set the clock first: the transfer starts the moment indications are enabled.
    true_now = clock.now().replace(tzinfo=None)
    await client.write_gatt_char(u(CTS), encode_current_time(true_now), response=True)
    inbox = Inbox()
    await subscribe(client, inbox, BPM)
    await asyncio.wait_for(gone.wait(), GUARD_S)  # the cuff ended the connection itself
    (reading,) = inbox.values(BPM)
    assert isinstance(reading, BloodPressureMeasurement)
    assert (reading.systolic, reading.diastolic, reading.pulse_rate) == (124, 79, 72)
    assert reading.mean_arterial_pressure == 94
    assert reading.user_id == 1 and reading.unit == "mmHg"
    # Stamped when measured (30 s in, a second before `true_now`) by the device clock as it
    # was then: ten minutes fast.
    assert reading.timestamp == true_now - timedelta(seconds=1) + timedelta(minutes=10)
    assert cuff.pending == []
    await asyncio.sleep(0)
    assert not cuff.peripheral.visible  # all delivered: back to sleep


async def test_records_stay_pending_until_confirmed(clock: ManualClock, host: Host) -> None:
    cuff = BloodPressureCuff(
        ADDRESS,
        clock=clock,
        values=scripted({Metric.SYSTOLIC_BP: [120, 130, 140]}),
        faults=FaultProfile(drop_rate=1.0),  # the link drops after every packet
    )
    await host(cuff)
    await measure(cuff, clock, times=3)
    delivered: list[float | None] = []
    for expected_pending in (2, 1, 0):
        gone = asyncio.Event()
        client = await connect(ADDRESS, lambda _c, g=gone: g.set())  # type: ignore[misc]
        inbox = Inbox()
        await subscribe(client, inbox, BPM)
        await asyncio.wait_for(gone.wait(), GUARD_S)
        delivered += [v.systolic for v in inbox.values(BPM)]  # type: ignore[attr-defined]
        assert len(cuff.pending) == expected_pending
    assert delivered == [120, 130, 140]


async def test_advertising_window_closes_and_reopens(clock: ManualClock, host: Host) -> None:
    cuff = BloodPressureCuff(ADDRESS, clock=clock, advertise_window_s=120)
    await host(cuff)
    await measure(cuff, clock)
    assert cuff.peripheral.visible
    await clock.advance(120)
    assert not cuff.peripheral.visible and len(cuff.pending) == 1
    await measure(cuff, clock)
    assert cuff.peripheral.visible and len(cuff.pending) == 2


async def test_intermediate_cuff_pressure_while_connected(clock: ManualClock, host: Host) -> None:
    cuff = BloodPressureCuff(ADDRESS, clock=clock, measurement_duration_s=10)
    await host(cuff)
    await measure(cuff, clock)  # something stored, so it advertises
    gone = asyncio.Event()
    client = await connect(ADDRESS, lambda _c: gone.set())
    inbox = Inbox()
    await subscribe(client, inbox, ICP)
    await measure(cuff, clock)
    pressures = inbox.values(ICP)
    assert len(pressures) == 10
    assert all(isinstance(p, IntermediateCuffPressure) for p in pressures)
    assert max(p.systolic for p in pressures) > 124  # type: ignore[attr-defined]
    await subscribe(client, inbox, BPM)
    await asyncio.wait_for(gone.wait(), GUARD_S)
    assert len(inbox.values(BPM)) == 2


async def test_no_subscription_in_time_ends_the_link(clock: ManualClock, host: Host) -> None:
    cuff = BloodPressureCuff(ADDRESS, clock=clock)
    await host(cuff)
    await measure(cuff, clock)
    gone = asyncio.Event()
    await connect(ADDRESS, lambda _c: gone.set())
    await clock.advance(31)
    await asyncio.wait_for(gone.wait(), GUARD_S)
    assert len(cuff.pending) == 1


async def test_scheduled_measurements(clock: ManualClock, host: Host) -> None:
    cuff = BloodPressureCuff(ADDRESS, clock=clock, every_s=3600)
    await host(cuff)
    await clock.advance(3 * 3600 + 60)
    assert len(cuff.store) == 3


@pytest.mark.parametrize(
    "make, uuid, expected",
    [
        (Thermometer, 0x2A1C, TemperatureMeasurement),
        (WeightScale, 0x2A9D, WeightMeasurement),
    ],
)
async def test_thermometer_and_scale_follow_the_same_pattern(
    clock: ManualClock,
    host: Host,
    make: Callable[..., StoreAndForwardDevice],
    uuid: int,
    expected: type,
) -> None:
    device = make(ADDRESS, clock=clock)
    await host(device)
    await measure(device, clock, times=2)
    gone = asyncio.Event()
    client = await connect(ADDRESS, lambda _c: gone.set())
    inbox = Inbox()
    await subscribe(client, inbox, uuid)
    await asyncio.wait_for(gone.wait(), GUARD_S)
    values = inbox.values(uuid)
    assert len(values) == 2 and all(isinstance(v, expected) for v in values)


async def test_thermometer_values_and_intermediate_temperatures(
    clock: ManualClock, host: Host
) -> None:
    thermometer = Thermometer(ADDRESS, clock=clock)
    await host(thermometer)
    await measure(thermometer, clock)
    client = await connect(ADDRESS)
    assert await client.read_gatt_char(u(0x2A1D)) == bytearray(b"\x09")  # tympanum
    inbox = Inbox()
    await subscribe(client, inbox, 0x2A1E)
    await measure(thermometer, clock)
    warming = [v.temperature for v in inbox.values(0x2A1E)]  # type: ignore[attr-defined]
    assert len(warming) == 8 and warming == sorted(warming) and warming[-1] <= 36.8
    assert all(isinstance(v, IntermediateTemperature) for v in inbox.values(0x2A1E))
    await subscribe(client, inbox, 0x2A1C)
    final = await inbox.next_value()
    while not isinstance(final, TemperatureMeasurement):
        final = await inbox.next_value()
    assert final.temperature == pytest.approx(36.8) and final.unit == "C"


async def test_scale_weight_bmi_and_features(clock: ManualClock, host: Host) -> None:
    scale = WeightScale(
        ADDRESS, clock=clock, height_m=1.8, values=scripted({Metric.BODY_WEIGHT: [81.23]})
    )
    await host(scale)
    await measure(scale, clock)
    client = await connect(ADDRESS)
    feature = decode(0x2A9E, await client.read_gatt_char(u(0x2A9E)))
    assert isinstance(feature, WeightScaleFeature)
    assert feature.bmi_supported and feature.weight_resolution_kg == 0.05
    inbox = Inbox()
    await subscribe(client, inbox, 0x2A9D)
    reading = await inbox.next_value()
    assert isinstance(reading, WeightMeasurement)
    assert reading.weight == pytest.approx(81.25)  # quantised to the 0.05 kg resolution
    assert reading.height == pytest.approx(1.8) and reading.bmi == pytest.approx(25.1)
