"""Device faults and gateway outages, as data: the emulators and fleet simulator act on them.

Every fault is a window on the scenario's timeline (``duration`` omitted: until the end).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulators.physiology.durations import Duration, Offset, SignedDuration
from vigil.messages import DeviceId, GatewayId


class _Window(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: Offset
    duration: Duration | None = None

    @property
    def end(self) -> timedelta | None:
        return None if self.duration is None else self.start + self.duration

    def active(self, offset: timedelta) -> bool:
        """Whether the window covers this offset from the scenario start."""
        end = self.end
        return self.start <= offset and (end is None or offset < end)


class _DeviceFault(_Window):
    device: DeviceId


class ConnectionDrop(_DeviceFault):
    """The BLE link drops and every reconnection attempt fails until the window ends."""

    kind: Literal["connection_drop"] = "connection_drop"


class CorruptPackets(_DeviceFault):
    """A share of notifications arrive with flipped bits (bad flags, impossible values)."""

    kind: Literal["corrupt_packets"] = "corrupt_packets"
    probability: float = Field(0.2, gt=0.0, le=1.0)


class TruncatedPackets(_DeviceFault):
    """A share of notifications arrive cut short (fewer bytes than their flags announce)."""

    kind: Literal["truncated_packets"] = "truncated_packets"
    probability: float = Field(0.2, gt=0.0, le=1.0)


class ClockDrift(_DeviceFault):
    """The device's own clock is off by ``initial_offset`` and drifts by ``drift_ppm``."""

    kind: Literal["clock_drift"] = "clock_drift"
    initial_offset: SignedDuration = timedelta(0)
    drift_ppm: float = Field(0.0, ge=-100_000.0, le=100_000.0)

    def clock_error(self, offset: timedelta) -> timedelta:
        """How far the device clock is from true time at this scenario offset."""
        if offset < self.start:
            return timedelta(0)
        elapsed = offset - self.start
        if self.duration is not None:
            elapsed = min(elapsed, self.duration)
        return self.initial_offset + elapsed * (self.drift_ppm / 1e6)


class LowBattery(_DeviceFault):
    kind: Literal["low_battery"] = "low_battery"
    level_percent: int = Field(8, ge=0, le=100)


class SilentDevice(_DeviceFault):
    """The device stops advertising and measuring (flat battery, patient stopped using it)."""

    kind: Literal["silent_device"] = "silent_device"


DeviceFault = Annotated[
    ConnectionDrop | CorruptPackets | TruncatedPackets | ClockDrift | LowBattery | SilentDevice,
    Field(discriminator="kind"),
]


class GatewayOutage(_Window):
    """The gateway goes offline: on ``network`` it keeps reading devices and queues the readings
    for later; on ``power`` it reads nothing until it is back (devices with memory keep theirs).
    """

    gateway: GatewayId
    duration: Duration
    cause: Literal["network", "power"] = "network"
