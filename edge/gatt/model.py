"""The base of every decoded value: a frozen pydantic model that knows its characteristic."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class GattValue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The 16-bit Bluetooth SIG UUID of the characteristic this model is a value of.
    uuid: ClassVar[int]


def bit_names(bits: int, names: Mapping[int, str]) -> frozenset[str]:
    """Names of the set bits; bits the spec reserves (absent from `names`) are ignored, as the
    Core specification asks of receivers."""
    return frozenset(name for bit, name in names.items() if bits >> bit & 1)


def bits_of(flags: Iterable[str], names: Mapping[int, str]) -> int:
    by_name = {name: bit for bit, name in names.items()}
    return sum(1 << by_name[flag] for flag in flags)


def check_names(flags: frozenset[str] | None, names: Mapping[int, str], what: str) -> None:
    if flags is None:
        return
    unknown = flags - set(names.values())
    if unknown:
        raise ValueError(f"unknown {what} flag(s): {', '.join(sorted(unknown))}")
