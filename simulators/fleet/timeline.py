"""The fleet's fault timeline: when each device fault and gateway outage starts and ends, in
simulated seconds, as one ordered list the engine walks as simulated time passes. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from edge.profiles import PROFILES, Profile
from simulators.fleet.roster import DeviceEntry, Roster
from simulators.physiology.faults import DeviceFault, GatewayOutage, SilentDevice


class Action(StrEnum):
    FAULT_START = "fault_start"
    FAULT_END = "fault_end"
    # The gateway notices a silent device once its expected interval has passed (edge agent).
    SILENT_NOTICE = "silent_notice"
    OUTAGE_START = "outage_start"
    OUTAGE_END = "outage_end"


@dataclass(frozen=True, slots=True, order=True)
class Transition:
    offset_s: float
    order: int
    action: Action = field(compare=False)
    gateway: int = field(compare=False)
    device: int = field(compare=False)  # index within the gateway; -1 for the gateway itself
    fault: DeviceFault | GatewayOutage = field(compare=False)


def expected_interval_s(device: DeviceEntry) -> float:
    """How long the gateway waits before calling a device silent (edge.profiles defaults)."""
    default = PROFILES[Profile(device.kind.value)].default_expected_interval_s
    return max(default, 1.5 * device.cadence.period_s)


def build_timeline(roster: Roster) -> list[Transition]:
    items: list[tuple[float, Action, int, int, DeviceFault | GatewayOutage]] = []
    for g, gateway in enumerate(roster.gateways):
        for outage in gateway.outages:
            start = outage.start.total_seconds()
            items.append((start, Action.OUTAGE_START, g, -1, outage))
            items.append((start + outage.duration.total_seconds(), Action.OUTAGE_END, g, -1,
                          outage))
        for d, device in enumerate(gateway.devices):
            for fault in device.faults:
                start = fault.start.total_seconds()
                items.append((start, Action.FAULT_START, g, d, fault))
                end = None if fault.duration is None else start + fault.duration.total_seconds()
                if end is not None:
                    items.append((end, Action.FAULT_END, g, d, fault))
                if isinstance(fault, SilentDevice):
                    notice = start + expected_interval_s(device)
                    if end is None or notice < end:
                        items.append((notice, Action.SILENT_NOTICE, g, d, fault))
    # Ends before starts at the same instant: back-to-back windows hand over cleanly.
    rank = {Action.FAULT_END: 0, Action.OUTAGE_END: 0, Action.FAULT_START: 1,
            Action.OUTAGE_START: 1, Action.SILENT_NOTICE: 2}
    items.sort(key=lambda item: (item[0], rank[item[1]]))
    return [Transition(offset, i, action, g, d, fault)
            for i, (offset, action, g, d, fault) in enumerate(items)]
