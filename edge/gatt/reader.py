"""A cursor over one characteristic value: every read checks the length, and `finish` refuses
trailing bytes, so a decoder either consumes exactly the packet or raises MalformedPacket."""

from __future__ import annotations

from edge.gatt.errors import MalformedPacket


class PacketReader:
    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, size: int, what: str) -> bytes:
        if self.remaining < size:
            raise MalformedPacket(
                f"truncated: {what} needs {size} bytes at offset {self._pos}, {self.remaining} left"
            )
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "little")

    def u8(self, what: str) -> int:
        return self.uint(1, what)

    def u16(self, what: str) -> int:
        return self.uint(2, what)

    def u24(self, what: str) -> int:
        return self.uint(3, what)

    def u32(self, what: str) -> int:
        return self.uint(4, what)

    def s16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "little", signed=True)

    def finish(self) -> None:
        if self.remaining:
            raise MalformedPacket(
                f"{self.remaining} trailing bytes after the last field (offset {self._pos})"
            )
