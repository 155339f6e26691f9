"""Acting out the fault timeline: device faults change what a device does and what its gateway
reports (device events), gateway outages take a gateway off the network or power.

A network outage on a per-gateway connection really drops that gateway's MQTT connection, so
the broker publishes its last will; on a shared service connection there is no per-gateway
will, so the fleet publishes the same retained "offline" status on the gateway's behalf.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from simulators.fleet.config import ConnectionMode
from simulators.fleet.devices import CLOCK_TOLERANCE_S, DeviceState, release_memory
from simulators.fleet.gateway import GatewayRuntime
from simulators.fleet.timeline import Action, Transition
from simulators.physiology.faults import (
    ClockDrift,
    ConnectionDrop,
    CorruptPackets,
    GatewayOutage,
    LowBattery,
    SilentDevice,
    TruncatedPackets,
)
from vigil.messages import DeviceEventKind, GatewayState
from vigil.topics import Channel

if TYPE_CHECKING:
    from simulators.fleet.engine import FleetRun

REPLACED_BATTERY = 100


class Disruptions:
    def __init__(self, run: FleetRun, timeline: list[Transition]) -> None:
        self.run = run
        self.timeline = timeline
        self.next = 0
        self.active: set[int] = set()  # orders of started, not yet ended transitions

    def advance(self, offset_s: float) -> None:
        """Apply every transition up to this simulated offset."""
        while self.next < len(self.timeline) and self.timeline[self.next].offset_s <= offset_s:
            self._apply(self.timeline[self.next], offset_s)
            self.next += 1

    def end_all(self, offset_s: float) -> None:
        """The run is over: every outage and link drop ends so the backlog can drain."""
        self.advance(offset_s)
        for item in self.timeline[self.next:]:
            if item.action in (Action.FAULT_END, Action.OUTAGE_END):
                self._apply(item, offset_s)
        for gateway in self.run.gateways:
            if not gateway.online:
                self._outage_end(gateway, offset_s)
            for device in gateway.devices:
                if not device.linked:
                    self._relink(gateway, device, offset_s)
        self.next = len(self.timeline)

    def malformed(self, gateway: GatewayRuntime, device: DeviceState, raw: bytes,
                  offset_s: float) -> None:
        """A notification that would not decode: the edge reports it with its raw bytes."""
        self._event(gateway, DeviceEventKind.MALFORMED_PACKET, offset_s, device,
                    detail=device.corrupt_detail or "simulated corrupt packet", raw_hex=raw.hex())

    # --- internals ---------------------------------------------------------------------------

    def _event(self, gateway: GatewayRuntime, kind: DeviceEventKind, offset_s: float,
               device: DeviceState | None = None, **fields: object) -> None:
        payload = gateway.event(kind, self.run.clock.at(offset_s),
                                None if device is None else device.entry.id, **fields)
        self.run.publish_event(gateway, payload)

    def _apply(self, item: Transition, offset_s: float) -> None:
        gateway = self.run.gateways[item.gateway]
        fault = item.fault
        if isinstance(fault, GatewayOutage):
            if item.action is Action.OUTAGE_START:
                self._outage_start(gateway, fault, item.offset_s)
            elif not gateway.online:
                self._outage_end(gateway, item.offset_s)
            return
        device = gateway.devices[item.device]
        start = item.action is Action.FAULT_START
        if item.action is Action.SILENT_NOTICE:
            if device.silent:
                self._event(gateway, DeviceEventKind.SILENT, item.offset_s, device,
                            detail="not heard from for longer than its expected interval")
        elif isinstance(fault, ConnectionDrop):
            if start:
                device.linked = False
                self._event(gateway, DeviceEventKind.DISCONNECTED, item.offset_s, device,
                            detail="link lost; reconnection attempts failing")
            elif not device.linked:
                self._relink(gateway, device, item.offset_s)
        elif isinstance(fault, CorruptPackets | TruncatedPackets):
            device.corrupt_probability = fault.probability if start else 0.0
            device.corrupt_detail = (
                "truncated notification" if isinstance(fault, TruncatedPackets)
                else "notification failed to decode"
            )
        elif isinstance(fault, ClockDrift):
            if start:
                device.clock = fault
                skew = fault.clock_error(fault.start).total_seconds()
                if abs(skew) > CLOCK_TOLERANCE_S:
                    self._event(gateway, DeviceEventKind.CLOCK_SKEW, item.offset_s, device,
                                detail=f"device clock off by {skew:+.0f} s")
            else:
                device.clock = None
                self._event(gateway, DeviceEventKind.CLOCK_SET, item.offset_s, device)
        elif isinstance(fault, LowBattery):
            device.battery = fault.level_percent if start else REPLACED_BATTERY
            self._event(gateway, DeviceEventKind.BATTERY, item.offset_s, device,
                        battery_level=device.battery)
        elif isinstance(fault, SilentDevice):
            device.silent = start
            if not start:
                self._event(gateway, DeviceEventKind.CONNECTED, item.offset_s, device)

    def _relink(self, gateway: GatewayRuntime, device: DeviceState, offset_s: float) -> None:
        device.linked = True
        self._event(gateway, DeviceEventKind.CONNECTED, offset_s, device)
        if gateway.powered:
            self._collect(gateway, device, offset_s)

    def _collect(self, gateway: GatewayRuntime, device: DeviceState, offset_s: float) -> None:
        """The gateway fetches the records a device kept while unreachable."""
        readings = release_memory(device, self.run.clock.at(offset_s))
        now = time.monotonic()
        for reading in readings:
            if not gateway.outbox.unsent:
                self.run.dirty[gateway.index] = None
            gateway.outbox.add(reading, now)
        self.run.tally.generated += len(readings)

    def _outage_start(self, gateway: GatewayRuntime, outage: GatewayOutage,
                      offset_s: float) -> None:
        if not gateway.online:
            return
        run = self.run
        gateway.online = False
        gateway.powered = outage.cause != "power"
        gateway.outage_began = offset_s
        if run.config.connection_mode is ConnectionMode.PER_GATEWAY:
            run.links[gateway.link].drop()
        else:
            link = run.links[gateway.link]
            reason = "connection lost" if outage.cause == "network" else "power lost"
            payload = gateway.status(GatewayState.OFFLINE, run.clock.at(offset_s), reason)
            if link.publish(gateway.topics[Channel.STATUS], payload, retain=True):
                run.tally.statuses += 1

    def _outage_end(self, gateway: GatewayRuntime, offset_s: float) -> None:
        run = self.run
        gateway.online = True
        gateway.powered = True
        gateway.outage_began = None
        if run.config.connection_mode is ConnectionMode.PER_GATEWAY:
            # On connect the engine announces "online" and resends (as the edge uplink does).
            run.links[gateway.link].resume()
        else:
            run.on_gateway_back(gateway)
        for device in gateway.devices:
            if device.linked and device.memory:
                self._collect(gateway, device, offset_s)

