"""Encoders of the measurement characteristics: each is the inverse of its decoder in
`edge.gatt`, so `decode(m.uuid, encode(m)) == m` for every value a decoder can return.

Optional fields are present exactly when the model has them (not None); a value of None inside
a present group (a NaN pressure, a PLX fast pair with one half missing) is written as NaN.
"""

from __future__ import annotations

from edge.gatt import blood_pressure as bp
from edge.gatt import glucose as glu
from edge.gatt import heart_rate as hr
from edge.gatt import pulse_oximetry as plx
from edge.gatt import temperature as temp
from edge.gatt import weight as wt
from edge.gatt.blood_pressure import BloodPressureMeasurement, IntermediateCuffPressure
from edge.gatt.glucose import GlucoseMeasurement
from edge.gatt.heart_rate import HeartRateMeasurement
from edge.gatt.model import bits_of
from edge.gatt.pulse_oximetry import PlxContinuous, PlxFeatures, PlxSpotCheck
from edge.gatt.temperature import IntermediateTemperature, TemperatureMeasurement
from edge.gatt.weight import WeightMeasurement, WeightScaleFeature
from simulators.gatt.writer import PacketWriter


def _invert(table: dict[int, str]) -> dict[str, int]:
    return {name: code for code, name in table.items()}


_TEMPERATURE_CODES = _invert(dict(temp.TEMPERATURE_TYPES))
_SAMPLE_TYPE_CODES = _invert(dict(glu.SAMPLE_TYPES))
_SAMPLE_LOCATION_CODES = _invert(dict(glu.SAMPLE_LOCATIONS))


def encode_blood_pressure(value: BloodPressureMeasurement | IntermediateCuffPressure) -> bytes:
    flags = (
        (bp.FLAG_KPA if value.unit == "kPa" else 0)
        | (bp.FLAG_TIMESTAMP if value.timestamp is not None else 0)
        | (bp.FLAG_PULSE_RATE if value.pulse_rate is not None else 0)
        | (bp.FLAG_USER_ID if value.user_id is not None else 0)
        | (bp.FLAG_STATUS if value.has_status else 0)
    )
    out = PacketWriter().u8(flags)
    out.sfloat(value.systolic).sfloat(value.diastolic).sfloat(value.mean_arterial_pressure)
    if value.timestamp is not None:
        out.date_time(value.timestamp)
    if value.pulse_rate is not None:
        out.sfloat(value.pulse_rate)
    if value.user_id is not None:
        out.u8(value.user_id)
    if value.has_status:
        pulse_range = (
            1
            if value.pulse_rate_above_upper_limit
            else 2
            if value.pulse_rate_below_lower_limit
            else 0
        )
        out.u16(
            (bp.STATUS_BODY_MOVEMENT if value.body_movement else 0)
            | (bp.STATUS_CUFF_TOO_LOOSE if value.cuff_too_loose else 0)
            | (bp.STATUS_IRREGULAR_PULSE if value.irregular_pulse else 0)
            | pulse_range << bp.STATUS_PULSE_RANGE_SHIFT
            | (bp.STATUS_IMPROPER_POSITION if value.improper_position else 0)
        )
    return out.build()


def _plx_statuses(out: PacketWriter, value: PlxSpotCheck | PlxContinuous) -> None:
    if value.measurement_status is not None:
        out.u16(bits_of(value.measurement_status, plx.MEASUREMENT_STATUS_BITS))
    if value.device_sensor_status is not None:
        out.u24(bits_of(value.device_sensor_status, plx.DEVICE_SENSOR_STATUS_BITS))
    if value.pulse_amplitude_index is not None:
        out.sfloat(value.pulse_amplitude_index)


def encode_plx_spot_check(value: PlxSpotCheck) -> bytes:
    flags = (
        (plx.SPOT_FLAG_TIMESTAMP if value.timestamp is not None else 0)
        | (plx.SPOT_FLAG_STATUS if value.measurement_status is not None else 0)
        | (plx.SPOT_FLAG_SENSOR_STATUS if value.device_sensor_status is not None else 0)
        | (plx.SPOT_FLAG_PAI if value.pulse_amplitude_index is not None else 0)
        | (plx.SPOT_FLAG_CLOCK_NOT_SET if value.device_clock_not_set else 0)
    )
    out = PacketWriter().u8(flags).sfloat(value.spo2).sfloat(value.pulse_rate)
    if value.timestamp is not None:
        out.date_time(value.timestamp)
    _plx_statuses(out, value)
    return out.build()


def encode_plx_continuous(value: PlxContinuous) -> bytes:
    fast = value.spo2_fast is not None or value.pulse_rate_fast is not None
    slow = value.spo2_slow is not None or value.pulse_rate_slow is not None
    flags = (
        (plx.CONT_FLAG_FAST if fast else 0)
        | (plx.CONT_FLAG_SLOW if slow else 0)
        | (plx.CONT_FLAG_STATUS if value.measurement_status is not None else 0)
        | (plx.CONT_FLAG_SENSOR_STATUS if value.device_sensor_status is not None else 0)
        | (plx.CONT_FLAG_PAI if value.pulse_amplitude_index is not None else 0)
    )
    out = PacketWriter().u8(flags).sfloat(value.spo2).sfloat(value.pulse_rate)
    if fast:
        out.sfloat(value.spo2_fast).sfloat(value.pulse_rate_fast)
    if slow:
        out.sfloat(value.spo2_slow).sfloat(value.pulse_rate_slow)
    _plx_statuses(out, value)
    return out.build()


