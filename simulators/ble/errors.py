"""What can go wrong on an emulated link, on the peripheral side, and how bleak reports it.

The peripheral raises these plain errors; the client backends turn them into the exceptions a
real bleak backend raises, so the agent's error handling is exercised as it would be on BlueZ.
"""

from __future__ import annotations

from enum import IntEnum

from bleak.exc import (
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)


class AttErrorCode(IntEnum):
    """ATT error codes (Core Spec Vol 3 Part F 3.4.1.1) plus the profile codes we use."""

    INVALID_HANDLE = 0x01
    READ_NOT_PERMITTED = 0x02
    WRITE_NOT_PERMITTED = 0x03
    INVALID_ATTRIBUTE_VALUE_LENGTH = 0x0D
    UNLIKELY_ERROR = 0x0E
    VALUE_NOT_ALLOWED = 0x13
    # Common Profile and Service Error Codes (CSS Part B): RACP uses these two.
    CCCD_IMPROPERLY_CONFIGURED = 0xFD
    PROCEDURE_ALREADY_IN_PROGRESS = 0xFE
    OUT_OF_RANGE = 0xFF


class AttError(Exception):
    """The peripheral answered a request with ATT_ERROR_RSP."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(f"ATT error 0x{code:02x}{': ' + detail if detail else ''}")
        self.code = code
        self.detail = detail


class DeviceUnavailable(Exception):
    """The peripheral cannot be connected: not advertising, out of range, or busy."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"device {address} unavailable: {reason}")
        self.address = address
        self.reason = reason


class ConnectionAborted(Exception):
    """The connection attempt failed on the radio (interference, the device was busy)."""

    def __init__(self, address: str, detail: str = "") -> None:
        # BlueZ's wording, which bleak-retry-connector classifies as a transient error.
        suffix = f": {detail}" if detail else ""
        super().__init__(f"le-connection-abort-by-local ({address}{suffix})")
        self.address = address


class NotConnected(Exception):
    """A GATT request on a link that is no longer up."""


def to_bleak(exc: Exception) -> BleakError:
    """The bleak exception a real backend would raise for this emulated failure."""
    if isinstance(exc, AttError):
        return BleakGATTProtocolError(exc.code)
    if isinstance(exc, DeviceUnavailable):
        # bleak-retry-connector matches "not found" to classify a missing device.
        return BleakDeviceNotFoundError(
            exc.address, f"Device with address {exc.address} was not found ({exc.reason})"
        )
    if isinstance(exc, ConnectionAborted):
        return BleakError(str(exc))
    if isinstance(exc, NotConnected):
        return BleakError("Not connected")
    return BleakError(str(exc))
