"""IEEE 11073-20601 SFLOAT / FLOAT encoding: the inverse of `edge.gatt.ieee11073`.

A finite float is written as the shortest decimal that reads back as the same float (its
`repr`): whole numbers with exponent 0 where the mantissa allows (120 -> 120e0, 36.5 -> 365e-1);
when that needs more mantissa digits or a smaller exponent than the format has, it is rounded
half-even once (SFLOAT keeps 3-4 significant digits). None
is written as NaN; +-inf as +-INFINITY; `Special` writes any of the five special values.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

from edge.gatt.ieee11073 import FLOAT_RAW, SFLOAT_RAW, Special

MANTISSA_BITS_SFLOAT = 12
MANTISSA_BITS_FLOAT = 24
SFLOAT_EXPONENTS = (-8, 7)
FLOAT_EXPONENTS = (-128, 127)


def _fits(mantissa: int, exponent: int, bits: int) -> bool:
    highest = (1 << (bits - 1)) - 1
    lowest = -(1 << (bits - 1))
    if not lowest <= mantissa <= highest:
        return False
    # With exponent 0 the two top and three bottom mantissas are the special values.
    return exponent != 0 or lowest + 2 < mantissa < highest - 1


def _parts(value: float, bits: int, exponents: tuple[int, int]) -> tuple[int, int]:
    lowest, highest = exponents
    exact = Decimal(repr(value))
    exponent = int(exact.as_tuple().exponent)
    mantissa = int(exact.scaleb(-exponent))
    while mantissa and mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    # Whole numbers as devices write them: exponent 0 where the mantissa allows (120, not 12e1).
    while exponent > 0 and _fits(mantissa * 10, exponent - 1, bits):
        mantissa *= 10
        exponent -= 1
    shift = max(0, lowest - exponent)
    while True:
        rounded = int(
            Decimal(mantissa).scaleb(-shift).to_integral_value(rounding=ROUND_HALF_EVEN)
        )
        if rounded == 0 or _fits(rounded, exponent + shift, bits):
            break
        shift += 1
    mantissa, exponent = rounded, exponent + shift
    if mantissa == 0:
        return 0, 0
    while exponent > highest and _fits(mantissa * 10, exponent - 1, bits):
        mantissa *= 10
        exponent -= 1
    if exponent > highest:
        raise ValueError(f"{value} is too large for this IEEE 11073 format")
    return mantissa, exponent


def _special(value: float | Special | None) -> Special | None:
    if isinstance(value, Special):
        return value
    if value is None or math.isnan(value):
        return Special.NAN
    if math.isinf(value):
        return Special.POSITIVE_INFINITY if value > 0 else Special.NEGATIVE_INFINITY
    return None


def sfloat_raw(value: float | Special | None) -> int:
    special = _special(value)
    if special is not None:
        return SFLOAT_RAW[special]
    assert not isinstance(value, Special) and value is not None
    mantissa, exponent = _parts(value, MANTISSA_BITS_SFLOAT, SFLOAT_EXPONENTS)
    return (exponent & 0x0F) << 12 | (mantissa & 0x0FFF)


def float_raw(value: float | Special | None) -> int:
    special = _special(value)
    if special is not None:
        return FLOAT_RAW[special]
    assert not isinstance(value, Special) and value is not None
    mantissa, exponent = _parts(value, MANTISSA_BITS_FLOAT, FLOAT_EXPONENTS)
    return (exponent & 0xFF) << 24 | (mantissa & 0x00FFFFFF)


def sfloat_bytes(value: float | Special | None) -> bytes:
    return sfloat_raw(value).to_bytes(2, "little")


def float_bytes(value: float | Special | None) -> bytes:
    return float_raw(value).to_bytes(4, "little")
