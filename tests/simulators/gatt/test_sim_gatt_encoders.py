"""Encoder details: IEEE-11073 number encoding, byte-exact packets against spec fixtures, and
the device side of RACP."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.gatt import (
    BloodPressureMeasurement,
    CurrentTime,
    GlucoseMeasurement,
    HeartRateMeasurement,
    PlxSpotCheck,
    RacpResponseCode,
    TemperatureMeasurement,
    WeightMeasurement,
    abort_operation,
    decode,
    delete_records_up_to,
    report_all_records,
    report_number_of_records_from,
    report_records_from,
)
from edge.gatt.ieee11073 import (
    FLOAT_SPECIALS,
    SFLOAT_SPECIALS,
    Special,
    float_from_raw,
    sfloat_from_raw,
)
from simulators.gatt import (
    InvalidRacpRequest,
    encode,
    encode_heart_rate,
    float_raw,
    number_of_records,
    parse_racp_request,
    response,
    sfloat_raw,
)

WHEN = datetime(2024, 3, 15, 10, 30)
STAMP = "e807 03 0f 0a 1e 00"


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        (0.0, 0x0000),
        (-0.0, 0x0000),
        (120.0, 0x0078),
        (36.5, 0xF16D),
        (-1.0, 0x0FFF),
        (0.0009, 0xC009),  # 9e-4
        (2045.0, 0x07FD),
        (2046.0, 0x10CD),  # 205 x 10^1: 2046 x 10^0 would be +INFINITY
        (20470.0, 0x17FF),  # 2047e1: mantissa 2047 is only special with exponent 0
        (20480.0, 0x20CD),  # 2048e1 does not fit: 205e2 (rounded)
        (-20480.0, 0x1800),  # -2048e1 does
        (36.57, 0xF16E),  # 3657 needs more than 12 bits: rounds half-even to 366e-1
        (1e-8, 0x8001),
        (1e-9, 0x0000),  # below the smallest step
        (1e7, 0x43E8),  # 1000e4: whole numbers keep the smallest exponent
        (1.5e9, 0x65DC),  # 1500e6
        (1e-8 * 3, 0x8003),
        (None, 0x07FF),
        (math.nan, 0x07FF),
        (math.inf, 0x07FE),
        (-math.inf, 0x0802),
        (Special.NRES, 0x0800),
        (Special.RESERVED, 0x0801),
    ],
)
def test_sfloat_encoding(value: float | Special | None, raw: int) -> None:
    assert sfloat_raw(value) == raw


def test_sfloat_too_large() -> None:
    with pytest.raises(ValueError):
        sfloat_raw(2.1e10)


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        (36.5, 0xFF00016D),
        (-1.0, 0x00FFFFFF),
        (8388605.0, 0x007FFFFD),
        (None, 0x007FFFFF),
        (math.inf, 0x007FFFFE),
        (-math.inf, 0x00800002),
        (Special.NRES, 0x00800000),
        (Special.RESERVED, 0x00800001),
    ],
)
def test_float_encoding(value: float | Special | None, raw: int) -> None:
    assert float_raw(value) == raw


def test_every_special_encodes_to_its_raw_value() -> None:
    for raw, special in SFLOAT_SPECIALS.items():
        assert sfloat_raw(special) == raw
    for raw, special in FLOAT_SPECIALS.items():
        assert float_raw(special) == raw


def test_every_sfloat_value_survives_encoding() -> None:
    # Exhaustive: all 65536 raw values, specials included.
    for raw in range(0x10000):
        value = sfloat_from_raw(raw)
        assert sfloat_from_raw(sfloat_raw(value)) == value, hex(raw)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 0xFFFFFFFF))
def test_every_float_value_survives_encoding(raw: int) -> None:
    value = float_from_raw(raw)
    assert float_from_raw(float_raw(value)) == value


@settings(max_examples=500, deadline=None)
@given(st.floats(min_value=-2000, max_value=2000))
def test_sfloat_rounding_error_is_within_half_a_step(value: float) -> None:
    decoded = sfloat_from_raw(sfloat_raw(value))
    assert decoded is not None
    # At least 205 steps in the mantissa: the error is at most half a step (or half of 1e-8).
    assert abs(decoded - value) <= max(abs(value) * 0.5 / 204.8, 5e-9)


@pytest.mark.parametrize(
    ("value", "packet"),
    [
        (
            BloodPressureMeasurement(
                systolic=120.0,
                diastolic=80.0,
                mean_arterial_pressure=93.0,
                timestamp=WHEN,
                pulse_rate=72.0,
                user_id=1,
                body_movement=True,
                improper_position=True,
            ),
            f"1e 7800 5000 5d00 {STAMP} 4800 01 2100",
        ),
        (
            BloodPressureMeasurement(
                systolic=16.0, diastolic=10.7, mean_arterial_pressure=12.5, unit="kPa"
            ),
            "01 1000 6bf0 7df0",  # 16.0 as 16e0: whole numbers keep exponent 0
        ),
        (
            BloodPressureMeasurement(
                systolic=120.0,
                diastolic=80.0,
                mean_arterial_pressure=93.0,
                pulse_rate_below_lower_limit=True,
            ),
            "10 7800 5000 5d00 1000",
        ),
        (
            PlxSpotCheck(
                spo2=98.0,
                pulse_rate=72.0,
                timestamp=WHEN,
                measurement_status={"early_estimate"},
                device_sensor_status={"extended_display_update_ongoing", "sensor_disconnected"},
                pulse_amplitude_index=3.2,
                device_clock_not_set=True,
            ),
            f"1f 6200 4800 {STAMP} 4000 018000 20f0",
        ),
        (HeartRateMeasurement(heart_rate=72, sensor_contact=False), "04 48"),
        (
            HeartRateMeasurement(
                heart_rate=300, sensor_contact=True, energy_expended=1000, rr_intervals=(1.0,)
            ),
            "1f 2c01 e803 0004",
        ),
        (
            TemperatureMeasurement(
                temperature=97.7, unit="F", timestamp=WHEN, temperature_type="tympanum"
            ),
            f"07 d10300ff {STAMP} 09",
        ),
        (
            WeightMeasurement(weight=70.0, timestamp=WHEN, user_id=1, bmi=24.5, height=1.754),
            f"0e b036 {STAMP} 01 f500 da06",
        ),
        (WeightMeasurement(weight=None, unit="lb"), "01 ffff"),
        (
            GlucoseMeasurement(
                sequence_number=42,
                base_time=WHEN,
                time_offset=30,
                concentration=0.0009,
                unit="kg/L",
                sample_type="capillary_whole_blood",
                sample_location="finger",
                sensor_status={"device_battery_low", "sensor_malfunction"},
            ),
            f"0b 2a00 {STAMP} 1e00 09c0 11 0300",
        ),
        (GlucoseMeasurement(sequence_number=1, base_time=None), "00 0100 0000 00 00 00 00 00"),
        (
            CurrentTime(
                year=2024,
                month=3,
                day=15,
                hours=10,
                minutes=30,
                seconds=0,
                day_of_week=5,
                fractions256=128,
                manual_time_update=True,
                external_reference_time_update=True,
                dst_change=True,
            ),
            f"{STAMP} 05 80 0b",
        ),
    ],
)
def test_byte_exact_packets(value: object, packet: str) -> None:
    assert encode(value) == h(packet)  # type: ignore[arg-type]


def test_heart_rate_format_can_be_forced() -> None:
    value = HeartRateMeasurement(heart_rate=72)
    assert encode_heart_rate(value, uint16=True) == h("01 4800")
    assert decode(0x2A37, encode_heart_rate(value, uint16=True)) == value


def test_out_of_range_fields_are_refused() -> None:
    with pytest.raises(ValueError):
        encode(WeightMeasurement(weight=400.0))  # 80000 steps of 5 g


@pytest.mark.parametrize(
    ("request_bytes", "op_code", "operator", "sequence"),
    [
        (report_all_records(), 1, 1, None),
        (report_records_from(0x1234), 1, 3, 0x1234),
        (report_number_of_records_from(7), 4, 3, 7),
        (delete_records_up_to(9), 2, 2, 9),
        (abort_operation(), 3, 0, None),
        (h("01 03 02 0000"), 1, 3, None),  # filter type 2 (user facing time): not a sequence
    ],
)
def test_device_parses_gateway_requests(
    request_bytes: bytes, op_code: int, operator: int, sequence: int | None
) -> None:
    parsed = parse_racp_request(request_bytes)
    assert (parsed.op_code, parsed.operator, parsed.sequence_number) == (
        op_code,
        operator,
        sequence,
    )


def test_device_refuses_a_too_short_request() -> None:
    with pytest.raises(InvalidRacpRequest):
        parse_racp_request(b"\x01")


def test_device_responses() -> None:
    assert number_of_records(10) == h("05 00 0a00")
    assert response(1, RacpResponseCode.NO_RECORDS_FOUND) == h("06 00 01 06")
