"""Hosts a room on a local TCP socket for `simulators.ble.remote` clients in other processes.

See `simulators.ble.protocol` for the frames. Each TCP connection is served by one `_Session`,
which is a `Central` to the peripheral it connects to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from simulators.ble.errors import AttError, ConnectionAborted, DeviceUnavailable, NotConnected
from simulators.ble.peripheral import Peripheral
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
    Request,
    Result,
    Scan,
    Write,
    WriteDescriptor,
    _Frame,
    decode_request,
    encode,
)
from simulators.ble.room import Room

log = logging.getLogger(__name__)


class RoomServer:
    def __init__(self, room: Room, host: str = "127.0.0.1", port: int = 0) -> None:
        self.room = room
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> str:
        """Listen; returns "host:port" (the real port when 0 was asked for)."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=MAX_FRAME_BYTES
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            await session.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> RoomServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self.room, reader, writer)
        self._sessions.add(session)
        try:
            await session.run()
        finally:
            self._sessions.discard(session)


class _Session:
    """One TCP connection: a scanner, a central, or an operator."""

    def __init__(
        self, room: Room, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._room = room
        self._reader = reader
        self._writer = writer
        self._peripheral: Peripheral | None = None
        self._stop_watch: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._requests: asyncio.Queue[Request] = asyncio.Queue()
        self._confirm: asyncio.Future[bool] | None = None
        self._closed = False

    def _send(self, frame: _Frame) -> None:
        if not self._closed and not self._writer.is_closing():
            self._writer.write(encode(frame))

    async def run(self) -> None:
        worker = asyncio.create_task(self._work())
        try:
            while True:
                try:
                    line = await self._reader.readline()
                except (ConnectionError, ValueError) as exc:  # ValueError: frame over the limit
                    self._send(Failure(kind="protocol", message=f"connection error: {exc}"))
                    break
                if not line:
                    break
                try:
                    request = decode_request(line)
                except ProtocolError as exc:
                    # A confused peer gets told why, then the link goes: nothing half-done.
                    self._send(Failure(kind="protocol", message=str(exc)))
                    break
                if isinstance(request, Confirm):
                    if self._confirm is not None and not self._confirm.done():
                        self._confirm.set_result(True)
                elif isinstance(request, Scan):
                    self._start_scan()
                else:
                    self._requests.put_nowait(request)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._stop_watch is not None:
            self._stop_watch()
        if self._confirm is not None and not self._confirm.done():
            self._confirm.set_result(False)
        peripheral, self._peripheral = self._peripheral, None
        if peripheral is not None:
            peripheral.release(self)
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    def _start_scan(self) -> None:
        if self._stop_watch is None:
            self._stop_watch = self._room.watch(lambda s: self._send(Advert.of(s)))

    async def _work(self) -> None:
        while True:
            request = await self._requests.get()
            request_id = getattr(request, "id", None)
            try:
                self._send(await self._handle(request))
            except AttError as exc:
                self._send(Failure(id=request_id, kind="att", code=exc.code, message=str(exc)))
            except DeviceUnavailable as exc:
                self._send(
                    Failure(id=request_id, kind="not_found", address=exc.address, message=str(exc))
                )
            except NotConnected as exc:
                self._send(Failure(id=request_id, kind="not_connected", message=str(exc)))
            except ConnectionAborted as exc:
                self._send(Failure(id=request_id, kind="error", message=str(exc)))
            except Exception as exc:  # a device bug must not kill the room
                log.exception("request %r failed", request)
                self._send(Failure(id=request_id, kind="error", message=repr(exc)))
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()

    async def _handle(self, request: Request) -> _Frame:
        match request:
            case Connect(id=rid, address=address):
                if self._peripheral is not None:
                    raise NotConnected("this connection already carries a link")
                peripheral = self._room.connect(address)
                peripheral.connect(self)
                self._peripheral = peripheral
                return Result(
                    id=rid,
                    name=peripheral.advertisement.local_name,
                    mtu=peripheral.mtu,
                    services=peripheral.services_info(),
                )
            case Read(id=rid, handle=handle):
                return Result(id=rid, value=await self._linked().read(self, handle))
            case Write(id=rid, handle=handle, value=value, response=response):
                await self._linked().write(self, handle, value, response)
                return Result(id=rid)
            case ReadDescriptor(id=rid, handle=handle):
                return Result(id=rid, value=await self._linked().read_descriptor(self, handle))
            case WriteDescriptor(id=rid, handle=handle, value=value):
                await self._linked().write_descriptor(self, handle, value)
                return Result(id=rid)
            case Disconnect(id=rid):
                linked, self._peripheral = self._peripheral, None
                if linked is not None:
                    linked.release(self)
                return Result(id=rid)
            case ListDevices(id=rid):
                return Result(id=rid, devices=tuple(self._entries()))
            case Control(id=rid, address=address, action=action, value=value):
                try:
                    self._room.device(address).control(action, value)
                except ValueError as exc:
                    return Failure(id=rid, kind="error", message=str(exc))
                return Result(id=rid)
        raise ProtocolError(f"unexpected request {request.op}")

    def _entries(self) -> list[DeviceEntry]:
        hosted = {d.peripheral.address: d.kind for d in self._room.hosted}
        return [
            DeviceEntry(
                address=p.address,
                name=p.advertisement.local_name,
                kind=hosted.get(p.address, "peripheral"),
                visible=p.visible,
                connected=p.connected,
            )
            for p in self._room.peripherals
        ]

    def _linked(self) -> Peripheral:
        if self._peripheral is None:
            raise NotConnected("not connected")
        return self._peripheral

    # -- Central: what the peripheral pushes to this link ----------------------------------------

    def notification(self, handle: int, data: bytes) -> None:
        self._send(Notification(handle=handle, value=data))

    async def indication(self, handle: int, data: bytes) -> bool:
        if self._closed:
            return False
        self._confirm = asyncio.get_running_loop().create_future()
        self._send(Indication(handle=handle, value=data))
        return await self._confirm

    def link_lost(self, reason: str) -> None:
        self._peripheral = None
        self._send(Disconnected(reason=reason))
        # The TCP connection is the link: end it so the client sees EOF after the reason.
        task = asyncio.get_running_loop().create_task(self.close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
