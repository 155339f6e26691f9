"""Encoder -> decoder round trips for every characteristic: `decode(m.uuid, encode(m)) == m`
for every value a decoder can produce, and bytes -> value -> bytes -> the same value."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.gatt import (
    SUPPORTED_UUIDS,
    BatteryLevel,
    BloodPressureMeasurement,
    CurrentTime,
    DateTime,
    GattValue,
    GlucoseMeasurement,
    HeartRateMeasurement,
    IntermediateCuffPressure,
    IntermediateTemperature,
    MalformedPacket,
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
    RacpNumberOfRecords,
    RacpResponse,
    RacpResponseCode,
    TemperatureMeasurement,
    WeightMeasurement,
    WeightScaleFeature,
    decode,
)
from edge.gatt import glucose as glu
from edge.gatt import pulse_oximetry as plx
from edge.gatt import temperature as temp
from edge.gatt.ieee11073 import float_from_raw, sfloat_from_raw
from simulators.gatt import ENCODERS, encode

FAST = settings(max_examples=150, deadline=None)

sfloats = st.integers(0, 0xFFFF).map(sfloat_from_raw)  # every raw value, specials included
floats32 = st.integers(0, 0xFFFFFFFF).map(float_from_raw)
stamps = st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59))
timestamps = st.none() | stamps.map(lambda d: d.replace(microsecond=0))
user_ids = st.none() | st.integers(0, 255)


def names(table: dict[int, str]) -> st.SearchStrategy[frozenset[str] | None]:
    return st.none() | st.frozensets(st.sampled_from(sorted(table.values())))


@st.composite
def blood_pressures(
    draw: st.DrawFn, kind: type[BloodPressureMeasurement | IntermediateCuffPressure]
) -> GattValue:
    fields: dict[str, object] = {
        "systolic": draw(sfloats),
        "diastolic": draw(sfloats),
        "mean_arterial_pressure": draw(sfloats),
        "unit": draw(st.sampled_from(["mmHg", "kPa"])),
        "timestamp": draw(timestamps),
        "pulse_rate": draw(st.none() | sfloats),
        "user_id": draw(user_ids),
    }
    if draw(st.booleans()):
        pulse = draw(st.sampled_from(["within", "above", "below"]))
        fields |= {
            "body_movement": draw(st.booleans()),
            "cuff_too_loose": draw(st.booleans()),
            "irregular_pulse": draw(st.booleans()),
            "pulse_rate_above_upper_limit": pulse == "above",
            "pulse_rate_below_lower_limit": pulse == "below",
            "improper_position": draw(st.booleans()),
        }
    return kind.model_validate(fields)


plx_status = {
    "measurement_status": names(plx.MEASUREMENT_STATUS_BITS),
    "device_sensor_status": names(plx.DEVICE_SENSOR_STATUS_BITS),
    "pulse_amplitude_index": st.none() | sfloats,
}
spot_checks = st.builds(
    PlxSpotCheck,
    spo2=sfloats,
    pulse_rate=sfloats,
    timestamp=timestamps,
    device_clock_not_set=st.booleans(),
    **plx_status,
)
continuous = st.builds(
    PlxContinuous,
    spo2=sfloats,
    pulse_rate=sfloats,
    spo2_fast=st.none() | sfloats,
    pulse_rate_fast=st.none() | sfloats,
    spo2_slow=st.none() | sfloats,
    pulse_rate_slow=st.none() | sfloats,
    **plx_status,
)


@st.composite
def plx_features(draw: st.DrawFn) -> PlxFeatures:
    flags = {name: draw(st.booleans()) for name in plx.FEATURE_BITS.values()}
    status = draw(st.frozensets(st.sampled_from(sorted(plx.MEASUREMENT_STATUS_BITS.values()))))
    sensor = draw(st.frozensets(st.sampled_from(sorted(plx.DEVICE_SENSOR_STATUS_BITS.values()))))
    return PlxFeatures.model_validate(
        flags
        | {
            "measurement_status_support": status if flags["measurement_status_supported"] else None,
            "device_sensor_status_support": (
                sensor if flags["device_sensor_status_supported"] else None
            ),
        }
    )


heart_rates = st.builds(
    HeartRateMeasurement,
    heart_rate=st.integers(0, 0xFFFF),
    sensor_contact=st.none() | st.booleans(),
    energy_expended=st.none() | st.integers(0, 0xFFFF),
    rr_intervals=st.lists(st.integers(0, 0xFFFF).map(lambda r: r / 1024), max_size=8).map(tuple),
)


def temperatures(
    kind: type[TemperatureMeasurement | IntermediateTemperature],
) -> st.SearchStrategy[GattValue]:
    return st.builds(
        kind,
        temperature=floats32,
        unit=st.sampled_from(["C", "F"]),
        timestamp=timestamps,
        temperature_type=st.none() | st.sampled_from(sorted(temp.TEMPERATURE_TYPES.values())),
    )


@st.composite
def weights(draw: st.DrawFn) -> WeightMeasurement:
    unit = draw(st.sampled_from(["kg", "lb"]))
    steps, height_steps = (200, 1000) if unit == "kg" else (100, 10)
    with_bmi = draw(st.booleans())
    return WeightMeasurement.model_validate(
        {
            "weight": draw(st.none() | st.integers(0, 0xFFFE).map(lambda r: r / steps)),
            "unit": unit,
            "timestamp": draw(timestamps),
            "user_id": draw(user_ids),
            "bmi": draw(st.integers(0, 0xFFFF)) / 10 if with_bmi else None,
            "height": draw(st.integers(0, 0xFFFF)) / height_steps if with_bmi else None,
        }
    )


weight_features = st.builds(
    WeightScaleFeature,
    timestamp_supported=st.booleans(),
    multiple_users_supported=st.booleans(),
    bmi_supported=st.booleans(),
    weight_resolution_code=st.integers(0, 7),
    height_resolution_code=st.integers(0, 3),
)


@st.composite
def glucoses(draw: st.DrawFn) -> GlucoseMeasurement:
    # Base times away from the calendar's ends, so base time + offset stays in it.
    base = draw(st.none() | st.datetimes(datetime(1600, 1, 1), datetime(9990, 1, 1)))
    fields: dict[str, object] = {
        "sequence_number": draw(st.integers(0, 0xFFFF)),
        "base_time": None if base is None else base.replace(microsecond=0),
        "time_offset": draw(st.none() | st.integers(-0x8000, 0x7FFF)),
        "sensor_status": draw(names(glu.SENSOR_STATUS_BITS)),
        "context_information_follows": draw(st.booleans()),
    }
    if draw(st.booleans()):
        fields |= {
            "concentration": draw(sfloats),
            "unit": draw(st.sampled_from(["kg/L", "mol/L"])),
            "sample_type": draw(st.sampled_from(sorted(glu.SAMPLE_TYPES.values()))),
            "sample_location": draw(st.sampled_from(sorted(glu.SAMPLE_LOCATIONS.values()))),
        }
    return GlucoseMeasurement.model_validate(fields)


racps = st.builds(RacpNumberOfRecords, count=st.integers(0, 0xFFFF)) | st.builds(
    RacpResponse,
    request_op_code=st.integers(0, 255),
    response_code=st.sampled_from(list(RacpResponseCode)),
)


@st.composite
def date_fields(draw: st.DrawFn) -> dict[str, int]:
    """Dates with any of year, month, day possibly unknown (0)."""
    stamp = draw(stamps)
    fields = {
        "year": stamp.year,
        "month": stamp.month,
        "day": stamp.day,
        "hours": stamp.hour,
        "minutes": stamp.minute,
        "seconds": stamp.second,
    }
    for part in draw(st.sets(st.sampled_from(["year", "month", "day"]))):
        fields[part] = 0
    return fields


date_times = date_fields().map(lambda f: DateTime(**f))


@st.composite
def current_times(draw: st.DrawFn) -> CurrentTime:
    fields = draw(date_fields())
    known = fields["year"] and fields["month"] and fields["day"]
    weekday = (
        draw(
            st.sampled_from(
                [0, calendar.weekday(fields["year"], fields["month"], fields["day"]) + 1]
            )
        )
        if known
        else draw(st.integers(0, 7))
    )
    return CurrentTime(
        **fields,
        day_of_week=weekday,
        fractions256=draw(st.integers(0, 255)),
        manual_time_update=draw(st.booleans()),
        external_reference_time_update=draw(st.booleans()),
        time_zone_change=draw(st.booleans()),
        dst_change=draw(st.booleans()),
    )


STRATEGIES: dict[type[GattValue], st.SearchStrategy[GattValue]] = {
    BloodPressureMeasurement: blood_pressures(BloodPressureMeasurement),
    IntermediateCuffPressure: blood_pressures(IntermediateCuffPressure),
    PlxSpotCheck: spot_checks,
    PlxContinuous: continuous,
    PlxFeatures: plx_features(),
    HeartRateMeasurement: heart_rates,
    TemperatureMeasurement: temperatures(TemperatureMeasurement),
    IntermediateTemperature: temperatures(IntermediateTemperature),
    WeightMeasurement: weights(),
    WeightScaleFeature: weight_features,
    GlucoseMeasurement: glucoses(),
    RacpNumberOfRecords: racps,
    RacpResponse: racps,
    BatteryLevel: st.builds(BatteryLevel, battery_level=st.integers(0, 100)),
    DateTime: date_times,
    CurrentTime: current_times(),
}


def test_every_model_has_an_encoder_and_a_strategy() -> None:
    assert set(STRATEGIES) == set(ENCODERS)
    assert {kind.uuid for kind in ENCODERS} == SUPPORTED_UUIDS


@pytest.mark.parametrize("kind", [pytest.param(kind, id=kind.__name__) for kind in STRATEGIES])
def test_round_trip(kind: type[GattValue]) -> None:
    @FAST
    @given(STRATEGIES[kind])
    def check(value: GattValue) -> None:
        assert decode(value.uuid, encode(value)) == value

    check()


@st.composite
def mutated_packets(draw: st.DrawFn) -> tuple[int, bytes]:
    """A valid packet with a few bytes overwritten: sets reserved bits, odd flag combinations
    and non-canonical SFLOATs that the encoder never writes itself."""
    value = draw(st.sampled_from(list(STRATEGIES.values())).flatmap(lambda s: s))
    packet = bytearray(encode(value))
    for _ in range(draw(st.integers(0, 3))):
        packet[draw(st.integers(0, len(packet) - 1))] = draw(st.integers(0, 255))
    return value.uuid, bytes(packet)


@settings(max_examples=300, deadline=None)
@given(mutated_packets())
def test_decoded_bytes_reencode_to_the_same_value(case: tuple[int, bytes]) -> None:
    uuid, data = case
    try:
        value = decode(uuid, data)
    except MalformedPacket:
        return
    assert decode(uuid, encode(value)) == value


def test_glucose_timestamp_survives() -> None:
    value = GlucoseMeasurement(
        sequence_number=3, base_time=datetime(2024, 3, 15, 10, 30), time_offset=-90
    )
    decoded = decode(0x2A18, encode(value))
    assert isinstance(decoded, GlucoseMeasurement)
    assert decoded.timestamp == datetime(2024, 3, 15, 10, 30) - timedelta(minutes=90)


def test_encode_refuses_a_non_characteristic() -> None:
    with pytest.raises(TypeError):
        encode(GattValue())
