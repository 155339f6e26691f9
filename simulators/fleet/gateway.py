"""One simulated gateway at run time: its devices, outbox, topics and what it says on the wire.

Message shapes are the contract's (vigil.messages); this module only decides their content:
retained "online"/"offline" statuses with outbox depth and device states, device events, and
reading batches split within the payload limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter

from simulators.fleet.devices import DeviceState
from simulators.fleet.outbox import GatewayOutbox
from simulators.fleet.readings import WireReading, encode_batch
from simulators.fleet.roster import GatewayEntry
from vigil.messages import (
    MAX_READINGS_PER_BATCH,
    DeviceEvent,
    DeviceEventKind,
    GatewayState,
    GatewayStatus,
    Origin,
    PayloadTooLarge,
    batch_readings,
    encode,
)
from vigil.messages import (
    DeviceState as WireDeviceState,
)
from vigil.topics import Channel, topic

SOFTWARE_VERSION = "vigil-sim-fleet"


@dataclass
class GatewayRuntime:
    entry: GatewayEntry
    index: int
    link: int
    outbox: GatewayOutbox
    devices: list[DeviceState]
    heartbeat_s: float
    next_heartbeat: float
    topics: dict[Channel, str] = field(default_factory=dict)
    # An outage takes the gateway off the network (network) or off altogether (power).
    online: bool = True
    powered: bool = True
    outage_began: float | None = None  # simulated offset
    # Device events wait here while the gateway cannot publish (they are not acked end to end).
    pending_events: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.topics = {channel: topic(self.entry.id, channel) for channel in Channel}

    @property
    def id(self) -> str:
        return self.entry.id

    def status(self, state: GatewayState, at: datetime, reason: str | None = None,
               oldest_pending: datetime | None = None) -> bytes:
        return encode(GatewayStatus(
            gateway_id=self.id, state=state, at=at, reason=reason,
            software_version=SOFTWARE_VERSION, outbox_depth=self.outbox.depth,
            oldest_pending_at=oldest_pending,
            heartbeat_interval_s=self.heartbeat_s if state is GatewayState.ONLINE else None,
            devices=[
                WireDeviceState(device_id=d.entry.id, connected=d.linked and not d.silent,
                                battery_level=d.battery)
                for d in self.devices
            ] if state is GatewayState.ONLINE else [],
        ))

    def event(self, kind: DeviceEventKind, at: datetime, device_id: str | None = None,
              **fields: object) -> bytes:
        return encode(DeviceEvent.new(
            gateway_id=self.id, device_id=device_id, event=kind, at=at, **fields
        ))


def encode_batches(gateway_id: str, readings: list[WireReading], sent_at: datetime,
                   batch_size: int) -> list[tuple[bytes, int]]:
    """(payload, readings in it): at most `batch_size` readings each, in order, every payload
    within the contract's size limit."""
    payloads: list[tuple[bytes, int]] = []
    batch_size = min(batch_size, MAX_READINGS_PER_BATCH)
    for start in range(0, len(readings), batch_size):
        chunk = readings[start:start + batch_size]
        try:
            payloads.append((encode_batch(gateway_id, chunk, sent_at), len(chunk)))
        except PayloadTooLarge:
            # Rare (very long quality lists): let the contract split by measured size.
            payloads += [(encode(b), len(b.readings)) for b in batch_readings(
                gateway_id, [r.to_reading() for r in chunk], sent_at)]
    return payloads


def mark_late(readings: list[WireReading], now: datetime,
              late_after_s: float) -> list[WireReading]:
    """Live readings leaving long after they reached the gateway are backfill (edge.outbox)."""
    cutoff = now - timedelta(seconds=late_after_s)
    if not readings or min(map(_RECEIVED_AT, readings)) >= cutoff:
        return readings  # the usual case: nothing waited that long
    return [r.as_late() if r.origin is Origin.LIVE and r.received_at < cutoff else r
            for r in readings]


_RECEIVED_AT = attrgetter("received_at")
