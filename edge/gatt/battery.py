"""Battery Level (0x2A19): one byte, percent 0..100; 101..255 are reserved (malformed)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edge.gatt.errors import MalformedPacket
from edge.gatt.model import GattValue
from edge.gatt.reader import PacketReader


class BatteryLevel(GattValue):
    uuid = 0x2A19
    battery_level: Annotated[int, Field(ge=0, le=100)]


def decode_battery_level(reader: PacketReader) -> BatteryLevel:
    level = reader.u8("battery level")
    reader.finish()
    if level > 100:
        raise MalformedPacket(f"battery level {level} above 100 %")
    return BatteryLevel(battery_level=level)
