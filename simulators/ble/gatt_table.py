"""The shape of a peripheral's attribute table, as a client discovers it.

Both transports (in-process and TCP) describe a device's services with these plain records; the
client turns them into bleak's own `BleakGATTServiceCollection`, so agent code walks exactly the
objects it would get from BlueZ.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.uuids import normalize_uuid_16, normalize_uuid_str

CCCD_UUID = normalize_uuid_16(0x2902)
# Client Characteristic Configuration bits (Core Spec Vol 3 Part G 3.3.3.3).
CCCD_NOTIFY = 0x0001
CCCD_INDICATE = 0x0002

# Default ATT MTU once the exchange is done; real health devices negotiate 23..247.
DEFAULT_MTU = 247
# An ATT notification/indication/write carries at most MTU - 3 bytes of value.
ATT_HEADER = 3


def uuid_of(value: int | str) -> str:
    """A bleak-normalised 128-bit lowercase UUID from a 16-bit number or any UUID string."""
    if isinstance(value, int):
        return normalize_uuid_16(value)
    return normalize_uuid_str(value)


@dataclass(frozen=True, slots=True)
class DescriptorInfo:
    handle: int
    uuid: str


@dataclass(frozen=True, slots=True)
class CharacteristicInfo:
    handle: int
    uuid: str
    properties: tuple[CharacteristicPropertyName, ...]
    descriptors: tuple[DescriptorInfo, ...] = ()

    @property
    def cccd_handle(self) -> int | None:
        return next((d.handle for d in self.descriptors if d.uuid == CCCD_UUID), None)


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    handle: int
    uuid: str
    characteristics: tuple[CharacteristicInfo, ...]


def build_collection(
    services: Sequence[ServiceInfo], *, mtu: int, only: Iterable[str] | None = None
) -> BleakGATTServiceCollection:
    """Real bleak service objects for a discovered table (`only`: bleak's `services=` filter)."""
    wanted = None if only is None else {normalize_uuid_str(u) for u in only}
    collection = BleakGATTServiceCollection()
    for info in services:
        if wanted is not None and info.uuid not in wanted:
            continue
        service = BleakGATTService(info, info.handle, info.uuid)
        collection.add_service(service)
        for char_info in info.characteristics:
            characteristic = BleakGATTCharacteristic(
                char_info,
                char_info.handle,
                char_info.uuid,
                list(char_info.properties),
                lambda: mtu - ATT_HEADER,
                service,
            )
            collection.add_characteristic(characteristic)
            for desc_info in char_info.descriptors:
                collection.add_descriptor(
                    BleakGATTDescriptor(desc_info, desc_info.handle, desc_info.uuid, characteristic)
                )
    return collection
