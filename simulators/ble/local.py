"""In-process bleak backend: emulated devices in the same event loop as the agent.

Plugin interface (same as `simulators.ble.remote`)::

    backend = importlib.import_module("simulators.ble.local")
    backend.configure(room=my_room)            # optional; or set_room(my_room)
    BleakScanner(backend=backend.scanner_backend)
    BleakClient(device, backend=backend.client_backend)

Both classes use the process-global room at the moment they are used, so a test can replace
the room between cases with `set_room`.
"""

from __future__ import annotations

from collections.abc import Callable

from simulators.ble.client import EmulatedClient, GattLink
from simulators.ble.errors import (
    AttError,
    ConnectionAborted,
    DeviceUnavailable,
    NotConnected,
    to_bleak,
)
from simulators.ble.gatt_table import ServiceInfo
from simulators.ble.peripheral import Peripheral, Sighting
from simulators.ble.room import Room
from simulators.ble.scanner import EmulatedScanner, StopWatching

_room: Room | None = None


def set_room(room: Room) -> None:
    """Make `room` the radio environment every local scanner and client sees."""
    global _room
    _room = room


def get_room() -> Room:
    """The current room (an empty one until `set_room`/`configure` is called)."""
    global _room
    if _room is None:
        _room = Room()
    return _room


def configure(room: Room | None = None) -> None:
    """Plugin hook: the agent passes its backend options here; `room` replaces the room."""
    if room is not None:
        set_room(room)


class _LocalLink:
    def __init__(self, peripheral: Peripheral, central: EmulatedClient) -> None:
        self._peripheral = peripheral
        self._central = central
        self.name = peripheral.advertisement.local_name
        self.mtu = peripheral.mtu
        self.services: tuple[ServiceInfo, ...] = peripheral.services_info()

    async def read(self, handle: int) -> bytes:
        try:
            return await self._peripheral.read(self._central, handle)
        except (AttError, NotConnected) as exc:
            raise to_bleak(exc) from exc

    async def write(self, handle: int, data: bytes, response: bool) -> None:
        try:
            await self._peripheral.write(self._central, handle, data, response)
        except (AttError, NotConnected) as exc:
            raise to_bleak(exc) from exc

    async def read_descriptor(self, handle: int) -> bytes:
        try:
            return await self._peripheral.read_descriptor(self._central, handle)
        except (AttError, NotConnected) as exc:
            raise to_bleak(exc) from exc

    async def write_descriptor(self, handle: int, data: bytes) -> None:
        try:
            await self._peripheral.write_descriptor(self._central, handle, data)
        except (AttError, NotConnected) as exc:
            raise to_bleak(exc) from exc

    async def close(self) -> None:
        self._peripheral.release(self._central)


class LocalBleakClient(EmulatedClient):
    async def _open_link(self) -> GattLink:
        try:
            peripheral = get_room().connect(self.address)
            peripheral.connect(self)
        except (DeviceUnavailable, ConnectionAborted) as exc:
            raise to_bleak(exc) from exc
        return _LocalLink(peripheral, self)


class LocalBleakScanner(EmulatedScanner):
    transport = "local"

    async def _watch(self, report: Callable[[Sighting], None]) -> StopWatching:
        stop = get_room().watch(report)

        async def stop_watching() -> None:
            stop()

        return stop_watching


scanner_backend = LocalBleakScanner
client_backend = LocalBleakClient
