"""Weight Measurement (0x2A9D) and Weight Scale Feature (0x2A9E), Weight Scale Service 1.0.

Weight is a uint16 in 0.005 kg (SI) or 0.01 lb (imperial); 0xFFFF means "measurement
unsuccessful" (None). With flag bit 3, BMI (uint16, 0.1 kg/m2) and height (uint16, 0.001 m or
0.1 in) follow. User id 255 means "unknown user", kept as is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from edge.gatt.date_time import read_timestamp
from edge.gatt.errors import MalformedPacket
from edge.gatt.model import GattValue
from edge.gatt.reader import PacketReader

WeightUnit = Literal["kg", "lb"]

FLAG_IMPERIAL = 0x01
FLAG_TIMESTAMP = 0x02
FLAG_USER_ID = 0x04
FLAG_BMI_HEIGHT = 0x08
WEIGHT_UNSUCCESSFUL = 0xFFFF

# Units per kg or lb, and per m or inch: dividing the raw integer rounds once (exact results).
WEIGHT_STEPS: dict[WeightUnit, int] = {"kg": 200, "lb": 100}
HEIGHT_STEPS: dict[WeightUnit, int] = {"kg": 1000, "lb": 10}
BMI_STEPS = 10

# Weight Scale Feature bits 3-6 and 7-9: resolution codes -> (SI, imperial) step.
WEIGHT_RESOLUTIONS: dict[int, tuple[float, float]] = {
    1: (0.5, 1.0),
    2: (0.2, 0.5),
    3: (0.1, 0.2),
    4: (0.05, 0.1),
    5: (0.02, 0.05),
    6: (0.01, 0.02),
    7: (0.005, 0.01),
}
HEIGHT_RESOLUTIONS: dict[int, tuple[float, float]] = {
    1: (0.01, 1.0),
    2: (0.005, 0.5),
    3: (0.001, 0.1),
}


class WeightMeasurement(GattValue):
    uuid = 0x2A9D
    weight: Annotated[float, Field(ge=0)] | None
    unit: WeightUnit = "kg"
    timestamp: datetime | None = None
    user_id: Annotated[int, Field(ge=0, le=255)] | None = None
    bmi: Annotated[float, Field(ge=0)] | None = None  # kg/m2
    height: Annotated[float, Field(ge=0)] | None = None  # m with kg, inches with lb

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.bmi is None) != (self.height is None):
            raise ValueError("BMI and height are sent together or not at all")
        if self.timestamp is not None and self.timestamp.tzinfo is not None:
            raise ValueError("a device timestamp has no time zone")
        return self

    @property
    def height_unit(self) -> Literal["m", "in"]:
        return "m" if self.unit == "kg" else "in"


class WeightScaleFeature(GattValue):
    uuid = 0x2A9E
    timestamp_supported: bool = False
    multiple_users_supported: bool = False
    bmi_supported: bool = False
    # Resolution codes as sent (0 = not specified); the steps below are derived from them.
    weight_resolution_code: Annotated[int, Field(ge=0, le=7)] = 0
    height_resolution_code: Annotated[int, Field(ge=0, le=3)] = 0

    @property
    def weight_resolution_kg(self) -> float | None:
        step = WEIGHT_RESOLUTIONS.get(self.weight_resolution_code)
        return None if step is None else step[0]

    @property
    def weight_resolution_lb(self) -> float | None:
        step = WEIGHT_RESOLUTIONS.get(self.weight_resolution_code)
        return None if step is None else step[1]

    @property
    def height_resolution_m(self) -> float | None:
        step = HEIGHT_RESOLUTIONS.get(self.height_resolution_code)
        return None if step is None else step[0]

    @property
    def height_resolution_in(self) -> float | None:
        step = HEIGHT_RESOLUTIONS.get(self.height_resolution_code)
        return None if step is None else step[1]


def decode_weight(reader: PacketReader) -> WeightMeasurement:
    flags = reader.u8("flags")
    unit: WeightUnit = "lb" if flags & FLAG_IMPERIAL else "kg"
    raw = reader.u16("weight")
    weight = None if raw == WEIGHT_UNSUCCESSFUL else raw / WEIGHT_STEPS[unit]
    timestamp = read_timestamp(reader) if flags & FLAG_TIMESTAMP else None
    user_id = reader.u8("user id") if flags & FLAG_USER_ID else None
    bmi = height = None
    if flags & FLAG_BMI_HEIGHT:
        bmi = reader.u16("BMI") / BMI_STEPS
        height = reader.u16("height") / HEIGHT_STEPS[unit]
    reader.finish()
    return WeightMeasurement(
        weight=weight, unit=unit, timestamp=timestamp, user_id=user_id, bmi=bmi, height=height
    )


def decode_weight_scale_feature(reader: PacketReader) -> WeightScaleFeature:
    bits = reader.u32("weight scale feature")
    reader.finish()
    weight_code = bits >> 3 & 0x0F
    height_code = bits >> 7 & 0x07
    if weight_code > 7:
        raise MalformedPacket(f"weight measurement resolution {weight_code} is reserved")
    if height_code > 3:
        raise MalformedPacket(f"height measurement resolution {height_code} is reserved")
    return WeightScaleFeature(
        timestamp_supported=bool(bits & 0x01),
        multiple_users_supported=bool(bits & 0x02),
        bmi_supported=bool(bits & 0x04),
        weight_resolution_code=weight_code,
        height_resolution_code=height_code,
    )
