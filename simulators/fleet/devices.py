"""A simulated device as its gateway experiences it: it measures on its cadence, keeps records
in its own memory while it cannot deliver them (if it has one), loses its link, goes silent,
sends garbage, and keeps a clock that may be wrong.

This is the fleet's stand-in for the GATT layer: it yields what the edge agent would have
decoded (contract readings) or, for a packet that would not decode, its raw bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from simulators.fleet.pacing import SimClock
from simulators.fleet.readings import WireReading, make_reading
from simulators.fleet.roster import DeviceEntry
from simulators.fleet.values import Sampler
from simulators.physiology.faults import ClockDrift
from simulators.physiology.noise import hash64, uniform
from simulators.physiology.scenario import DEVICE_METRICS, DeviceKind
from vigil.messages import Origin
from vigil.metrics import Metric
from vigil.quality import QualityFlag

# Blood-pressure cuffs and glucose meters store their records; so does an oximeter's spot-check
# memory (RACP). Thermometers and scales of the usual kind do not.
MEMORY_KINDS = frozenset({DeviceKind.BLOOD_PRESSURE, DeviceKind.GLUCOSE_METER})
# Record numbers: RACP devices number their stored records (glucose sequence, PLX spot-check).
SEQUENCED_KINDS = frozenset({DeviceKind.GLUCOSE_METER, DeviceKind.PULSE_OXIMETER})
# edge/clock.py: offsets within this are agreement; beyond it readings are CLOCK_CORRECTED.
CLOCK_TOLERANCE_S = 10.0


class Record(NamedTuple):
    """One measurement the device took, before any gateway received it (a named tuple: one
    is made per reading, and frozen dataclasses cost several times more to build)."""

    metric: Metric
    value: float
    flags: frozenset[QualityFlag]
    measured_at: datetime
    device_time: datetime | None
    sequence: int | None


@dataclass(slots=True)
class DeviceState:
    entry: DeviceEntry
    sample: Sampler
    utc_offset: timedelta
    battery: int
    sequence: int = 0
    draws: int = 0
    linked: bool = True  # the BLE link (a connection_drop fault breaks it)
    silent: bool = False
    corrupt_probability: float = 0.0
    corrupt_detail: str = ""
    clock: ClockDrift | None = None
    memory: list[Record] = field(default_factory=list)

    @property
    def has_memory(self) -> bool:
        continuous = self.entry.cadence.continuous
        return self.entry.kind in MEMORY_KINDS or (
            self.entry.kind is DeviceKind.PULSE_OXIMETER and not continuous
        )


class Measured(NamedTuple):
    readings: list[WireReading]
    malformed: bytes | None = None  # a notification that would not decode


NOTHING = Measured([])


def _records(state: DeviceState, at: datetime, offset_s: float) -> list[Record]:
    entry = state.entry
    device_time: datetime | None = None
    sequence: int | None = None
    if not entry.cadence.continuous:
        at = at.replace(microsecond=0)  # device clocks tick in whole seconds (0x2A08)
        error = timedelta(0)
        if state.clock is not None:
            error = state.clock.clock_error(timedelta(seconds=offset_s))
        device_time = (at + state.utc_offset + error).astimezone(UTC).replace(tzinfo=None)
        if entry.kind in SEQUENCED_KINDS:
            state.sequence += 1
            sequence = state.sequence
    records = []
    for metric in DEVICE_METRICS[entry.kind]:
        value, flags = state.sample(metric, at)
        if device_time is not None and state.clock is not None:
            skew = abs(state.clock.clock_error(timedelta(seconds=offset_s)).total_seconds())
            if skew > CLOCK_TOLERANCE_S:
                flags = flags | {QualityFlag.CLOCK_CORRECTED}
        records.append(Record(metric, value, flags, at, device_time, sequence))
    return records


def to_reading(device_id: str, record: Record, received_at: datetime,
               origin: Origin) -> WireReading:
    return make_reading(
        device_id=device_id, metric=record.metric, value=record.value,
        measured_at=record.measured_at, received_at=received_at,
        device_time=record.device_time, sequence=record.sequence,
        quality=record.flags, origin=origin,
    )


def measure(state: DeviceState, offset_s: float, clock: SimClock, powered: bool) -> Measured:
    """The device measures now. `powered`: its gateway is on (a power cut stops all reception;
    a network outage does not -- the gateway queues)."""
    if state.silent:
        return NOTHING
    at = clock.at(offset_s)
    reachable = powered and state.linked
    if not reachable:
        if state.has_memory:
            state.memory.extend(_records(state, at, offset_s))
        return NOTHING
    state.draws += 1
    if state.corrupt_probability and uniform(state.entry.stream, state.draws) < (
        state.corrupt_probability
    ):
        # What a flipped-bit notification looks like: the right length, the wrong content.
        raw = hash64(state.entry.stream, -state.draws).to_bytes(8, "little")
        return Measured([], malformed=raw)
    origin = Origin.LIVE
    return Measured([
        to_reading(state.entry.id, record, record.measured_at, origin)
        for record in _records(state, at, offset_s)
    ])


def release_memory(state: DeviceState, received_at: datetime) -> list[WireReading]:
    """Records kept on the device, fetched by the gateway once it can reach the device."""
    kept, state.memory = state.memory, []
    return [to_reading(state.entry.id, r, received_at, Origin.STORED) for r in kept]
