"""IEEE-11073 SFLOAT / FLOAT decoding, from the bit layout of IEEE 11073-20601 F.8, directly
and through characteristics that carry them (Blood Pressure: SFLOAT, Temperature: FLOAT)."""

from __future__ import annotations

import math

import pytest

from edge.gatt import BloodPressureMeasurement, TemperatureMeasurement, decode
from edge.gatt.ieee11073 import float_from_raw, sfloat_from_raw

SFLOAT_CASES = [
    (0x0000, 0.0),
    (0x0072, 114.0),
    (0xF16D, 36.5),  # exponent -1, mantissa 365
    (0x0FFF, -1.0),  # mantissa is two's complement
    (0x0F9C, -100.0),
    (0xFFFF, -0.1),
    (0x2005, 500.0),
    (0x8001, 1e-8),  # smallest exponent
    (0x7001, 1e7),  # largest exponent
    (0x07FD, 2045.0),
    (0x0803, -2045.0),
    (0x17FF, 20470.0),  # mantissa 2047 is only NaN with exponent 0
    (0x1800, -20480.0),
    (0xB05A, 0.0009),  # exponent -5, mantissa 90 (a glucose concentration in kg/L)
    # Special values
    (0x07FF, None),  # NaN
    (0x0800, None),  # NRes
    (0x0801, None),  # reserved
    (0x07FE, math.inf),
    (0x0802, -math.inf),
]

FLOAT_CASES = [
    (0x00000000, 0.0),
    (0xFF00016D, 36.5),
    (0xFEFFFF9C, -1.0),  # exponent -2, mantissa -100
    (0x00000001, 1.0),
    (0x7F000001, 1e127),
    (0x80000001, 1e-128),
    (0x007FFFFD, 8388605.0),
    (0x01800003, -83886050.0),
    (0x007FFFFF, None),  # NaN
    (0x00800000, None),  # NRes
    (0x00800001, None),  # reserved
    (0x007FFFFE, math.inf),
    (0x00800002, -math.inf),
]


@pytest.mark.parametrize(("raw", "expected"), SFLOAT_CASES)
def test_sfloat(raw: int, expected: float | None) -> None:
    assert sfloat_from_raw(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), FLOAT_CASES)
def test_float(raw: int, expected: float | None) -> None:
    assert float_from_raw(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), SFLOAT_CASES)
def test_sfloat_in_blood_pressure(raw: int, expected: float | None) -> None:
    data = b"\x00" + raw.to_bytes(2, "little") + bytes.fromhex("5000 5d00")
    value = decode(0x2A35, data)
    assert isinstance(value, BloodPressureMeasurement)
    assert value.systolic == expected
    assert value.diastolic == 80.0


@pytest.mark.parametrize(("raw", "expected"), FLOAT_CASES)
def test_float_in_temperature(raw: int, expected: float | None) -> None:
    value = decode(0x2A1C, b"\x00" + raw.to_bytes(4, "little"))
    assert isinstance(value, TemperatureMeasurement)
    assert value.temperature == expected


def test_scaling_rounds_once() -> None:
    # 365 * 0.1 would be 36.50000000000001; the decoder divides exact integers instead.
    assert all(sfloat_from_raw(0xF000 | m) == m / 10 for m in range(2046))