def encode_plx_features(value: PlxFeatures) -> bytes:
    out = PacketWriter().u16(bits_of(value.supported_features, plx.FEATURE_BITS))
    if value.measurement_status_support is not None:
        out.u16(bits_of(value.measurement_status_support, plx.MEASUREMENT_STATUS_BITS))
    if value.device_sensor_status_support is not None:
        out.u24(bits_of(value.device_sensor_status_support, plx.DEVICE_SENSOR_STATUS_BITS))
    return out.build()


def encode_heart_rate(value: HeartRateMeasurement, *, uint16: bool | None = None) -> bytes:
    """`uint16` forces the value format; by default uint8 unless the rate needs 16 bits."""
    wide = value.heart_rate > 0xFF if uint16 is None else uint16
    contact = {None: 0, False: hr.FLAG_CONTACT_SUPPORTED}.get(
        value.sensor_contact, hr.FLAG_CONTACT_SUPPORTED | hr.FLAG_CONTACT_DETECTED
    )
    flags = (
        (hr.FLAG_UINT16 if wide else 0)
        | contact
        | (hr.FLAG_ENERGY if value.energy_expended is not None else 0)
        | (hr.FLAG_RR if value.rr_intervals else 0)
    )
    out = PacketWriter().u8(flags)
    out.uint(value.heart_rate, 2 if wide else 1)
    if value.energy_expended is not None:
        out.u16(value.energy_expended)
    for interval in value.rr_intervals:
        out.u16(round(interval * hr.RR_UNITS_PER_SECOND))
    return out.build()


def encode_temperature(value: TemperatureMeasurement | IntermediateTemperature) -> bytes:
    flags = (
        (temp.FLAG_FAHRENHEIT if value.unit == "F" else 0)
        | (temp.FLAG_TIMESTAMP if value.timestamp is not None else 0)
        | (temp.FLAG_TYPE if value.temperature_type is not None else 0)
    )
    out = PacketWriter().u8(flags).float32(value.temperature)
    if value.timestamp is not None:
        out.date_time(value.timestamp)
    if value.temperature_type is not None:
        out.u8(_TEMPERATURE_CODES[value.temperature_type])
    return out.build()


def _steps(value: float, per_unit: int, what: str, limit: int = 0xFFFF) -> int:
    raw = round(value * per_unit)
    if raw > limit:
        raise ValueError(f"{what} {value} does not fit its uint16 field")
    return raw


def encode_weight(value: WeightMeasurement) -> bytes:
    flags = (
        (wt.FLAG_IMPERIAL if value.unit == "lb" else 0)
        | (wt.FLAG_TIMESTAMP if value.timestamp is not None else 0)
        | (wt.FLAG_USER_ID if value.user_id is not None else 0)
        | (wt.FLAG_BMI_HEIGHT if value.bmi is not None else 0)
    )
    out = PacketWriter().u8(flags)
    if value.weight is None:
        out.u16(wt.WEIGHT_UNSUCCESSFUL)
    else:
        out.u16(_steps(value.weight, wt.WEIGHT_STEPS[value.unit], "weight", limit=0xFFFE))
    if value.timestamp is not None:
        out.date_time(value.timestamp)
    if value.user_id is not None:
        out.u8(value.user_id)
    if value.bmi is not None and value.height is not None:
        out.u16(_steps(value.bmi, wt.BMI_STEPS, "BMI"))
        out.u16(_steps(value.height, wt.HEIGHT_STEPS[value.unit], "height"))
    return out.build()


def encode_weight_scale_feature(value: WeightScaleFeature) -> bytes:
    bits = (
        value.timestamp_supported
        | value.multiple_users_supported << 1
        | value.bmi_supported << 2
        | value.weight_resolution_code << 3
        | value.height_resolution_code << 7
    )
    return PacketWriter().u32(bits).build()


def encode_glucose(value: GlucoseMeasurement) -> bytes:
    flags = (
        (glu.FLAG_TIME_OFFSET if value.time_offset is not None else 0)
        | (glu.FLAG_CONCENTRATION if value.unit is not None else 0)
        | (glu.FLAG_MOL_PER_L if value.unit == "mol/L" else 0)
        | (glu.FLAG_SENSOR_STATUS if value.sensor_status is not None else 0)
        | (glu.FLAG_CONTEXT_FOLLOWS if value.context_information_follows else 0)
    )
    out = PacketWriter().u8(flags).u16(value.sequence_number).date_time(value.base_time)
    if value.time_offset is not None:
        out.s16(value.time_offset)
    if value.sample_type is not None and value.sample_location is not None:
        out.sfloat(value.concentration)
        out.u8(
            _SAMPLE_TYPE_CODES[value.sample_type]
            | _SAMPLE_LOCATION_CODES[value.sample_location] << 4
        )
    if value.sensor_status is not None:
        out.u16(bits_of(value.sensor_status, glu.SENSOR_STATUS_BITS))
    return out.build()
