"""Glucose Measurement (0x2A18), Glucose Service 1.0.

Flags: bit 0 time offset (sint16 minutes), bit 1 concentration (SFLOAT) with type and sample
location (one byte, type in the low nibble), bit 2 concentration unit (kg/L or mol/L), bit 3
sensor status annunciation (16 bits), bit 4 a Glucose Measurement Context record follows.

The time of the measurement is base time + time offset (the offset lets a meter keep its base
time and record clock changes). Reserved sample types (0, 11-15) and locations (0, 5-14) are
malformed; location 15 is the spec's "not available".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from edge.gatt.date_time import read_timestamp
from edge.gatt.errors import MalformedPacket
from edge.gatt.ieee11073 import read_sfloat
from edge.gatt.model import GattValue, bit_names, check_names
from edge.gatt.reader import PacketReader

GlucoseUnit = Literal["kg/L", "mol/L"]
SampleType = Literal[
    "capillary_whole_blood",
    "capillary_plasma",
    "venous_whole_blood",
    "venous_plasma",
    "arterial_whole_blood",
    "arterial_plasma",
    "undetermined_whole_blood",
    "undetermined_plasma",
    "interstitial_fluid",
    "control_solution",
]
SampleLocation = Literal[
    "finger", "alternate_site_test", "earlobe", "control_solution", "not_available"
]
SAMPLE_TYPES: dict[int, SampleType] = {
    1: "capillary_whole_blood",
    2: "capillary_plasma",
    3: "venous_whole_blood",
    4: "venous_plasma",
    5: "arterial_whole_blood",
    6: "arterial_plasma",
    7: "undetermined_whole_blood",
    8: "undetermined_plasma",
    9: "interstitial_fluid",
    10: "control_solution",
}
SAMPLE_LOCATIONS: dict[int, SampleLocation] = {
    1: "finger",
    2: "alternate_site_test",
    3: "earlobe",
    4: "control_solution",
    15: "not_available",
}
SENSOR_STATUS_BITS: dict[int, str] = {
    0: "device_battery_low",
    1: "sensor_malfunction",
    2: "sample_size_insufficient",
    3: "strip_insertion_error",
    4: "strip_type_incorrect",
    5: "result_above_range",
    6: "result_below_range",
    7: "temperature_too_high",
    8: "temperature_too_low",
    9: "strip_pulled_too_soon",
    10: "general_device_fault",
    11: "time_fault",
}

FLAG_TIME_OFFSET = 0x01
FLAG_CONCENTRATION = 0x02
FLAG_MOL_PER_L = 0x04
FLAG_SENSOR_STATUS = 0x08
FLAG_CONTEXT_FOLLOWS = 0x10


def measurement_time(base_time: datetime | None, time_offset: int | None) -> datetime | None:
    if base_time is None:
        return None
    try:
        return base_time + timedelta(minutes=time_offset or 0)
    except OverflowError:
        raise MalformedPacket("base time plus time offset leaves the calendar") from None


class GlucoseMeasurement(GattValue):
    uuid = 0x2A18
    sequence_number: Annotated[int, Field(ge=0, le=0xFFFF)]
    # The device's wall clock, no zone; None when its date is unknown.
    base_time: datetime | None
    time_offset: Annotated[int, Field(ge=-0x8000, le=0x7FFF)] | None = None  # minutes
    concentration: float | None = None
    # unit, sample_type and sample_location are all set exactly when the concentration field
    # was sent (its value may still be None: NaN / NRes).
    unit: GlucoseUnit | None = None
    sample_type: SampleType | None = None
    sample_location: SampleLocation | None = None
    sensor_status: frozenset[str] | None = None
    context_information_follows: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        group = (self.unit, self.sample_type, self.sample_location)
        if any(item is None for item in group) and any(item is not None for item in group):
            raise ValueError("unit, sample type and location come together or not at all")
        if self.unit is None and self.concentration is not None:
            raise ValueError("a concentration needs its unit")
        if self.base_time is not None and self.base_time.tzinfo is not None:
            raise ValueError("a device timestamp has no time zone")
        check_names(self.sensor_status, SENSOR_STATUS_BITS, "sensor status")
        measurement_time(self.base_time, self.time_offset)
        return self

    @property
    def timestamp(self) -> datetime | None:
        """Base time plus time offset: when the sample was measured, by the device's clock."""
        return measurement_time(self.base_time, self.time_offset)


def decode_glucose(reader: PacketReader) -> GlucoseMeasurement:
    flags = reader.u8("flags")
    sequence_number = reader.u16("sequence number")
    base_time = read_timestamp(reader, "base time")
    time_offset = reader.s16("time offset") if flags & FLAG_TIME_OFFSET else None
    concentration = unit = sample_type = sample_location = None
    if flags & FLAG_CONCENTRATION:
        concentration = read_sfloat(reader, "glucose concentration")
        unit = "mol/L" if flags & FLAG_MOL_PER_L else "kg/L"
        type_location = reader.u8("type and sample location")
        sample_type = SAMPLE_TYPES.get(type_location & 0x0F)
        sample_location = SAMPLE_LOCATIONS.get(type_location >> 4)
        if sample_type is None:
            raise MalformedPacket(f"glucose sample type {type_location & 0x0F} is reserved")
        if sample_location is None:
            raise MalformedPacket(f"glucose sample location {type_location >> 4} is reserved")
    sensor_status = (
        bit_names(reader.u16("sensor status annunciation"), SENSOR_STATUS_BITS)
        if flags & FLAG_SENSOR_STATUS
        else None
    )
    reader.finish()
    measurement_time(base_time, time_offset)
    return GlucoseMeasurement(
        sequence_number=sequence_number,
        base_time=base_time,
        time_offset=time_offset,
        concentration=concentration,
        unit=unit,
        sample_type=sample_type,
        sample_location=sample_location,
        sensor_status=sensor_status,
        context_information_follows=bool(flags & FLAG_CONTEXT_FOLLOWS),
    )
