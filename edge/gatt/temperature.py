"""Temperature Measurement (0x2A1C) and Intermediate Temperature (0x2A1E), Health Thermometer
Service 1.0.

Flags: bit 0 unit (Celsius / Fahrenheit), bit 1 timestamp, bit 2 temperature type. The value is
an IEEE-11073 32-bit FLOAT. Temperature types 0 and 10-255 are reserved: malformed, because a
type we cannot name would be a guess. An intermediate temperature is a value shown while the
measurement settles, not a result: it yields no readings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import model_validator

from edge.gatt.date_time import read_timestamp
from edge.gatt.errors import MalformedPacket
from edge.gatt.ieee11073 import read_float
from edge.gatt.model import GattValue
from edge.gatt.reader import PacketReader

TemperatureUnit = Literal["C", "F"]
TemperatureType = Literal[
    "armpit", "body", "ear", "finger", "gastrointestinal", "mouth", "rectum", "toe", "tympanum"
]
TEMPERATURE_TYPES: dict[int, TemperatureType] = {
    1: "armpit",
    2: "body",
    3: "ear",  # usually the earlobe
    4: "finger",
    5: "gastrointestinal",
    6: "mouth",
    7: "rectum",
    8: "toe",
    9: "tympanum",  # the ear drum
}

FLAG_FAHRENHEIT = 0x01
FLAG_TIMESTAMP = 0x02
FLAG_TYPE = 0x04


class _Temperature(GattValue):
    temperature: float | None
    unit: TemperatureUnit = "C"
    timestamp: datetime | None = None
    temperature_type: TemperatureType | None = None

    @model_validator(mode="after")
    def _naive(self) -> Self:
        if self.timestamp is not None and self.timestamp.tzinfo is not None:
            raise ValueError("a device timestamp has no time zone")
        return self


class TemperatureMeasurement(_Temperature):
    uuid = 0x2A1C


class IntermediateTemperature(_Temperature):
    uuid = 0x2A1E


def read_temperature_type(reader: PacketReader) -> TemperatureType:
    code = reader.u8("temperature type")
    try:
        return TEMPERATURE_TYPES[code]
    except KeyError:
        raise MalformedPacket(f"temperature type {code} is reserved") from None


def _read(reader: PacketReader) -> dict[str, object]:
    flags = reader.u8("flags")
    fields: dict[str, object] = {
        "unit": "F" if flags & FLAG_FAHRENHEIT else "C",
        "temperature": read_float(reader, "temperature"),
    }
    if flags & FLAG_TIMESTAMP:
        fields["timestamp"] = read_timestamp(reader)
    if flags & FLAG_TYPE:
        fields["temperature_type"] = read_temperature_type(reader)
    reader.finish()
    return fields


def decode_temperature(reader: PacketReader) -> TemperatureMeasurement:
    return TemperatureMeasurement.model_validate(_read(reader))


def decode_intermediate_temperature(reader: PacketReader) -> IntermediateTemperature:
    return IntermediateTemperature.model_validate(_read(reader))
