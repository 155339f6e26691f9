"""Byte-level encoders of the Bluetooth SIG characteristics Vigil reads: the exact inverse of
`edge.gatt.decode`, for simulated devices. `encode(value)` picks the encoder by model type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.gatt import (
    BatteryLevel,
    BloodPressureMeasurement,
    CurrentTime,
    DateTime,
    GattValue,
    GlucoseMeasurement,
    HeartRateMeasurement,
    IntermediateCuffPressure,
    IntermediateTemperature,
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
    RacpNumberOfRecords,
    RacpResponse,
    TemperatureMeasurement,
    WeightMeasurement,
    WeightScaleFeature,
)
from edge.gatt.ieee11073 import Special
from simulators.gatt.device_info import (
    encode_battery_level,
    encode_current_time,
    encode_date_time,
)
from simulators.gatt.ieee11073 import float_bytes, float_raw, sfloat_bytes, sfloat_raw
from simulators.gatt.measurements import (
    encode_blood_pressure,
    encode_glucose,
    encode_heart_rate,
    encode_plx_continuous,
    encode_plx_features,
    encode_plx_spot_check,
    encode_temperature,
    encode_weight,
    encode_weight_scale_feature,
)
from simulators.gatt.racp import (
    InvalidRacpRequest,
    RacpRequest,
    encode_racp,
    number_of_records,
    parse_racp_request,
    response,
)

ENCODERS: dict[type[GattValue], Callable[[Any], bytes]] = {
    BloodPressureMeasurement: encode_blood_pressure,
    IntermediateCuffPressure: encode_blood_pressure,
    PlxSpotCheck: encode_plx_spot_check,
    PlxContinuous: encode_plx_continuous,
    PlxFeatures: encode_plx_features,
    HeartRateMeasurement: encode_heart_rate,
    TemperatureMeasurement: encode_temperature,
    IntermediateTemperature: encode_temperature,
    WeightMeasurement: encode_weight,
    WeightScaleFeature: encode_weight_scale_feature,
    GlucoseMeasurement: encode_glucose,
    RacpNumberOfRecords: encode_racp,
    RacpResponse: encode_racp,
    BatteryLevel: encode_battery_level,
    DateTime: encode_date_time,
    CurrentTime: encode_current_time,
}


def encode(value: GattValue) -> bytes:
    """The characteristic value of `value` (send it on the characteristic `value.uuid`)."""
    try:
        encoder = ENCODERS[type(value)]
    except KeyError:
        raise TypeError(f"no encoder for {type(value).__name__}") from None
    return encoder(value)


__all__ = [
    "ENCODERS",
    "InvalidRacpRequest",
    "RacpRequest",
    "Special",
    "encode",
    "encode_battery_level",
    "encode_blood_pressure",
    "encode_current_time",
    "encode_date_time",
    "encode_glucose",
    "encode_heart_rate",
    "encode_plx_continuous",
    "encode_plx_features",
    "encode_plx_spot_check",
    "encode_racp",
    "encode_temperature",
    "encode_weight",
    "encode_weight_scale_feature",
    "float_bytes",
    "float_raw",
    "number_of_records",
    "parse_racp_request",
    "response",
    "sfloat_bytes",
    "sfloat_raw",
]
