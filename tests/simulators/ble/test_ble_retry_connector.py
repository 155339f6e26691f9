"""bleak-retry-connector's `establish_connection`, as the agent calls it, over the emulation.

The backend is passed as a keyword argument: establish_connection forwards unknown keyword
arguments to the client class, and BleakClient takes `backend=`.
"""

from __future__ import annotations

import asyncio

import pytest
from ble_room import GADGET_ADDRESS, STREAM, Gadget
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak_retry_connector import (
    MAX_TRANSIENT_ERRORS,
    BleakAbortedError,
    BleakClientWithServiceCache,
    establish_connection,
)

from simulators.ble import ConnectionAborted, Room, local

GUARD_S = 5.0


async def gadget_device() -> BLEDevice:
    device = await BleakScanner.find_device_by_address(
        GADGET_ADDRESS, timeout=GUARD_S, backend=local.scanner_backend
    )
    assert device is not None
    return device


@pytest.mark.parametrize("client_class", [BleakClient, BleakClientWithServiceCache])
async def test_establish_connection_returns_a_connected_client(
    room: Room, gadget: Gadget, client_class: type[BleakClient]
) -> None:
    gone = asyncio.Event()
    client = await establish_connection(
        client_class,
        await gadget_device(),
        "gadget",
        disconnected_callback=lambda _c: gone.set(),
        backend=local.client_backend,
    )
    assert client.is_connected
    got: asyncio.Queue[bytes] = asyncio.Queue()
    await client.start_notify(STREAM, lambda _c, d: got.put_nowait(bytes(d)))
    gadget.peripheral.notify(STREAM, b"\x07")
    assert await asyncio.wait_for(got.get(), GUARD_S) == b"\x07"
    gadget.peripheral.drop_link("device done")
    await asyncio.wait_for(gone.wait(), GUARD_S)


async def test_transient_connect_failures_are_retried(room: Room, gadget: Gadget) -> None:
    refusals = [ConnectionAborted(GADGET_ADDRESS, "busy"), ConnectionAborted(GADGET_ADDRESS)]

    def gate() -> None:
        if refusals:
            raise refusals.pop(0)

    gadget.peripheral.connect_gate = gate
    client = await establish_connection(
        BleakClient, await gadget_device(), "gadget", backend=local.client_backend
    )
    assert client.is_connected and not refusals
    await client.disconnect()


async def test_persistent_refusal_ends_in_an_abort_error(room: Room, gadget: Gadget) -> None:
    attempts = 0

    def refuse() -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionAborted(GADGET_ADDRESS, "always busy")

    gadget.peripheral.connect_gate = refuse
    device = await gadget_device()
    # BlueZ's abort is transient for the connector: it tries MAX_TRANSIENT_ERRORS times.
    with pytest.raises(BleakAbortedError, match="le-connection-abort-by-local"):
        await establish_connection(BleakClient, device, "gadget", backend=local.client_backend)
    assert attempts == MAX_TRANSIENT_ERRORS
