"""Device faults as the client sees them through bleak: drops, bad bytes, silence, range."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from bleak.exc import BleakDeviceNotFoundError, BleakError
from device_bench import GUARD_S, Inbox, connect, subscribe

from edge.gatt import MalformedPacket, PlxContinuous, decode
from simulators.ble import Room
from simulators.devices import FaultProfile, GlucoseMeter, ManualClock, PulseOximeter
from simulators.gatt import encode

ADDRESS = "C0:00:00:00:05:01"
CONTINUOUS = 0x2A5F
Host = Callable[..., Awaitable[Room]]


async def oximeter(clock: ManualClock, host: Host, **faults: object) -> PulseOximeter:
    device = PulseOximeter(
        ADDRESS,
        clock=clock,
        every_s=None,
        seed=11,
        faults=FaultProfile(**faults),  # type: ignore[arg-type]
    )
    await host(device)
    return device


async def test_truncated_packets_reach_the_client_and_the_decoder_rejects_them(
    clock: ManualClock, host: Host
) -> None:
    await oximeter(clock, host, truncate_rate=1.0)
    client = await connect(ADDRESS)
    inbox = Inbox()
    await subscribe(client, inbox, CONTINUOUS)
    await clock.advance(5)
    assert len(inbox.raw) == 5
    for uuid, data in inbox.raw:
        assert len(data) < 5  # a continuous SpO2/PR value is 5 bytes
        with pytest.raises(MalformedPacket):
            decode(uuid, data)


async def test_corruption_is_the_same_for_the_same_seed(clock: ManualClock, host: Host) -> None:
    runs = []
    for _ in range(2):
        run_clock = ManualClock()
        device = await oximeter(run_clock, host, corrupt_rate=0.5)
        client = await connect(ADDRESS)
        inbox = Inbox()
        await subscribe(client, inbox, CONTINUOUS)
        await run_clock.advance(20)
        await client.disconnect()
        await device.stop()
        runs.append(inbox.raw)
    assert runs[0] == runs[1]
    clean = encode(PlxContinuous(spo2=97, pulse_rate=72))
    corrupted = [data for _, data in runs[0] if data != clean]
    assert 0 < len(corrupted) < 20


async def test_connection_drop_fault_calls_the_disconnected_callback(
    clock: ManualClock, host: Host
) -> None:
    await oximeter(clock, host, drop_rate=1.0)
    gone = asyncio.Event()
    client = await connect(ADDRESS, lambda _c: gone.set())
    inbox = Inbox()
    await subscribe(client, inbox, CONTINUOUS)
    await clock.advance(1)
    await asyncio.wait_for(gone.wait(), GUARD_S)
    assert [decode(u, d) for u, d in inbox.raw] == [PlxContinuous(spo2=97, pulse_rate=72)]


async def test_a_silent_device_stops_advertising_and_sending(
    clock: ManualClock, host: Host
) -> None:
    device = await oximeter(clock, host, silent_after_s=100)
    gone = asyncio.Event()
    client = await connect(ADDRESS, lambda _c: gone.set())
    inbox = Inbox()
    await subscribe(client, inbox, CONTINUOUS)
    await clock.advance(150)
    await asyncio.wait_for(gone.wait(), GUARD_S)
    assert len(inbox.raw) == 99  # one a second until it went quiet at 100 s
    assert device.silent and not device.peripheral.visible
    with pytest.raises(BleakDeviceNotFoundError, match="not advertising"):
        await client.connect()


async def test_out_of_range_window(clock: ManualClock, host: Host) -> None:
    device = await oximeter(clock, host, out_of_range=((50.0, 80.0),))
    gone = asyncio.Event()
    client = await connect(ADDRESS, lambda _c: gone.set())
    await clock.advance(60)
    await asyncio.wait_for(gone.wait(), GUARD_S)
    assert not device.peripheral.visible
    with pytest.raises(BleakDeviceNotFoundError, match="out of range"):
        await client.connect()
    await clock.advance(25)
    assert device.peripheral.visible
    await client.connect()
    assert client.is_connected


async def test_refused_connections(clock: ManualClock, host: Host) -> None:
    await oximeter(clock, host, connect_failure_rate=1.0)
    with pytest.raises(BleakError, match="le-connection-abort-by-local"):
        await connect(ADDRESS)


async def test_battery_drains_to_silence(clock: ManualClock, host: Host) -> None:
    meter = GlucoseMeter(
        ADDRESS,
        clock=clock,
        faults=FaultProfile(battery_start=12, battery_drain_per_day=6),
        advertise_window_s=None,
    )
    await host(meter)
    await clock.advance(86400)
    assert int(meter.battery) == 6 and not meter.silent
    await clock.advance(86400 + 120)
    assert meter.battery == 0 and meter.silent and not meter.peripheral.visible


async def test_room_control_actions(clock: ManualClock, host: Host) -> None:
    device = await oximeter(clock, host)
    device.control("range", False)
    assert not device.peripheral.visible
    device.control("range", True)
    device.control("measure")
    await clock.advance(1)
    assert len(device.store) == 1
    device.control("clock", -120)
    assert device.device_clock.error.total_seconds() == -120
    with pytest.raises(ValueError, match="does not understand"):
        device.control("explode")
    device.control("silent")
    assert device.silent
