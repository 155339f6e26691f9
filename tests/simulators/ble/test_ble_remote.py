"""The TCP backend against a room server in this process: same GATT behaviour over a socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from ble_room import (
    CONTROL,
    CUSTOM,
    EVENTS,
    GADGET_ADDRESS,
    READ_ONLY_ADDRESS,
    STREAM,
    Gadget,
)
from bleak import BleakClient, BleakScanner
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)

from simulators.ble import ConnectionAborted, Room, remote
from simulators.ble.server import RoomServer

GUARD_S = 5.0


@pytest.fixture
async def server(room: Room, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RoomServer]:
    remote.reset()  # whatever another test configured, the environment decides here
    async with RoomServer(room) as server:
        monkeypatch.setenv(remote.ENV_ROOM, server.address)
        yield server


async def test_scan_over_tcp_filters_by_service(server: RoomServer) -> None:
    found = await BleakScanner.discover(
        timeout=0.2, return_adv=True, service_uuids=[CUSTOM], backend=remote.scanner_backend
    )
    assert list(found) == [GADGET_ADDRESS]
    _, adv = found[GADGET_ADDRESS]
    assert adv.local_name == "Gadget" and adv.manufacturer_data == {0xFFFF: b"\x01\x02"}


async def test_gatt_over_tcp(server: RoomServer, gadget: Gadget) -> None:
    got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    async with BleakClient(GADGET_ADDRESS, backend=remote.client_backend) as client:
        assert {c.uuid for c in client.services.get_service(CUSTOM).characteristics} >= {  # type: ignore[union-attr]
            STREAM,
            EVENTS,
        }
        await client.write_gatt_char(CONTROL, b"\x05", response=True)
        assert gadget.written == [(b"\x05", True)]
        with pytest.raises(BleakGATTProtocolError) as refused:
            await client.write_gatt_char(STREAM, b"\x00", response=True)
        assert refused.value.code is BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED

        assert gadget.peripheral.notify(STREAM, b"early") is False
        await client.start_notify(STREAM, lambda c, d: got.put_nowait((c.uuid, bytes(d))))
        await client.start_notify(EVENTS, lambda c, d: got.put_nowait((c.uuid, bytes(d))))
        assert gadget.peripheral.notify(STREAM, b"n1")
        # An indication is confirmed only after it crossed the socket and reached the callback.
        assert await asyncio.wait_for(gadget.peripheral.indicate(EVENTS, b"i1"), GUARD_S)
        assert [await got.get(), await got.get()] == [(STREAM, b"n1"), (EVENTS, b"i1")]


async def test_device_initiated_disconnect_over_tcp(server: RoomServer, gadget: Gadget) -> None:
    gone = asyncio.Event()
    client = BleakClient(GADGET_ADDRESS, lambda _c: gone.set(), backend=remote.client_backend)
    await client.connect()
    gadget.peripheral.drop_link("transfer complete")
    await asyncio.wait_for(gone.wait(), GUARD_S)
    assert not client.is_connected
    with pytest.raises(BleakError, match="Service Discovery has not been performed"):
        await client.read_gatt_char(STREAM)  # as on BlueZ: services are gone with the link
    assert gadget.peripheral.visible


async def test_client_disconnect_over_tcp_frees_the_device(
    server: RoomServer, gadget: Gadget
) -> None:
    calls: list[object] = []
    client = BleakClient(GADGET_ADDRESS, calls.append, backend=remote.client_backend)
    await client.connect()
    assert gadget.peripheral.connected
    await client.disconnect()
    await asyncio.sleep(0)
    assert calls == [client] and not gadget.peripheral.connected


async def test_connect_errors_over_tcp(server: RoomServer, gadget: Gadget) -> None:
    with pytest.raises(BleakDeviceNotFoundError) as missing:
        await BleakClient("AA:00:00:00:00:99", backend=remote.client_backend).connect()
    assert missing.value.identifier == "AA:00:00:00:00:99"

    gadget.peripheral.connect_gate = lambda: (_ for _ in ()).throw(
        ConnectionAborted(GADGET_ADDRESS, "busy")
    )
    with pytest.raises(BleakError, match="le-connection-abort-by-local"):
        await BleakClient(GADGET_ADDRESS, backend=remote.client_backend).connect()


async def test_room_going_away_is_a_link_loss(room: Room, monkeypatch: pytest.MonkeyPatch) -> None:
    remote.reset()
    gone = asyncio.Event()
    server = RoomServer(room)
    monkeypatch.setenv(remote.ENV_ROOM, await server.start())
    client = BleakClient(READ_ONLY_ADDRESS, lambda _c: gone.set(), backend=remote.client_backend)
    await client.connect()
    await server.close()
    await asyncio.wait_for(gone.wait(), GUARD_S)
    with pytest.raises(BleakBluetoothNotAvailableError, match="unreachable"):
        await client.connect()


async def test_no_room_configured_is_bluetooth_not_available(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(remote.ENV_ROOM, raising=False)
    remote.reset()
    with pytest.raises(BleakBluetoothNotAvailableError, match="VIGIL_SIM_ROOM"):
        await BleakScanner.discover(timeout=0.01, backend=remote.scanner_backend)


def test_configure_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(remote.ENV_ROOM, "127.0.0.1:1")
    remote.configure(room="127.0.0.1:7301")
    try:
        assert remote.room_address() == ("127.0.0.1", 7301)
        with pytest.raises(ValueError, match="host:port"):
            remote.configure(room="localhost")
    finally:
        remote.reset()
    assert remote.room_address() == ("127.0.0.1", 1)


async def test_garbage_from_a_client_gets_an_error_and_the_door(server: RoomServer) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b'{"op": "teleport"}\n')
    line = await asyncio.wait_for(reader.readline(), GUARD_S)
    assert b'"kind":"protocol"' in line
    assert await asyncio.wait_for(reader.read(), GUARD_S) == b""  # closed
    writer.close()


async def test_room_control_lists_devices(server: RoomServer) -> None:
    async with remote.RoomControl(server.address) as control:
        entries = {d.address: d for d in await control.devices()}
        assert set(entries) == {GADGET_ADDRESS, READ_ONLY_ADDRESS}
        assert entries[GADGET_ADDRESS].kind == "peripheral" and entries[GADGET_ADDRESS].visible
        with pytest.raises(BleakDeviceNotFoundError):
            await control.control(GADGET_ADDRESS, "measure")  # a plain peripheral, no controls


async def test_a_device_leaving_during_connect_fails_the_connect_over_tcp(
    server: RoomServer, gadget: Gadget
) -> None:
    gadget.peripheral.connect_hooks.append(lambda: gadget.peripheral.drop_link("reset"))
    client = BleakClient(GADGET_ADDRESS, backend=remote.client_backend)
    with pytest.raises(BleakError):
        await client.connect()
    assert not client.is_connected and not gadget.peripheral.connected


async def test_a_failing_notification_callback_is_reported_and_the_link_stays(
    server: RoomServer, gadget: Gadget
) -> None:
    """Values over TCP reach their callbacks straight from the socket's read: one that raises
    goes to the loop's exception handler, as a failing call_soon callback would, and neither
    the link nor the values after it suffer."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    got: asyncio.Queue[bytes] = asyncio.Queue()

    def flaky(_char: object, data: bytearray) -> None:
        if data == b"bad":
            raise RuntimeError("callback bug")
        got.put_nowait(bytes(data))

    try:
        async with BleakClient(GADGET_ADDRESS, backend=remote.client_backend) as client:
            await client.start_notify(STREAM, flaky)
            await client.start_notify(EVENTS, flaky)
            assert gadget.peripheral.notify(STREAM, b"bad")
            assert gadget.peripheral.notify(STREAM, b"n2")
            assert await asyncio.wait_for(gadget.peripheral.indicate(EVENTS, b"i2"), GUARD_S)
            assert [await got.get(), await got.get()] == [b"n2", b"i2"]
            assert client.is_connected
    finally:
        loop.set_exception_handler(None)
    assert [str(c["exception"]) for c in reported] == ["callback bug"]
