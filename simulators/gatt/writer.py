"""Appends little-endian fields to a characteristic value, checking each fits its width."""

from __future__ import annotations

from datetime import datetime

from edge.gatt.ieee11073 import Special
from simulators.gatt.ieee11073 import float_bytes, sfloat_bytes


class PacketWriter:
    __slots__ = ("_out",)

    def __init__(self) -> None:
        self._out = bytearray()

    def uint(self, value: int, size: int) -> PacketWriter:
        self._out += value.to_bytes(size, "little")  # OverflowError if it does not fit
        return self

    def u8(self, value: int) -> PacketWriter:
        return self.uint(value, 1)

    def u16(self, value: int) -> PacketWriter:
        return self.uint(value, 2)

    def u24(self, value: int) -> PacketWriter:
        return self.uint(value, 3)

    def u32(self, value: int) -> PacketWriter:
        return self.uint(value, 4)

    def s16(self, value: int) -> PacketWriter:
        self._out += value.to_bytes(2, "little", signed=True)
        return self

    def sfloat(self, value: float | Special | None) -> PacketWriter:
        self._out += sfloat_bytes(value)
        return self

    def float32(self, value: float | Special | None) -> PacketWriter:
        self._out += float_bytes(value)
        return self

    def date_time(self, value: datetime | None) -> PacketWriter:
        """A Date Time field; None writes the all-zero "unknown" date. Sub-seconds are dropped."""
        if value is None:
            self._out += bytes(7)
            return self
        self.u16(value.year)
        self._out += bytes((value.month, value.day, value.hour, value.minute, value.second))
        return self

    def raw(self, data: bytes) -> PacketWriter:
        self._out += data
        return self

    def build(self) -> bytes:
        return bytes(self._out)
