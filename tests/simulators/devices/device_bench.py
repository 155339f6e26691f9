"""Helpers for device tests: connect with bleak's public API and collect decoded values."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic

from edge.gatt import GattValue, decode
from simulators.ble import local
from simulators.ble.gatt_table import uuid_of

GUARD_S = 5.0  # a guard against hangs only; tests never assert on elapsed time


class Inbox:
    """Bytes and decoded values received, in order, per characteristic."""

    def __init__(self) -> None:
        self.raw: list[tuple[int, bytes]] = []
        self._queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()

    def __call__(self, characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        item = (int(characteristic.uuid[4:8], 16), bytes(data))
        self.raw.append(item)
        self._queue.put_nowait(item)

    async def next(self) -> tuple[int, bytes]:
        return await asyncio.wait_for(self._queue.get(), GUARD_S)

    async def next_value(self) -> GattValue:
        uuid, data = await self.next()
        return decode(uuid, data)

    def values(self, uuid: int) -> list[GattValue]:
        return [decode(u, d) for u, d in self.raw if u == uuid]

    def pending(self) -> int:
        return self._queue.qsize()


async def connect(
    address: str, on_disconnect: Callable[[BleakClient], None] | None = None
) -> BleakClient:
    client = BleakClient(address, on_disconnect, backend=local.client_backend)
    await client.connect()
    return client


async def subscribe(client: BleakClient, inbox: Inbox, *uuids: int) -> None:
    for uuid in uuids:
        await client.start_notify(uuid_of(uuid), inbox)


def u(uuid: int) -> str:
    return uuid_of(uuid)
