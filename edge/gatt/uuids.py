"""Characteristic UUIDs in every form bleak and people use, reduced to the 16-bit number."""

from __future__ import annotations

import functools
import re
import uuid as uuid_lib

from edge.gatt.errors import UnsupportedCharacteristic

# 16-bit SIG UUIDs live inside the Bluetooth Base UUID: 0000xxxx-0000-1000-8000-00805F9B34FB.
_BASE = uuid_lib.UUID("00000000-0000-1000-8000-00805f9b34fb").int
_SHORT_MASK = 0xFFFF << 96
_SHORT = re.compile(r"^(?:0x)?([0-9a-f]{4})$")

UuidLike = int | str | uuid_lib.UUID

BATTERY_LEVEL = 0x2A19
DATE_TIME = 0x2A08
CURRENT_TIME = 0x2A2B
GLUCOSE_MEASUREMENT = 0x2A18
TEMPERATURE_MEASUREMENT = 0x2A1C
INTERMEDIATE_TEMPERATURE = 0x2A1E
BLOOD_PRESSURE_MEASUREMENT = 0x2A35
INTERMEDIATE_CUFF_PRESSURE = 0x2A36
HEART_RATE_MEASUREMENT = 0x2A37
RECORD_ACCESS_CONTROL_POINT = 0x2A52
PLX_SPOT_CHECK_MEASUREMENT = 0x2A5E
PLX_CONTINUOUS_MEASUREMENT = 0x2A5F
PLX_FEATURES = 0x2A60
WEIGHT_MEASUREMENT = 0x2A9D
WEIGHT_SCALE_FEATURE = 0x2A9E


def short_uuid(value: UuidLike) -> int:
    """The 16-bit UUID of `value` (int, "2a35", "0x2A35", 128-bit string or uuid.UUID).

    Raises UnsupportedCharacteristic for anything that is not a 16-bit SIG UUID.
    """
    if isinstance(value, bool):
        raise UnsupportedCharacteristic(f"{value!r} is not a UUID")
    if isinstance(value, int):
        if 0 <= value <= 0xFFFF:
            return value
        raise UnsupportedCharacteristic(f"{value:#x} is not a 16-bit UUID")
    if isinstance(value, str):
        return _short_of_text(value)
    if isinstance(value, uuid_lib.UUID):
        return _short_of(value)
    raise UnsupportedCharacteristic(f"{value!r} is not a UUID")


# Every notification names its characteristic by the same few strings: parsed once each
# (a failure raises, and is not cached).
@functools.lru_cache(maxsize=256)
def _short_of_text(value: str) -> int:
    text = value.strip().lower()
    match = _SHORT.match(text)
    if match:
        return int(match.group(1), 16)
    try:
        parsed = uuid_lib.UUID(text)
    except ValueError:
        raise UnsupportedCharacteristic(f"{value!r} is not a UUID") from None
    return _short_of(parsed)


def _short_of(value: uuid_lib.UUID) -> int:
    if value.int & ~_SHORT_MASK == _BASE:
        return value.int >> 96 & 0xFFFF
    raise UnsupportedCharacteristic(f"{value} is not a Bluetooth SIG 16-bit UUID")


def full_uuid(short: int) -> str:
    """The 128-bit string form bleak reports for a 16-bit UUID."""
    return str(uuid_lib.UUID(int=_BASE | short << 96))
