"""Cross-process bleak backend: emulated devices hosted by `vigil sim devices --listen`.

Plugin interface (same as `simulators.ble.local`)::

    backend = importlib.import_module("simulators.ble.remote")
    backend.configure(room="127.0.0.1:7301")   # or env VIGIL_SIM_ROOM=127.0.0.1:7301
    BleakScanner(backend=backend.scanner_backend)
    BleakClient(device, backend=backend.client_backend)

An unreachable room is reported like a missing Bluetooth adapter
(`BleakBluetoothNotAvailableError`); everything else maps as on a real radio.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Callable

from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from simulators.ble.client import EmulatedClient, GattLink
from simulators.ble.gatt_table import ServiceInfo
from simulators.ble.peripheral import Sighting
from simulators.ble.protocol import (
    MAX_FRAME_BYTES,
    Advert,
    Confirm,
    Connect,
    Control,
    DeviceEntry,
    Disconnect,
    Disconnected,
    Failure,
    Indication,
    ListDevices,
    Notification,
    ProtocolError,
    Read,
    ReadDescriptor,
    Result,
    Scan,
    Write,
    WriteDescriptor,
    _Frame,
    decode_reply,
    encode,
)
from simulators.ble.scanner import EmulatedScanner, StopWatching

log = logging.getLogger(__name__)

ENV_ROOM = "VIGIL_SIM_ROOM"
# A clean disconnect waits this long for the room's reply before just closing the socket.
DISCONNECT_REPLY_TIMEOUT_S = 2.0

_room: str | None = None


def configure(room: str | None = None) -> None:
    """Plugin hook: `room` is "host:port" of a `vigil sim devices --listen` process."""
    global _room
    if room is not None:
        parse_address(room)
        _room = room


def reset() -> None:
    """Forget the configured room: `VIGIL_SIM_ROOM` applies again (for tests)."""
    global _room
    _room = None


def room_address() -> tuple[str, int]:
    address = _room or os.environ.get(ENV_ROOM)
    if not address:
        raise BleakBluetoothNotAvailableError(
            f"no emulated room configured: set {ENV_ROOM}=host:port or call configure(room=...)",
            BleakBluetoothNotAvailableReason.NO_BLUETOOTH,
        )
    return parse_address(address)


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"room address must be host:port, got {address!r}")
    return host, int(port)


def _failure_to_bleak(failure: Failure) -> BleakError:
    if failure.kind == "att" and failure.code is not None:
        return BleakGATTProtocolError(failure.code)
    if failure.kind == "not_found":
        address = failure.address or "?"
        return BleakDeviceNotFoundError(
            address, f"Device with address {address} was not found ({failure.message})"
        )
    if failure.kind == "not_connected":
        return BleakError("Not connected")
    return BleakError(failure.message)


class _Channel(asyncio.Protocol):
    """Request/reply over one TCP connection, with pushed frames handed to `on_push`.

    An asyncio Protocol rather than streams: frames are split and dispatched right in the
    loop's read callback, with no reader task and no StreamReader between -- this client runs
    inside the gateway agent, where its per-frame cost is counted (on a Pi, BlueZ's D-Bus
    traffic takes its place)."""

    def __init__(self, on_push: Callable[[_Frame], None], on_end: Callable[[str], None]) -> None:
        self._on_push = on_push
        self._on_end = on_end
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Result]] = {}
        self._partial = b""  # an incomplete frame, awaiting the rest of its line
        self._transport: asyncio.Transport | None = None
        self._ended = False
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(
        cls,
        on_push: Callable[[_Frame], None],
        on_end: Callable[[str], None],
        address: tuple[str, int] | None = None,
    ) -> _Channel:
        host, port = address or room_address()
        loop = asyncio.get_running_loop()
        try:
            _, channel = await loop.create_connection(lambda: cls(on_push, on_end), host, port)
        except OSError as exc:
            raise BleakBluetoothNotAvailableError(
                f"emulated room at {host}:{port} unreachable: {exc}",
                BleakBluetoothNotAvailableReason.NO_BLUETOOTH,
            ) from exc
        return channel

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._ended:
            return
        if self._partial:
            data, self._partial = self._partial + data, b""
        *lines, rest = data.split(b"\n")
        try:
            for line in lines:
                self._dispatch(line)
                if self._ended:
                    return
        except (ProtocolError, ValueError) as exc:
            self._end(f"connection to room failed: {exc}")
            return
        if len(rest) > MAX_FRAME_BYTES:
            self._end("connection to room failed: frame over the size limit")
            return
        self._partial = rest

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._lost.done():
            self._lost.set_result(None)
        self._end("room closed the connection" if exc is None
                  else f"connection to room failed: {exc}")

    def _dispatch(self, line: bytes) -> None:
        frame = decode_reply(line)
        if isinstance(frame, Result):
            self._settle(frame.id, frame)
        elif isinstance(frame, Failure) and frame.id is not None:
            self._settle(frame.id, _failure_to_bleak(frame))
        elif isinstance(frame, Failure):
            self._end(f"room reported: {frame.message}")
        elif isinstance(frame, Disconnected):
            self._end(frame.reason)
        else:
            self._on_push(frame)

    # -- requests --------------------------------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    def send(self, frame: _Frame) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(encode(frame))

    async def request(self, frame: _Frame, request_id: int) -> Result:
        if self._ended:
            raise BleakError("Not connected")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self.send(frame)
        try:
            return await future
        finally:
            self._pending.pop(request_id, None)

    def _settle(self, request_id: int, outcome: Result | BleakError) -> None:
        future = self._pending.get(request_id)
        if future is None or future.done():
            return
        if isinstance(outcome, Result):
            future.set_result(outcome)
        else:
            future.set_exception(outcome)

    def _end(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BleakError("Not connected"))
        if self._transport is not None:
            self._transport.close()
        self._on_end(reason)

    async def close(self) -> None:
        self._on_end = lambda _reason: None
        self._end("closed")
        with contextlib.suppress(ConnectionError):
            await self._lost


class _RemoteLink:
    def __init__(self, central: EmulatedClient) -> None:
        self._central = central
        self._channel: _Channel | None = None
        self.name: str | None = None
        self.mtu = 23
        self.services: tuple[ServiceInfo, ...] = ()

    async def open(self, address: str) -> None:
        self._channel = await _Channel.open(self._push, self._central.link_lost)
        try:
            result = await self._call(lambda rid: Connect(id=rid, address=address))
        except BaseException:
            await self._channel.close()
            raise
        self.name = result.name
        self.mtu = result.mtu or self.mtu
        self.services = result.services or ()

    def _push(self, frame: _Frame) -> None:
        if isinstance(frame, Notification | Indication):
            delivered = self._central.deliver(frame.handle, frame.value)
            # An indication is confirmed on receipt, as BlueZ does; the device sends its next
            # one only then.
            if isinstance(frame, Indication) and delivered and self._channel is not None:
                self._channel.send(Confirm(handle=frame.handle))

    async def _call(self, build: Callable[[int], _Frame]) -> Result:
        channel = self._channel
        if channel is None:
            raise BleakError("Not connected")
        request_id = channel.next_id()
        return await channel.request(build(request_id), request_id)

    async def read(self, handle: int) -> bytes:
        result = await self._call(lambda rid: Read(id=rid, handle=handle))
        return result.value or b""

    async def write(self, handle: int, data: bytes, response: bool) -> None:
        await self._call(lambda rid: Write(id=rid, handle=handle, value=data, response=response))

    async def read_descriptor(self, handle: int) -> bytes:
        result = await self._call(lambda rid: ReadDescriptor(id=rid, handle=handle))
        return result.value or b""

    async def write_descriptor(self, handle: int, data: bytes) -> None:
        await self._call(lambda rid: WriteDescriptor(id=rid, handle=handle, value=data))

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is None:
            return
        with contextlib.suppress(BleakError, TimeoutError):
            async with asyncio.timeout(DISCONNECT_REPLY_TIMEOUT_S):
                request_id = channel.next_id()
                await channel.request(Disconnect(id=request_id), request_id)
        await channel.close()


class RemoteBleakClient(EmulatedClient):
    async def _open_link(self) -> GattLink:
        link = _RemoteLink(self)
        await link.open(self.address)
        return link


class RemoteBleakScanner(EmulatedScanner):
    transport = "remote"

    async def _watch(self, report: Callable[[Sighting], None]) -> StopWatching:
        def push(frame: _Frame) -> None:
            if isinstance(frame, Advert):
                report(frame.sighting())

        def ended(reason: str) -> None:
            log.warning("emulated scan ended: %s", reason)

        channel = await _Channel.open(push, ended)
        channel.send(Scan())
        return channel.close


scanner_backend = RemoteBleakScanner
client_backend = RemoteBleakClient


class RoomControl:
    """Operator/test access to a hosted room: list devices, trigger measurements, inject faults."""

    def __init__(self, room: str | None = None) -> None:
        self._address = parse_address(room) if room is not None else None
        self._channel: _Channel | None = None

    async def __aenter__(self) -> RoomControl:
        self._channel = await _Channel.open(lambda _f: None, lambda _r: None, self._address)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def _call(self, build: Callable[[int], _Frame]) -> Result:
        assert self._channel is not None, "use RoomControl as an async context manager"
        request_id = self._channel.next_id()
        return await self._channel.request(build(request_id), request_id)

    async def devices(self) -> tuple[DeviceEntry, ...]:
        return (await self._call(lambda rid: ListDevices(id=rid))).devices or ()

    async def control(self, address: str, action: str, value: float | bool | None = None) -> None:
        await self._call(lambda rid: Control(id=rid, address=address, action=action, value=value))
