"""The bleak client backend over an emulated link, shared by the in-process and TCP transports.

Behaviour follows bleak's BlueZ backend, the one the gateway runs on in production:
- every disconnect, whether the device or the client ended it, calls the disconnected callback
  once, and clears `services`;
- notification and indication callbacks run from the event loop, in arrival order, never inside
  the device's own call stack;
- `start_notify` prefers notifications when a characteristic supports both, and writes the CCCD;
- failures raise the bleak exceptions a real backend raises (`BleakError("Not connected")`,
  `BleakGATTProtocolError`, `BleakDeviceNotFoundError`).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from typing import Any, Protocol

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from simulators.ble.gatt_table import (
    CCCD_INDICATE,
    CCCD_NOTIFY,
    CharacteristicInfo,
    ServiceInfo,
    build_collection,
)

log = logging.getLogger(__name__)

# What BlueZ reports before an MTU exchange.
MINIMUM_MTU = 23


class GattLink(Protocol):
    """The client end of one connection; methods raise bleak exceptions."""

    name: str | None
    mtu: int
    services: tuple[ServiceInfo, ...]

    async def read(self, handle: int) -> bytes: ...

    async def write(self, handle: int, data: bytes, response: bool) -> None: ...

    async def read_descriptor(self, handle: int) -> bytes: ...

    async def write_descriptor(self, handle: int, data: bytes) -> None: ...

    async def close(self) -> None:
        """Client-initiated disconnect."""
        ...


class EmulatedClient(BaseBleakClient, abc.ABC):
    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Any = None,
        timeout: float = 10.0,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        # kwargs: bluez=, winrt=, pair=, bleak-retry-connector's _is_retry_client=; all moot here.
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self.address = self.address.upper()
        self._requested_services = services
        self._advertised_name = (
            address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._link: GattLink | None = None
        self._callbacks: dict[int, NotifyCallback] = {}
        # A link can be lost before connect() has returned it (the device leaves at once).
        self._connecting = False
        self._lost_while_connecting: str | None = None

    @abc.abstractmethod
    async def _open_link(self) -> GattLink:
        """Connect to `self.address` with `self` as the central; raise bleak exceptions."""

    # -- connectivity --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        if self._link is not None and self._link.name:
            return self._link.name
        return self._advertised_name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._link.mtu if self._link is not None else MINIMUM_MTU

    @property
    def is_connected(self) -> bool:
        return self._link is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._link is not None:
            return
        timeout = float(kwargs.get("timeout", self._timeout))
        self._connecting, self._lost_while_connecting = True, None
        try:
            async with asyncio.timeout(timeout):
                link = await self._open_link()
        finally:
            self._connecting = False
        if self._lost_while_connecting is not None:
            with contextlib.suppress(BleakError):
                await link.close()
            raise BleakError(f"Disconnected during connect: {self._lost_while_connecting}")
        self._link = link
        self.services = build_collection(link.services, mtu=link.mtu, only=self._requested_services)

    async def disconnect(self) -> None:
        link = self._link
        if link is None:
            return
        try:
            await link.close()
        finally:
            self._on_disconnected()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Emulated devices need no bonding (no security in the profiles we emulate)."""

    async def unpair(self) -> None:
        await self.disconnect()

    def _require(self) -> GattLink:
        if self._link is None:
            raise BleakError("Not connected")
        return self._link

    # -- GATT operations -----------------------------------------------------------------------

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await self._require().read(characteristic.handle))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await self._require().read_descriptor(descriptor.handle))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        link = self._require()
        if not response and "write-without-response" not in characteristic.properties:
            # BlueZ refuses a Write Command the characteristic does not declare.
            raise BleakError(
                f"Characteristic {characteristic.uuid} does not support write without response"
            )
        await link.write(characteristic.handle, bytes(data), response)

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        await self._require().write_descriptor(descriptor.handle, bytes(data))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        link = self._require()
        info = characteristic.obj
        assert isinstance(info, CharacteristicInfo)
        if "notify" in characteristic.properties:
            value = CCCD_NOTIFY
        elif "indicate" in characteristic.properties:
            value = CCCD_INDICATE
        else:
            raise BleakError(
                f"Characteristic {characteristic.uuid} does not support notify or indicate"
            )
        if info.cccd_handle is None:
            raise BleakError(f"Characteristic {characteristic.uuid} has no CCCD")
        self._callbacks[characteristic.handle] = callback
        try:
            await link.write_descriptor(info.cccd_handle, value.to_bytes(2, "little"))
        except BaseException:
            self._callbacks.pop(characteristic.handle, None)
            raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        link = self._require()
        info = characteristic.obj
        assert isinstance(info, CharacteristicInfo)
        self._callbacks.pop(characteristic.handle, None)
        if info.cccd_handle is not None:
            await link.write_descriptor(info.cccd_handle, b"\x00\x00")

    # -- the central, as the peripheral sees it ------------------------------------------------

    def notification(self, handle: int, data: bytes) -> None:
        callback = self._callbacks.get(handle)
        if callback is not None:
            asyncio.get_running_loop().call_soon(callback, bytearray(data))

    async def indication(self, handle: int, data: bytes) -> bool:
        if self._link is None:
            return False
        loop = asyncio.get_running_loop()
        callback = self._callbacks.get(handle)
        if callback is not None:
            loop.call_soon(callback, bytearray(data))
        # The confirmation goes back once the callback has been handed the value (as BlueZ
        # confirms on receipt, before the application has processed it).
        delivered: asyncio.Future[bool] = loop.create_future()
        loop.call_soon(_confirm, delivered)
        return await delivered

    def deliver(self, handle: int, data: bytes) -> bool:
        """A notified or indicated value, handed to its callback right away: for a transport
        that is itself running from the event loop (the TCP one), not from the device's call
        stack, so arrival order holds without a further hop through the loop. Returns whether
        the link is up (an indication is confirmed only then)."""
        if self._link is None:
            return False
        callback = self._callbacks.get(handle)
        if callback is not None:
            try:
                callback(bytearray(data))
            except Exception as exc:  # as the loop treats a failing call_soon callback
                asyncio.get_running_loop().call_exception_handler({
                    "message": f"{self.address}: notification callback failed",
                    "exception": exc,
                })
        return True

    def link_lost(self, reason: str) -> None:
        if self._link is None:
            if self._connecting:
                self._lost_while_connecting = reason
            return
        log.debug("%s: link lost: %s", self.address, reason)
        self._on_disconnected()

    def _on_disconnected(self) -> None:
        self._link = None
        self.services = None
        self._callbacks.clear()
        if self._disconnected_callback is not None:
            asyncio.get_running_loop().call_soon(self._disconnected_callback)


def _confirm(delivered: asyncio.Future[bool]) -> None:
    # The link may drop (cancelling the wait) before the confirmation is scheduled.
    if not delivered.done():
        delivered.set_result(True)
