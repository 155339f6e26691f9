"""Typed decoding errors: a caller must tell a broken packet from a characteristic we do not speak.

`UnsupportedCharacteristic` subclasses `MalformedPacket` on purpose: for the gateway both mean
"these bytes produced no value" and take the same path (a `malformed_packet` device event with
the raw bytes), so one `except MalformedPacket` is always enough; a caller that wants to treat an
unknown UUID as a configuration error catches `UnsupportedCharacteristic` first.
"""

from __future__ import annotations


class MalformedPacket(ValueError):
    """The bytes are not a valid value of the characteristic: truncated, trailing bytes, invalid
    flag combination, out-of-range field. Carries the UUID and raw bytes for the record."""

    def __init__(self, reason: str, *, uuid: int | None = None, data: bytes | None = None) -> None:
        self.reason = reason
        self.uuid = uuid
        self.data = data
        where = "" if uuid is None else f"0x{uuid:04X}: "
        raw = "" if data is None else f" (raw {data.hex() or 'empty'})"
        super().__init__(f"{where}{reason}{raw}")


class UnsupportedCharacteristic(MalformedPacket):
    """No decoder for this UUID (or the UUID itself is not a Bluetooth SIG 16-bit UUID)."""

    def __init__(self, reason: str, *, uuid: int | None = None, data: bytes | None = None) -> None:
        super().__init__(reason, uuid=uuid, data=data)
