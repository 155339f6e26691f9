"""One emulated BLE peripheral: an attribute table, CCCD state, one link, and its advertising.

A device emulator builds a `Peripheral`, adds services, and then only calls `notify`,
`indicate`, `drop_link` and the advertising setters. Transports (in-process or TCP) call the
link methods (`connect`, `read`, `write`, ...) on behalf of a central.

Like most medical devices the peripheral accepts one central at a time and stops advertising
while connected; CCCDs are per connection (the device is not bonded), so a client must enable
notifications or indications on every connection, and the device sends nothing until it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bleak.assigned_numbers import CharacteristicPropertyName

from simulators.ble.errors import AttError, AttErrorCode, DeviceUnavailable, NotConnected
from simulators.ble.gatt_table import (
    ATT_HEADER,
    CCCD_INDICATE,
    CCCD_NOTIFY,
    CCCD_UUID,
    DEFAULT_MTU,
    CharacteristicInfo,
    DescriptorInfo,
    ServiceInfo,
    uuid_of,
)

log = logging.getLogger(__name__)

# ATT transaction timeout (Core Spec Vol 3 Part F 3.3.3): an unconfirmed indication after
# 30 s ends the link.
ATT_TIMEOUT_S = 30.0


class Central(Protocol):
    """The client end of a link, as the peripheral sees it."""

    def notification(self, handle: int, data: bytes) -> None: ...

    async def indication(self, handle: int, data: bytes) -> bool:
        """Deliver an indication; True once the client confirmed it."""
        ...

    def link_lost(self, reason: str) -> None: ...


ReadHandler = Callable[[], bytes]
# (value, with_response); may raise AttError to answer with an ATT error.
WriteHandler = Callable[[bytes, bool], Awaitable[None] | None]


@dataclass(eq=False)
class Characteristic:
    uuid: str
    properties: tuple[CharacteristicPropertyName, ...]
    value: bytes = b""
    on_read: ReadHandler | None = None
    on_write: WriteHandler | None = None
    handle: int = 0
    cccd_handle: int | None = None

    @property
    def info(self) -> CharacteristicInfo:
        descriptors = (
            (DescriptorInfo(self.cccd_handle, CCCD_UUID),) if self.cccd_handle is not None else ()
        )
        return CharacteristicInfo(self.handle, self.uuid, self.properties, descriptors)


def characteristic(
    uuid: int | str,
    *properties: CharacteristicPropertyName,
    value: bytes = b"",
    on_read: ReadHandler | None = None,
    on_write: WriteHandler | None = None,
) -> Characteristic:
    return Characteristic(uuid_of(uuid), tuple(properties), value, on_read, on_write)


@dataclass(frozen=True)
class Advertisement:
    local_name: str | None
    service_uuids: tuple[str, ...] = ()
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    tx_power: int | None = None
    rssi: int = -60


@dataclass(frozen=True)
class Sighting:
    """One received advertisement: who, and what it said."""

    address: str
    advertisement: Advertisement


Observer = Callable[["Peripheral"], None]


class Peripheral:
    def __init__(
        self,
        address: str,
        advertisement: Advertisement,
        *,
        mtu: int = DEFAULT_MTU,
        advertise_while_connected: bool = False,
    ) -> None:
        self.address = address.upper()
        self.mtu = mtu
        self.advertise_while_connected = advertise_while_connected
        self._advertisement = advertisement
        self._advertising = True
        self._in_range = True
        self._services: list[tuple[int, str, list[Characteristic]]] = []
        self._chars: dict[int, Characteristic] = {}
        self._by_uuid: dict[str, Characteristic] = {}
        self._cccds: dict[int, Characteristic] = {}
        self._next_handle = 1
        self._central: Central | None = None
        self._cccd_values: dict[int, int] = {}
        self._indicate_lock = asyncio.Lock()
        self._observers: list[Observer] = []
        # Called before accepting a link; may raise ConnectionAborted (fault injection).
        self.connect_gate: Callable[[], None] | None = None
        self.connect_hooks: list[Callable[[], None]] = []
        self.disconnect_hooks: list[Callable[[str], None]] = []
        self.subscribe_hooks: list[Callable[[str, int], None]] = []

    def __repr__(self) -> str:
        return f"<Peripheral {self.address} {self._advertisement.local_name!r}>"

    # -- building the attribute table --------------------------------------------------------

    def add_service(self, uuid: int | str, characteristics: Sequence[Characteristic]) -> None:
        """Append a primary service; handles are assigned in declaration order like a real DB."""
        service_handle = self._take_handle()
        for char in characteristics:
            if char.uuid in self._by_uuid:
                raise ValueError(f"duplicate characteristic {char.uuid} on {self.address}")
            self._take_handle()  # the characteristic declaration
            char.handle = self._take_handle()
            self._chars[char.handle] = char
            self._by_uuid[char.uuid] = char
            if "notify" in char.properties or "indicate" in char.properties:
                char.cccd_handle = self._take_handle()
                self._cccds[char.cccd_handle] = char
        self._services.append((service_handle, uuid_of(uuid), list(characteristics)))

    def _take_handle(self) -> int:
        handle = self._next_handle
        self._next_handle += 1
        return handle

    def characteristic(self, uuid: int | str) -> Characteristic:
        return self._by_uuid[uuid_of(uuid)]

    def services_info(self) -> tuple[ServiceInfo, ...]:
        return tuple(
            ServiceInfo(handle, uuid, tuple(c.info for c in chars))
            for handle, uuid, chars in self._services
        )

    # -- advertising and presence ------------------------------------------------------------

    @property
    def advertisement(self) -> Advertisement:
        return self._advertisement

    @property
    def visible(self) -> bool:
        """Would a scanner hear this device right now?"""
        idle = self._central is None or self.advertise_while_connected
        return self._advertising and self._in_range and idle

    @property
    def in_range(self) -> bool:
        return self._in_range

    @property
    def advertising(self) -> bool:
        return self._advertising

    def observe(self, observer: Observer) -> Callable[[], None]:
        """Call `observer` whenever what scanners hear from this device may have changed."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def _changed(self) -> None:
        for observer in list(self._observers):
            observer(self)

    def set_advertisement(self, advertisement: Advertisement) -> None:
        self._advertisement = advertisement
        self._changed()

    def set_advertising(self, advertising: bool) -> None:
        self._advertising = advertising
        self._changed()

    def set_in_range(self, in_range: bool) -> None:
        """Out of range: invisible, unconnectable, and a live link drops (supervision timeout)."""
        self._in_range = in_range
        if not in_range:
            self.drop_link("link supervision timeout (out of range)")
        self._changed()

    # -- the link, driven by a transport -----------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._central is not None

    def connect(self, central: Central) -> None:
        if not self._in_range:
            raise DeviceUnavailable(self.address, "out of range")
        if self._central is not None:
            raise DeviceUnavailable(self.address, "connected to another central")
        if not self._advertising:
            raise DeviceUnavailable(self.address, "not advertising")
        if self.connect_gate is not None:
            self.connect_gate()
        self._central = central
        self._cccd_values = {}
        for hook in list(self.connect_hooks):
            hook()
        self._changed()

    def release(self, central: Central) -> None:
        """The central disconnected (client-initiated): no link-lost callback to it."""
        if self._central is central:
            self._end_link("central disconnected")

    def drop_link(self, reason: str) -> None:
        """The device ends the link; the central hears about it."""
        central = self._central
        if central is None:
            return
        self._end_link(reason)
        central.link_lost(reason)

    def _end_link(self, reason: str) -> None:
        self._central = None
        self._cccd_values = {}
        for hook in list(self.disconnect_hooks):
            hook(reason)
        self._changed()

    def _check(self, central: Central) -> None:
        if self._central is not central:
            raise NotConnected(f"{self.address}: not connected")

    async def read(self, central: Central, handle: int) -> bytes:
        self._check(central)
        char = self._chars.get(handle)
        if char is None:
            raise AttError(AttErrorCode.INVALID_HANDLE)
        if "read" not in char.properties:
            raise AttError(AttErrorCode.READ_NOT_PERMITTED, f"{char.uuid} is not readable")
        return char.on_read() if char.on_read is not None else char.value

    async def write(self, central: Central, handle: int, data: bytes, response: bool) -> None:
        self._check(central)
        char = self._chars.get(handle)
        if char is None:
            raise AttError(AttErrorCode.INVALID_HANDLE)
        allowed = "write" if response else "write-without-response"
        if allowed not in char.properties:
            if not response:
                return  # a Write Command the server may not accept is silently discarded
            raise AttError(AttErrorCode.WRITE_NOT_PERMITTED, f"{char.uuid} is not writable")
        if len(data) > self.mtu - ATT_HEADER:
            raise AttError(AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH)
        if char.on_write is None:
            char.value = bytes(data)
            return
        try:
            result = char.on_write(bytes(data), response)
            if result is not None:
                await result
        except AttError:
            if response:
                raise
            log.debug("%s: write command to %s rejected", self.address, char.uuid)

    async def read_descriptor(self, central: Central, handle: int) -> bytes:
        self._check(central)
        char = self._cccds.get(handle)
        if char is None:
            raise AttError(AttErrorCode.INVALID_HANDLE)
        return self._cccd_values.get(char.handle, 0).to_bytes(2, "little")

    async def write_descriptor(self, central: Central, handle: int, data: bytes) -> None:
        self._check(central)
        char = self._cccds.get(handle)
        if char is None:
            raise AttError(AttErrorCode.INVALID_HANDLE)
        if len(data) != 2:
            raise AttError(AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH)
        value = int.from_bytes(data, "little")
        if (value & CCCD_NOTIFY and "notify" not in char.properties) or (
            value & CCCD_INDICATE and "indicate" not in char.properties
        ):
            raise AttError(AttErrorCode.CCCD_IMPROPERLY_CONFIGURED)
        self._cccd_values[char.handle] = value
        for hook in list(self.subscribe_hooks):
            hook(char.uuid, value)

    # -- what the device sends ---------------------------------------------------------------

    def subscription(self, uuid: int | str) -> int:
        """The CCCD value the connected client wrote for this characteristic (0: none)."""
        return self._cccd_values.get(self.characteristic(uuid).handle, 0)

    def notify(self, uuid: int | str, data: bytes) -> bool:
        """Send a notification; False (nothing sent) unless the client enabled them."""
        char = self.characteristic(uuid)
        self._check_size(data)
        central = self._central
        if central is None or not self._cccd_values.get(char.handle, 0) & CCCD_NOTIFY:
            return False
        central.notification(char.handle, bytes(data))
        return True

    async def indicate(self, uuid: int | str, data: bytes) -> bool:
        """Send an indication and wait for its confirmation; False if it was not confirmed.

        One indication is outstanding at a time (ATT flow control); no confirmation within the
        ATT timeout ends the link, as a real stack does.
        """
        char = self.characteristic(uuid)
        self._check_size(data)
        async with self._indicate_lock:
            central = self._central
            if central is None or not self._cccd_values.get(char.handle, 0) & CCCD_INDICATE:
                return False
            try:
                async with asyncio.timeout(ATT_TIMEOUT_S):
                    confirmed = await central.indication(char.handle, bytes(data))
            except TimeoutError:
                if self._central is central:
                    self.drop_link("ATT timeout: indication not confirmed")
                return False
            return confirmed and self._central is central

    def _check_size(self, data: bytes) -> None:
        # A device whose payload exceeds the MTU is a device bug, not a radio fault.
        if len(data) > self.mtu - ATT_HEADER:
            raise ValueError(f"{len(data)}-byte value exceeds MTU {self.mtu} on {self.address}")

    def wait_disconnected(self) -> Awaitable[None]:
        """Resolves when the current link ends (immediately if there is none)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._central is None:
            future.set_result(None)
            return future

        def done(_reason: str) -> None:
            with contextlib.suppress(ValueError):
                self.disconnect_hooks.remove(done)
            if not future.done():
                future.set_result(None)

        self.disconnect_hooks.append(done)
        return future
