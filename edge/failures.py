"""What went wrong with a device, sorted by what to do about it.

- NOT_FOUND: the device is not advertising (out of range, asleep between measurements,
  switched off). Normal for spot devices; retry on a schedule that keeps scanning cheap.
- TRANSIENT: the radio dropped or refused the link (interference, a busy adapter, a timeout, a
  disconnect mid-session). Retry soon, backing off.
- PERMANENT: retrying cannot fix it without a person (the device lacks the profile it was paired
  as, or demands bonding the gateway does not have). Report it, retry rarely.
"""

from __future__ import annotations

from enum import StrEnum

from bleak.exc import (
    BleakCharacteristicNotFoundError,
    BleakDeviceNotFoundError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)
from bleak_retry_connector import BleakNotFoundError


class FailureKind(StrEnum):
    NOT_FOUND = "not_found"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


class DeviceNotFound(Exception):
    """No advertisement from the device within the scan window."""

    def __init__(self, address: str, waited_s: float) -> None:
        super().__init__(f"{address} not seen advertising within {waited_s:g} s")
        self.address = address


class ProfileMismatch(Exception):
    """The connected device lacks the characteristics of the profile it was paired as."""


# ATT errors that mean "bond with me first": a person has to pair the device at the OS level.
_NEEDS_BONDING = frozenset({
    BleakGATTProtocolErrorCode.INSUFFICIENT_AUTHENTICATION,
    BleakGATTProtocolErrorCode.INSUFFICIENT_AUTHORIZATION,
    BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION,
    BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION_KEY_SIZE,
})


def classify(exc: BaseException) -> FailureKind:
    if isinstance(exc, DeviceNotFound | BleakNotFoundError | BleakDeviceNotFoundError):
        return FailureKind.NOT_FOUND
    if isinstance(exc, ProfileMismatch | BleakCharacteristicNotFoundError):
        return FailureKind.PERMANENT
    if isinstance(exc, BleakGATTProtocolError) and exc.code in _NEEDS_BONDING:
        return FailureKind.PERMANENT
    # Everything else -- aborted or refused connections, timeouts, "Not connected" after a
    # drop, EOF on the D-Bus socket, unexpected errors -- may well work next time.
    return FailureKind.TRANSIENT
