"""Heart Rate Measurement (0x2A37), Heart Rate Service 1.0.

Flags: bit 0 value format (uint8 / uint16), bits 1-2 sensor contact (0b0x not supported, 0b10
supported but no contact, 0b11 contact), bit 3 energy expended (uint16 kJ), bit 4 RR intervals
(uint16, 1/1024 s, as many as fill the rest of the packet). An RR flag with no interval, or an
odd byte left over, is malformed.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edge.gatt.errors import MalformedPacket
from edge.gatt.model import GattValue
from edge.gatt.reader import PacketReader

FLAG_UINT16 = 0x01
FLAG_CONTACT_DETECTED = 0x02
FLAG_CONTACT_SUPPORTED = 0x04
FLAG_ENERGY = 0x08
FLAG_RR = 0x10
RR_UNITS_PER_SECOND = 1024


class HeartRateMeasurement(GattValue):
    uuid = 0x2A37
    heart_rate: Annotated[int, Field(ge=0, le=0xFFFF)]
    # None: the sensor does not report contact; else whether it touches the skin.
    sensor_contact: bool | None = None
    energy_expended: Annotated[int, Field(ge=0, le=0xFFFF)] | None = None  # kJ
    # Seconds; each is a whole number of 1/1024 s.
    rr_intervals: tuple[Annotated[float, Field(ge=0, lt=64)], ...] = ()


def decode_heart_rate(reader: PacketReader) -> HeartRateMeasurement:
    flags = reader.u8("flags")
    heart_rate = reader.u16("heart rate") if flags & FLAG_UINT16 else reader.u8("heart rate")
    sensor_contact = bool(flags & FLAG_CONTACT_DETECTED) if flags & FLAG_CONTACT_SUPPORTED else None
    energy = reader.u16("energy expended") if flags & FLAG_ENERGY else None
    rr: list[float] = []
    if flags & FLAG_RR:
        if reader.remaining == 0:
            raise MalformedPacket("RR-interval flag set but no RR-interval follows")
        if reader.remaining % 2:
            raise MalformedPacket("RR-intervals leave an odd byte over")
        while reader.remaining:
            rr.append(reader.u16("RR-interval") / RR_UNITS_PER_SECOND)
    reader.finish()
    return HeartRateMeasurement(
        heart_rate=heart_rate,
        sensor_contact=sensor_contact,
        energy_expended=energy,
        rr_intervals=tuple(rr),
    )
