"""The in-process backend through bleak's own public API, as agent code uses it."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from ble_room import (
    BATTERY,
    BOTH,
    CONTROL,
    CUSTOM,
    EVENTS,
    GADGET_ADDRESS,
    LEVEL,
    READ_ONLY_ADDRESS,
    STREAM,
    Gadget,
    battery_only,
)
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import (
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)

from simulators.ble import Room, local
from simulators.ble.gatt_table import CCCD_UUID

GUARD_S = 5.0  # only a guard against hangs, never a measured time


async def discover(**kwargs: object) -> dict[str, tuple[object, object]]:
    return await BleakScanner.discover(  # type: ignore[no-any-return,call-overload]
        timeout=0.1, return_adv=True, backend=local.scanner_backend, **kwargs
    )


async def test_discovery_filters_by_service_uuid_and_reports_advertising_data(room: Room) -> None:
    everything = await discover()
    assert set(everything) == {GADGET_ADDRESS, READ_ONLY_ADDRESS}

    found = await discover(service_uuids=[CUSTOM])
    assert list(found) == [GADGET_ADDRESS]
    device, adv = found[GADGET_ADDRESS]
    assert device.name == "Gadget"  # type: ignore[attr-defined]
    assert adv.local_name == "Gadget"  # type: ignore[attr-defined]
    assert adv.service_uuids == [CUSTOM]  # type: ignore[attr-defined]
    assert adv.manufacturer_data == {0xFFFF: b"\x01\x02"}  # type: ignore[attr-defined]
    assert (adv.rssi, adv.tx_power) == (-48, 4)  # type: ignore[attr-defined]


async def test_find_device_by_address_and_name(room: Room) -> None:
    by_address = await BleakScanner.find_device_by_address(
        GADGET_ADDRESS.lower(), timeout=GUARD_S, backend=local.scanner_backend
    )
    by_name = await BleakScanner.find_device_by_name(
        "Battery", timeout=GUARD_S, backend=local.scanner_backend
    )
    assert by_address is not None and by_address.address == GADGET_ADDRESS
    assert by_name is not None and by_name.address == READ_ONLY_ADDRESS


async def test_scanner_hears_a_device_that_starts_advertising(room: Room) -> None:
    late = battery_only("AA:00:00:00:00:09")
    late.set_advertising(False)
    room.add(late)
    seen: asyncio.Queue[str] = asyncio.Queue()
    async with BleakScanner(
        lambda d, _a: seen.put_nowait(d.address), backend=local.scanner_backend
    ):
        late.set_advertising(True)
        while await asyncio.wait_for(seen.get(), GUARD_S) != late.address:
            pass


async def test_services_are_real_bleak_objects_with_cccds(room: Room) -> None:
    async with BleakClient(GADGET_ADDRESS, backend=local.client_backend) as client:
        service = client.services.get_service(CUSTOM)
        assert service is not None
        by_uuid = {c.uuid: c for c in service.characteristics}
        assert set(by_uuid) == {STREAM, EVENTS, CONTROL, BOTH}
        assert by_uuid[CONTROL].properties == ["write", "write-without-response"]
        for uuid in (STREAM, EVENTS, BOTH):
            assert [d.uuid for d in by_uuid[uuid].descriptors] == [CCCD_UUID]
        assert by_uuid[CONTROL].descriptors == []
        assert isinstance(client.services.get_characteristic(STREAM), BleakGATTCharacteristic)
        assert client.mtu_size == 247
        assert client.name == "Gadget"


async def test_services_filter_is_honoured(room: Room) -> None:
    async with BleakClient(
        READ_ONLY_ADDRESS, services=[BATTERY], backend=local.client_backend
    ) as client:
        assert [s.uuid for s in client.services] == [BATTERY]
        assert await client.read_gatt_char(LEVEL) == bytearray(b"\x5a")


async def test_writes_reach_the_device_and_bad_writes_fail_like_bleak(
    room: Room, gadget: Gadget
) -> None:
    async with BleakClient(GADGET_ADDRESS, backend=local.client_backend) as client:
        await client.write_gatt_char(CONTROL, b"\x01", response=True)
        await client.write_gatt_char(CONTROL, b"\x02", response=False)
        assert gadget.written == [(b"\x01", True), (b"\x02", False)]

        with pytest.raises(BleakGATTProtocolError) as refused:
            await client.write_gatt_char(STREAM, b"\x00", response=True)
        assert refused.value.code is BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED
        with pytest.raises(BleakError, match="write without response"):
            await client.write_gatt_char(STREAM, b"\x00", response=False)
        with pytest.raises(BleakGATTProtocolError) as unreadable:
            await client.read_gatt_char(STREAM)
        assert unreadable.value.code is BleakGATTProtocolErrorCode.READ_NOT_PERMITTED
        assert await client.read_gatt_char(BOTH) == bytearray(b"both")


async def test_notifications_flow_only_while_the_cccd_is_enabled(
    room: Room, gadget: Gadget
) -> None:
    device = gadget.peripheral
    got: asyncio.Queue[bytes] = asyncio.Queue()
    async with BleakClient(GADGET_ADDRESS, backend=local.client_backend) as client:
        assert device.notify(STREAM, b"early") is False  # nobody subscribed: nothing sent
        await client.start_notify(STREAM, lambda _c, data: got.put_nowait(bytes(data)))
        cccd = client.services.get_characteristic(STREAM).descriptors[0]  # type: ignore[union-attr]
        assert await client.read_gatt_descriptor(cccd) == bytearray(b"\x01\x00")
        assert device.notify(STREAM, b"one") is True
        assert await asyncio.wait_for(got.get(), GUARD_S) == b"one"

        await client.stop_notify(STREAM)
        assert device.notify(STREAM, b"two") is False
        assert await client.read_gatt_descriptor(cccd) == bytearray(b"\x00\x00")
    assert got.empty()


async def test_start_notify_prefers_notify_and_refuses_plain_characteristics(
    room: Room, gadget: Gadget
) -> None:
    async with BleakClient(GADGET_ADDRESS, backend=local.client_backend) as client:
        await client.start_notify(BOTH, lambda _c, _d: None)
        assert gadget.peripheral.subscription(BOTH) == 0x0001
        with pytest.raises(BleakError, match="notify or indicate"):
            await client.start_notify(CONTROL, lambda _c, _d: None)
        with pytest.raises(ValueError, match="CCCD"):  # bleak's own guard, reached unchanged
            cccd = client.services.get_characteristic(BOTH).descriptors[0]  # type: ignore[union-attr]
            await client.write_gatt_descriptor(cccd, b"\x02\x00")


async def test_indications_are_confirmed_after_the_callback_has_the_value(
    room: Room, gadget: Gadget
) -> None:
    device = gadget.peripheral
    got: list[bytes] = []
    async with BleakClient(GADGET_ADDRESS, backend=local.client_backend) as client:
        assert await device.indicate(EVENTS, b"lost") is False  # CCCD not enabled yet
        await client.start_notify(EVENTS, lambda _c, data: got.append(bytes(data)))
        assert device.subscription(EVENTS) == 0x0002
        assert await device.indicate(EVENTS, b"first") is True
        assert got == [b"first"]  # confirmed means delivered, in order
        assert await device.indicate(EVENTS, b"second") is True
        assert got == [b"first", b"second"]
    assert await device.indicate(EVENTS, b"after") is False


async def test_async_callbacks_are_supported(room: Room, gadget: Gadget) -> None:
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_value(_c: BleakGATTCharacteristic, data: bytearray) -> None:
        await got.put(bytes(data))

    async with BleakClient(GADGET_ADDRESS, backend=local.client_backend) as client:
        await client.start_notify(STREAM, on_value)
        gadget.peripheral.notify(STREAM, b"x")
        assert await asyncio.wait_for(got.get(), GUARD_S) == b"x"


async def test_device_initiated_disconnect_calls_the_callback(room: Room, gadget: Gadget) -> None:
    gone = asyncio.Event()
    client = BleakClient(GADGET_ADDRESS, lambda _c: gone.set(), backend=local.client_backend)
    await client.connect()
    assert client.is_connected and not gadget.peripheral.visible  # stops advertising
    gadget.peripheral.drop_link("battery removed")
    await asyncio.wait_for(gone.wait(), GUARD_S)
    assert not client.is_connected
    assert gadget.peripheral.visible
    with pytest.raises(BleakError, match="Service Discovery has not been performed"):
        _ = client.services
    with pytest.raises(BleakError, match="Not connected"):
        await client.start_notify(STREAM, lambda _c, _d: None)
    await client.disconnect()  # harmless after the device left


async def test_client_disconnect_also_calls_the_callback_once_like_bluez(room: Room) -> None:
    calls: list[BleakClient] = []
    client = BleakClient(GADGET_ADDRESS, calls.append, backend=local.client_backend)
    await client.connect()
    await client.disconnect()
    await client.disconnect()
    await asyncio.sleep(0)
    assert calls == [client]


async def test_going_out_of_range_drops_the_link_and_hides_the_device(
    room: Room, gadget: Gadget
) -> None:
    gone = asyncio.Event()
    client = BleakClient(GADGET_ADDRESS, lambda _c: gone.set(), backend=local.client_backend)
    await client.connect()
    gadget.peripheral.set_in_range(False)
    await asyncio.wait_for(gone.wait(), GUARD_S)
    assert GADGET_ADDRESS not in await discover()
    with pytest.raises(BleakDeviceNotFoundError, match="out of range"):
        await client.connect()
    gadget.peripheral.set_in_range(True)
    await client.connect()
    assert client.is_connected
    await client.disconnect()


@pytest.mark.parametrize("why", ["unknown", "silent", "busy"])
async def test_unreachable_devices_raise_device_not_found(
    room: Room, gadget: Gadget, why: str
) -> None:
    address = GADGET_ADDRESS
    other = None
    if why == "unknown":
        address = "AA:00:00:00:00:99"
    elif why == "silent":
        gadget.peripheral.set_advertising(False)
    else:
        other = BleakClient(GADGET_ADDRESS, backend=local.client_backend)
        await other.connect()
    client = BleakClient(address, backend=local.client_backend)
    with pytest.raises(BleakDeviceNotFoundError) as missing:
        await client.connect()
    assert missing.value.identifier == address
    assert not client.is_connected
    if other is not None:
        await other.disconnect()


async def test_set_room_replaces_the_radio_environment(room: Room) -> None:
    local.set_room(Room([battery_only("AA:00:00:00:00:42")]))
    assert list(await discover()) == ["AA:00:00:00:00:42"]
    local.configure(room=room)
    assert set(await discover()) == {GADGET_ADDRESS, READ_ONLY_ADDRESS}


@pytest.mark.parametrize("module", ["simulators.ble.local", "simulators.ble.remote"])
def test_both_backends_offer_the_plugin_interface(module: str) -> None:
    backend = importlib.import_module(module)
    assert callable(backend.configure)
    assert backend.scanner_backend.__name__.endswith("Scanner")
    assert backend.client_backend.__name__.endswith("Client")


async def test_a_device_leaving_during_connect_fails_the_connect(
    room: Room, gadget: Gadget
) -> None:
    gadget.peripheral.connect_hooks.append(lambda: gadget.peripheral.drop_link("reset"))
    client = BleakClient(GADGET_ADDRESS, backend=local.client_backend)
    with pytest.raises(BleakError, match="Disconnected during connect: reset"):
        await client.connect()
    assert not client.is_connected and not gadget.peripheral.connected
