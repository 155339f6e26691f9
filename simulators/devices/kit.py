"""Rooms of devices for `vigil sim devices`: a kit per patient, or a physiology scenario.

Addresses are a pure function of (seed, patient number, device kind), so a gateway config
written for one run pairs with the same devices on the next.

Physiology scenarios (`simulators.physiology`, optional) give each patient's values, devices
and measurement intervals. Their device faults map onto `FaultProfile` as far as it reaches:
connection drops become out-of-range windows, a silent device goes silent at its start, clock
drift and low battery apply from the start, corrupt/truncated packets apply their probability
for the whole run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from simulators.ble.room import Room
from simulators.devices import DEVICE_KINDS
from simulators.devices.base import EmulatedDevice
from simulators.devices.clock import Clock
from simulators.devices.faults import NO_FAULTS, FaultProfile
from simulators.devices.values import ValueSource, steady

KITS: dict[str, tuple[str, ...]] = {
    "home": (
        "pulse_oximeter",
        "bp_cuff",
        "thermometer",
        "weight_scale",
        "glucose_meter",
        "heart_rate_strap",
    ),
    "copd": ("pulse_oximeter", "thermometer", "heart_rate_strap"),
    "heart_failure": ("bp_cuff", "weight_scale", "pulse_oximeter"),
    "diabetes": ("glucose_meter", "bp_cuff", "weight_scale"),
}

FAULT_PRESETS: dict[str, FaultProfile] = {
    "none": NO_FAULTS,
    "flaky": FaultProfile(
        drop_rate=0.05,
        corrupt_rate=0.02,
        truncate_rate=0.02,
        connect_failure_rate=0.1,
        clock_drift_ppm=150.0,
    ),
    "drifting": FaultProfile(clock_offset_s=-7 * 60.0, clock_drift_ppm=500.0),
    "low_battery": FaultProfile(battery_start=12.0, battery_drain_per_day=6.0),
}

# The physiology model's device kinds, in our names.
_SCENARIO_KINDS = {
    "pulse_oximeter": "pulse_oximeter",
    "blood_pressure": "bp_cuff",
    "thermometer": "thermometer",
    "weight_scale": "weight_scale",
    "glucose_meter": "glucose_meter",
    "heart_rate": "heart_rate_strap",
}
# Continuous monitors stream regardless; these take a measurement per period.
DEFAULT_EVERY_S = 300.0
FIRST_AFTER_S = 5.0


@dataclass(frozen=True)
class DevicePlan:
    kind: str
    patient: int
    every_s: float | None
    values: ValueSource
    faults: FaultProfile = NO_FAULTS
    name: str | None = None


def _kind_number(kind: str) -> int:
    return sorted(DEVICE_KINDS).index(kind) + 1


def device_address(seed: int, patient: int, kind: str) -> str:
    kind_number = _kind_number(kind)
    octets = (0xC0, seed & 0xFF, (patient >> 8) & 0xFF, patient & 0xFF, 0x00, kind_number)
    return ":".join(f"{o:02X}" for o in octets)


def build_device(plan: DevicePlan, *, seed: int, clock: Clock) -> EmulatedDevice:
    cls = DEVICE_KINDS[plan.kind]
    options: dict[str, Any] = {
        "clock": clock,
        "values": plan.values,
        "faults": plan.faults,
        "seed": seed,
        "name": plan.name,
    }
    if plan.kind != "heart_rate_strap":
        options["every_s"] = plan.every_s
        if plan.every_s is not None:
            # The first measurement comes soon (a demo shows data within seconds), staggered
            # by kind so a patient's devices do not all measure at once.
            options["first_after_s"] = min(plan.every_s, FIRST_AFTER_S * _kind_number(plan.kind))
    return cls(device_address(seed, plan.patient, plan.kind), **options)


def kit_plans(
    kit: str,
    *,
    patients: int = 1,
    every_s: float | None = DEFAULT_EVERY_S,
    faults: FaultProfile = NO_FAULTS,
) -> list[DevicePlan]:
    try:
        kinds = KITS[kit]
    except KeyError:
        raise ValueError(f"no kit {kit!r}; choose from {', '.join(KITS)}") from None
    return [
        DevicePlan(kind, patient, every_s, steady(), faults)
        for patient in range(1, patients + 1)
        for kind in kinds
    ]


def scenario_plans(name: str, *, clock: Clock, path: str | None = None) -> list[DevicePlan]:
    """Devices for a physiology scenario (built-in by name, or a scenario file when `path` is
    given): each patient's kit, values and intervals."""
    from simulators.physiology import builtin_scenario, load_scenario

    scenario = load_scenario(path) if path is not None else builtin_scenario(name)
    patients = scenario.build_patients(start=clock.now())
    default_every = scenario.sample_interval.total_seconds()
    plans: list[DevicePlan] = []
    for number, (spec, patient) in enumerate(zip(scenario.patients, patients, strict=True), 1):
        for device in spec.device_list:
            every = device.interval.total_seconds() if device.interval else default_every
            faults = _scenario_faults(scenario.device_faults, device.id)
            plans.append(
                DevicePlan(
                    _SCENARIO_KINDS[str(device.kind)],
                    number,
                    every,
                    patient.value_at,
                    faults,
                    name=device.id[:29],
                )
            )
    return plans


def _scenario_faults(faults: Sequence[Any], device_id: str) -> FaultProfile:
    fields: dict[str, Any] = {}
    windows: list[tuple[float, float]] = []
    for fault in faults:
        if fault.device != device_id:
            continue
        start = fault.start.total_seconds()
        end = float("inf") if fault.end is None else fault.end.total_seconds()
        match fault.kind:
            case "connection_drop":
                windows.append((start, end))
            case "silent_device":
                fields["silent_after_s"] = start
            case "corrupt_packets":
                fields["corrupt_rate"] = fault.probability
            case "truncated_packets":
                fields["truncate_rate"] = fault.probability
            case "clock_drift":
                fields["clock_offset_s"] = fault.initial_offset.total_seconds()
                fields["clock_drift_ppm"] = fault.drift_ppm
            case "low_battery":
                fields["battery_start"] = float(fault.level_percent)
                fields["battery_drain_per_day"] = 0.0
    return FaultProfile(out_of_range=tuple(windows), **fields)


def build_room(plans: Sequence[DevicePlan], *, seed: int, clock: Clock) -> Room:
    return Room(build_device(plan, seed=seed, clock=clock) for plan in plans)
