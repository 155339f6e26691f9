"""Durations as people write them in scenario files: "90s", "10m", "1h30m", "3d", "PT10M"."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, TypeAdapter, ValidationError

_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_COMPACT_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|w|d|h|m|s)")
_COMPACT = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|w|d|h|m|s))+")
_ISO = TypeAdapter(timedelta)


def parse_duration(value: object) -> object:
    """Turn the compact form into a timedelta; numbers are seconds; ISO 8601 is accepted."""
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean")
    if not isinstance(value, str):
        return value  # numbers and timedeltas: pydantic's own timedelta parsing handles them
    text = value.strip().lower().replace(" ", "")
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if _COMPACT.fullmatch(body):
        seconds = sum(float(n) * _UNITS[u] for n, u in _COMPACT_PART.findall(body))
        return timedelta(seconds=sign * seconds)
    try:
        return _ISO.validate_python(value.strip())
    except ValidationError:
        raise ValueError(
            f"cannot read duration {value!r}: write e.g. '90s', '10m', '1h30m', '3d' "
            "or ISO 8601 'PT10M'"
        ) from None


def _non_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError(f"offset {value} must not be negative")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"duration {value} must be longer than zero")
    return value


# An offset from the scenario start (zero allowed), a length (strictly positive), and a signed
# shift (clock offsets).
SignedDuration = Annotated[timedelta, BeforeValidator(parse_duration)]
Offset = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_non_negative)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
