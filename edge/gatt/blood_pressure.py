"""Blood Pressure Measurement (0x2A35) and Intermediate Cuff Pressure (0x2A36), Blood Pressure
Service 1.1.

Both share one layout: flags, systolic / diastolic / mean arterial pressure (SFLOAT, mmHg or
kPa), then optional timestamp, pulse rate (SFLOAT, /min), user id and measurement status. In an
Intermediate Cuff Pressure the current cuff pressure is in `systolic` and the other two are NaN
(None); it is a progress value during inflation, not a result, and yields no readings.

Measurement status bits 3-4 are the pulse rate range: 0 within, 1 above upper limit, 2 below
lower limit, 3 reserved -> MalformedPacket. Status bits 6-15 and flag bits 5-7 are reserved and
ignored (a field a future flag adds would still fail the exact-length check).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from edge.gatt.date_time import read_timestamp
from edge.gatt.errors import MalformedPacket
from edge.gatt.ieee11073 import read_sfloat
from edge.gatt.model import GattValue
from edge.gatt.reader import PacketReader

PressureUnit = Literal["mmHg", "kPa"]

FLAG_KPA = 0x01
FLAG_TIMESTAMP = 0x02
FLAG_PULSE_RATE = 0x04
FLAG_USER_ID = 0x08
FLAG_STATUS = 0x10

STATUS_BODY_MOVEMENT = 0x0001
STATUS_CUFF_TOO_LOOSE = 0x0002
STATUS_IRREGULAR_PULSE = 0x0004
STATUS_PULSE_RANGE_SHIFT = 3
STATUS_IMPROPER_POSITION = 0x0020

STATUS_FIELDS = (
    "body_movement",
    "cuff_too_loose",
    "irregular_pulse",
    "pulse_rate_above_upper_limit",
    "pulse_rate_below_lower_limit",
    "improper_position",
)
UNKNOWN_USER = 0xFF  # the spec's "unknown user" id


class _BloodPressure(GattValue):
    systolic: float | None
    diastolic: float | None
    mean_arterial_pressure: float | None
    unit: PressureUnit = "mmHg"
    # The device's own wall clock, no zone; None when absent or its date is unknown.
    timestamp: datetime | None = None
    pulse_rate: float | None = None
    user_id: Annotated[int, Field(ge=0, le=255)] | None = None
    # Measurement status: all None when the device sent no status field.
    body_movement: bool | None = None
    cuff_too_loose: bool | None = None
    irregular_pulse: bool | None = None
    pulse_rate_above_upper_limit: bool | None = None
    pulse_rate_below_lower_limit: bool | None = None
    improper_position: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _whole_status(cls, data: Any) -> Any:
        # Setting one status bit means the status field is present: the others are then False.
        if isinstance(data, dict) and any(data.get(name) is not None for name in STATUS_FIELDS):
            return {**data, **{name: bool(data.get(name)) for name in STATUS_FIELDS}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.pulse_rate_above_upper_limit and self.pulse_rate_below_lower_limit:
            raise ValueError("pulse rate cannot be both above the upper and below the lower limit")
        if self.timestamp is not None and self.timestamp.tzinfo is not None:
            raise ValueError("a device timestamp has no time zone")
        return self

    @property
    def has_status(self) -> bool:
        return self.body_movement is not None

    @property
    def status_flags(self) -> frozenset[str]:
        """Names of the status conditions the device reported (empty without a status field)."""
        return frozenset(name for name in STATUS_FIELDS if getattr(self, name))


class BloodPressureMeasurement(_BloodPressure):
    uuid = 0x2A35


class IntermediateCuffPressure(_BloodPressure):
    uuid = 0x2A36


def _read(reader: PacketReader) -> dict[str, Any]:
    flags = reader.u8("flags")
    fields: dict[str, Any] = {
        "unit": "kPa" if flags & FLAG_KPA else "mmHg",
        "systolic": read_sfloat(reader, "systolic"),
        "diastolic": read_sfloat(reader, "diastolic"),
        "mean_arterial_pressure": read_sfloat(reader, "mean arterial pressure"),
    }
    if flags & FLAG_TIMESTAMP:
        fields["timestamp"] = read_timestamp(reader)
    if flags & FLAG_PULSE_RATE:
        fields["pulse_rate"] = read_sfloat(reader, "pulse rate")
    if flags & FLAG_USER_ID:
        fields["user_id"] = reader.u8("user id")
    if flags & FLAG_STATUS:
        status = reader.u16("measurement status")
        pulse_range = status >> STATUS_PULSE_RANGE_SHIFT & 0b11
        if pulse_range == 3:
            raise MalformedPacket("pulse rate range detection value 3 is reserved")
        fields.update(
            body_movement=bool(status & STATUS_BODY_MOVEMENT),
            cuff_too_loose=bool(status & STATUS_CUFF_TOO_LOOSE),
            irregular_pulse=bool(status & STATUS_IRREGULAR_PULSE),
            pulse_rate_above_upper_limit=pulse_range == 1,
            pulse_rate_below_lower_limit=pulse_range == 2,
            improper_position=bool(status & STATUS_IMPROPER_POSITION),
        )
    reader.finish()
    return fields


def decode_blood_pressure(reader: PacketReader) -> BloodPressureMeasurement:
    return BloodPressureMeasurement(**_read(reader))


def decode_intermediate_cuff_pressure(reader: PacketReader) -> IntermediateCuffPressure:
    return IntermediateCuffPressure(**_read(reader))
