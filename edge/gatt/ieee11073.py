"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) medical floats.

A value is mantissa x 10^exponent with a two's-complement exponent in the top bits (4 bits for
SFLOAT, 8 for FLOAT) and a two's-complement mantissa below (12 / 24 bits). Five raw values are
special, all with exponent 0 (IEEE 11073-20601 section F.8; Bluetooth GSS): NaN, NRes ("not at
this resolution"), +INFINITY, -INFINITY and one reserved value. NaN, NRes and the reserved value
carry no number and decode to None; the infinities decode to float("inf") / float("-inf") so that
"above / below the measurable range" survives (the conversion to readings drops them).
"""

from __future__ import annotations

import math
from enum import Enum

from edge.gatt.reader import PacketReader


class Special(Enum):
    NAN = "NaN"
    NRES = "NRes"
    POSITIVE_INFINITY = "+INFINITY"
    NEGATIVE_INFINITY = "-INFINITY"
    RESERVED = "reserved"


SFLOAT_SPECIALS: dict[int, Special] = {
    0x07FF: Special.NAN,
    0x0800: Special.NRES,
    0x07FE: Special.POSITIVE_INFINITY,
    0x0802: Special.NEGATIVE_INFINITY,
    0x0801: Special.RESERVED,
}
FLOAT_SPECIALS: dict[int, Special] = {
    0x007FFFFF: Special.NAN,
    0x00800000: Special.NRES,
    0x007FFFFE: Special.POSITIVE_INFINITY,
    0x00800002: Special.NEGATIVE_INFINITY,
    0x00800001: Special.RESERVED,
}
SFLOAT_RAW: dict[Special, int] = {special: raw for raw, special in SFLOAT_SPECIALS.items()}
FLOAT_RAW: dict[Special, int] = {special: raw for raw, special in FLOAT_SPECIALS.items()}

_SPECIAL_VALUE: dict[Special, float | None] = {
    Special.NAN: None,
    Special.NRES: None,
    Special.RESERVED: None,
    Special.POSITIVE_INFINITY: math.inf,
    Special.NEGATIVE_INFINITY: -math.inf,
}


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _scale(mantissa: int, exponent: int) -> float:
    # Dividing two exact integers rounds once, so 365e-1 is exactly the double nearest 36.5
    # (multiplying by 0.1 would round twice and give 36.50000000000001 for some mantissas).
    power: int = 10 ** abs(exponent)
    return float(mantissa * power) if exponent >= 0 else mantissa / power


def sfloat_from_raw(raw: int) -> float | None:
    special = SFLOAT_SPECIALS.get(raw)
    if special is not None:
        return _SPECIAL_VALUE[special]
    return _scale(_signed(raw & 0x0FFF, 12), _signed(raw >> 12, 4))


def float_from_raw(raw: int) -> float | None:
    special = FLOAT_SPECIALS.get(raw)
    if special is not None:
        return _SPECIAL_VALUE[special]
    return _scale(_signed(raw & 0x00FFFFFF, 24), _signed(raw >> 24, 8))


def read_sfloat(reader: PacketReader, what: str) -> float | None:
    return sfloat_from_raw(reader.u16(what))


def read_float(reader: PacketReader, what: str) -> float | None:
    return float_from_raw(reader.u32(what))
