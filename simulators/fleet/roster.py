"""Who is in the fleet: gateways, their devices, and the patients those devices measure.

The scenario's own patients come first, on the gateways the scenario names; generated gateways
fill the fleet up to the requested count, one patient each, with the first
`devices_per_gateway` devices of the home kit. Everything is derived from the seed, so the same
arguments give the same fleet (ids, conditions, cadences, faults) on any machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from simulators.fleet.cadence import KIT_ORDER, MIX_CADENCE, Cadence, readings_per_second
from simulators.fleet.config import Mix
from simulators.fleet.scenario import RandomFaults
from simulators.physiology.baselines import Condition
from simulators.physiology.faults import (
    ClockDrift,
    CorruptPackets,
    DeviceFault,
    GatewayOutage,
    LowBattery,
    SilentDevice,
)
from simulators.physiology.noise import stream_id, uniform
from simulators.physiology.scenario import DeviceKind, DeviceSpec, PatientSpec, Scenario
from vigil.messages import normalise_device_id

# Generated patients: mostly the conditions virtual wards and caseloads actually hold.
DEFAULT_CONDITIONS: dict[Condition, float] = {
    Condition.GENERAL_ADULT: 2.0,
    Condition.COPD: 1.0,
    Condition.HEART_FAILURE: 1.0,
    Condition.HYPERTENSION: 1.0,
    Condition.DIABETES: 1.0,
}


@dataclass(slots=True)
class DeviceEntry:
    id: str  # normalised, as on the wire
    kind: DeviceKind
    patient_id: str
    gateway: int  # index into Roster.gateways
    cadence: Cadence
    stream: int  # this device's deterministic random stream
    faults: list[DeviceFault] = field(default_factory=list)


@dataclass(slots=True)
class GatewayEntry:
    id: str
    devices: list[DeviceEntry] = field(default_factory=list)
    outages: list[GatewayOutage] = field(default_factory=list)
    generated: bool = True


@dataclass(slots=True)
class Roster:
    gateways: list[GatewayEntry]
    patients: dict[str, PatientSpec]

    @property
    def devices(self) -> list[DeviceEntry]:
        return [d for g in self.gateways for d in g.devices]

    def natural_rate(self) -> float:
        """Readings the whole fleet produces per simulated second."""
        return sum(readings_per_second(d.kind, d.cadence) for d in self.devices)


def generated_ids(prefix: str, index: int) -> tuple[str, str]:
    """(gateway id, patient id) of the index-th generated home (1-based)."""
    return f"{prefix}-gw-{index:05d}", f"{prefix}-p-{index:05d}"


def _pick(weights: Mapping[Condition, float], draw: float) -> Condition:
    items = [(c, w) for c, w in weights.items() if w > 0]
    if not items:
        return Condition.GENERAL_ADULT
    total = sum(w for _, w in items)
    threshold = draw * total
    for condition, weight in items:
        threshold -= weight
        if threshold < 0:
            return condition
    return items[-1][0]


def _cadence(kind: DeviceKind, mix: Mix, explicit: timedelta | None) -> Cadence:
    if explicit is not None:
        return Cadence(explicit.total_seconds())
    return MIX_CADENCE[mix][kind]


def build_roster(
    *,
    gateways: int,
    devices_per_gateway: int,
    mix: Mix,
    seed: int,
    prefix: str,
    scenario: Scenario | None,
    conditions: Mapping[Condition, float] | None,
) -> Roster:
    roster = Roster(gateways=[], patients={})
    specs: list[tuple[PatientSpec, bool]] = []
    if scenario is not None:
        # The file's sample_interval applies only when the file states it; otherwise the mix.
        default_interval = (
            scenario.sample_interval if "sample_interval" in scenario.model_fields_set else None
        )
        specs += [(spec, False) for spec in scenario.patients]
    else:
        default_interval = None
    weights = conditions or DEFAULT_CONDITIONS
    condition_stream = stream_id(seed, "fleet:condition")
    next_index = 1
    homes = len({s.gateway_id for s, _ in specs})
    while homes < gateways:
        gateway_id, patient_id = generated_ids(prefix, next_index)
        kinds = [KIT_ORDER[j % len(KIT_ORDER)] for j in range(devices_per_gateway)]
        # Constructed, not validated: every field here is valid by construction, and the
        # spec's validator derives a full alert ruleset per patient (about a millisecond),
        # which made rosters of ten thousand homes take tens of seconds. The roster tests
        # check that a generated spec validates to itself.
        devices = tuple(
            DeviceSpec.model_construct(id=f"{patient_id}-{j}-{kind.value}", kind=kind)
            for j, kind in enumerate(kinds)
        )
        specs.append((
            PatientSpec.model_construct(
                id=patient_id,
                seed=stream_id(seed, f"fleet:patient:{next_index}") >> 1,
                condition=_pick(weights, uniform(condition_stream, next_index)),
                gateway=gateway_id,
                devices=devices,
            ),
            True,
        ))
        next_index += 1
        homes += 1
    indices: dict[str, int] = {}
    for spec, generated in specs:
        if spec.gateway_id not in indices:
            indices[spec.gateway_id] = len(roster.gateways)
            roster.gateways.append(GatewayEntry(id=spec.gateway_id, generated=generated))
        index = indices[spec.gateway_id]
        gateway = roster.gateways[index]
        roster.patients[spec.id] = spec
        for device in spec.device_list:
            device_id = normalise_device_id(device.id)
            interval = device.interval if device.interval is not None else (
                None if generated else default_interval
            )
            gateway.devices.append(DeviceEntry(
                id=device_id, kind=device.kind, patient_id=spec.id, gateway=index,
                cadence=_cadence(device.kind, mix, interval),
                stream=stream_id(seed, f"fleet:device:{device_id}"),
            ))
    if scenario is not None:
        _attach(roster, scenario.device_faults, scenario.gateway_outages)
    return roster


def _attach(
    roster: Roster, faults: Sequence[DeviceFault], outages: Sequence[GatewayOutage]
) -> None:
    devices = {d.id: d for d in roster.devices}
    gateways = {g.id: g for g in roster.gateways}
    for fault in faults:
        devices[normalise_device_id(fault.device)].faults.append(fault)
    for outage in outages:
        gateways[outage.gateway].outages.append(outage)


def deal_random_faults(
    roster: Roster, faults: RandomFaults, simulated: timedelta, seed: int
) -> None:
    """Sprinkle faults over generated gateways, each starting between 10 % and 60 % of the run
    and lasting at most until its end, so that every one of them also ends within the run."""

    def chance(name: str, index: int) -> float:
        return uniform(stream_id(seed, f"fleet:fault:{name}"), index)

    def start(name: str, index: int, length: timedelta) -> timedelta:
        room = max(timedelta(0), simulated - length)
        return min(simulated * 0.1 + (room * 0.5) * chance(name + ":start", index), room)

    for g_index, gateway in enumerate(roster.gateways):
        if not gateway.generated:
            continue
        if chance("outage", g_index) < faults.gateway_outage_fraction:
            length = min(faults.gateway_outage, simulated * 0.5)
            if length > timedelta(0):
                gateway.outages.append(GatewayOutage(
                    gateway=gateway.id, start=start("outage", g_index, length),
                    duration=length, cause=faults.gateway_outage_cause,
                ))
        for d_index, device in enumerate(gateway.devices):
            key = g_index * 64 + d_index
            window = simulated * 0.3
            if chance("battery", key) < faults.low_battery_fraction:
                device.faults.append(LowBattery(
                    device=device.id, start=start("battery", key, timedelta(0)),
                ))
            if chance("silent", key) < faults.silent_device_fraction and window > timedelta(0):
                device.faults.append(SilentDevice(
                    device=device.id, start=start("silent", key, window), duration=window,
                ))
            if chance("corrupt", key) < faults.corrupt_packet_fraction:
                device.faults.append(CorruptPackets(
                    device=device.id, start=timedelta(0),
                    probability=faults.corrupt_packet_probability,
                ))
            if chance("clock", key) < faults.clock_drift_fraction and not device.cadence.continuous:
                device.faults.append(ClockDrift(
                    device=device.id, start=timedelta(0), initial_offset=faults.clock_offset,
                ))
