"""What every device has (Battery, Device Information, Current Time) and the heart-rate strap."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from bleak.exc import BleakGATTProtocolError
from device_bench import Inbox, connect, subscribe, u

from edge.gatt import BatteryLevel, HeartRateMeasurement, decode
from simulators.ble import Room
from simulators.devices import DEVICE_KINDS, EmulatedDevice, HeartRateStrap, ManualClock, steady
from simulators.devices.base import TEST_COMPANY_ID
from simulators.devices.measuring import MeasuringDevice
from vigil.metrics import Metric

ADDRESS = "C0:00:00:00:04:01"
Host = Callable[..., Awaitable[Room]]


async def advertising(device: EmulatedDevice, clock: ManualClock) -> None:
    if isinstance(device, MeasuringDevice):
        device.measure_now()  # store-and-forward devices advertise only with something to send
        await clock.advance(device.duration_s + 1)


@pytest.mark.parametrize("kind", sorted(DEVICE_KINDS))
async def test_every_device_has_battery_device_information_and_maybe_a_clock(
    clock: ManualClock, host: Host, kind: str
) -> None:
    device = DEVICE_KINDS[kind](ADDRESS, clock=clock, serial="SN-0042")
    await host(device)
    await advertising(device, clock)
    adv = device.peripheral.advertisement
    assert adv.service_uuids == (u(device.service_uuid),)
    assert adv.manufacturer_data == {TEST_COMPANY_ID: b"SN-0042"}

    client = await connect(ADDRESS)
    services = {s.uuid for s in client.services}
    assert {u(0x180F), u(0x180A), u(device.service_uuid)} <= services
    assert (u(0x1805) in services) is device.has_clock
    assert decode(0x2A19, await client.read_gatt_char(u(0x2A19))) == BatteryLevel(battery_level=100)
    info = {uuid: bytes(await client.read_gatt_char(u(uuid))) for uuid in (0x2A29, 0x2A24, 0x2A25)}
    assert info == {
        0x2A29: b"Vigil Simulated Devices",
        0x2A24: device.model_number.encode(),
        0x2A25: b"SN-0042",
    }
    assert (await client.read_gatt_char(u(0x2A26))).decode().count(".") == 2
    await client.disconnect()


async def test_battery_level_is_notified_as_it_drains(clock: ManualClock, host: Host) -> None:
    strap = HeartRateStrap(ADDRESS, clock=clock)
    await host(strap)
    client = await connect(ADDRESS)
    inbox = Inbox()
    await subscribe(client, inbox, 0x2A19)
    strap.set_battery(42.5)
    assert await inbox.next_value() == BatteryLevel(battery_level=42)
    strap.set_battery(42.1)  # the same whole percent: no notification
    strap.set_battery(41)
    assert await inbox.next_value() == BatteryLevel(battery_level=41)


async def test_the_sent_log_is_bounded_and_counts_what_it_dropped(
        clock: ManualClock, host: Host) -> None:
    """A device keeps its last `sent_log` packets (a demo runs for days) and counts them all, so
    a test oracle can tell its log no longer covers the run."""
    strap = HeartRateStrap(ADDRESS, clock=clock, sent_log=4)
    await host(strap)
    client = await connect(ADDRESS)
    await subscribe(client, Inbox(), 0x2A37)
    await clock.advance(10)
    heart_rate = [p for p in strap.sent if p.uuid == 0x2A37]
    assert len(strap.sent) == 4 and len(heart_rate) == 4
    assert strap.sent_total >= 10 > len(strap.sent)


async def test_heart_rate_strap_sends_rr_intervals_at_1_hz(clock: ManualClock, host: Host) -> None:
    strap = HeartRateStrap(ADDRESS, clock=clock, values=steady({Metric.HEART_RATE: 72}))
    await host(strap)
    client = await connect(ADDRESS)
    assert await client.read_gatt_char(u(0x2A38)) == bytearray(b"\x01")  # chest
    inbox = Inbox()
    await subscribe(client, inbox, 0x2A37)
    await clock.advance(10)
    values = inbox.values(0x2A37)
    assert len(values) == 10
    assert all(isinstance(v, HeartRateMeasurement) for v in values)
    beats = [rr for v in values for rr in v.rr_intervals]  # type: ignore[attr-defined]
    assert len(beats) == 12  # 72 /min for 10 s
    assert set(beats) == {round(60 / 72 * 1024) / 1024}
    assert [v.energy_expended for v in values].count(None) == 9  # every tenth carries it
    assert all(v.sensor_contact for v in values)  # type: ignore[attr-defined]

    await client.write_gatt_char(u(0x2A39), b"\x01", response=True)
    assert strap.energy_kj == 0
    with pytest.raises(BleakGATTProtocolError) as refused:
        await client.write_gatt_char(u(0x2A39), b"\x02", response=True)
    assert refused.value.args[0] == 0x80
