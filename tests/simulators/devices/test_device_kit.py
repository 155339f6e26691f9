"""Rooms for `vigil sim devices`: kits, deterministic addresses, physiology scenarios."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulators.devices import DEVICE_KINDS, ManualClock
from simulators.devices.kit import (
    FAULT_PRESETS,
    KITS,
    build_room,
    device_address,
    kit_plans,
    scenario_plans,
)
from vigil.metrics import Metric


def test_addresses_are_a_pure_function_of_seed_patient_and_kind() -> None:
    assert device_address(3, 1, "pulse_oximeter") == device_address(3, 1, "pulse_oximeter")
    every = {device_address(s, p, k) for s in (0, 1) for p in (1, 2, 300) for k in DEVICE_KINDS}
    assert len(every) == 2 * 3 * len(DEVICE_KINDS)
    assert device_address(0, 258, "bp_cuff") == "C0:00:01:02:00:01"


@pytest.mark.parametrize("kit", sorted(KITS))
def test_every_kit_builds_a_room(kit: str) -> None:
    room = build_room(kit_plans(kit, patients=2), seed=1, clock=ManualClock())
    assert sorted(d.kind for d in room.hosted) == sorted(KITS[kit] * 2)


def test_unknown_kit_is_refused() -> None:
    with pytest.raises(ValueError, match="no kit"):
        kit_plans("spaceship")


def test_fault_presets_apply_to_every_device() -> None:
    plans = kit_plans("home", faults=FAULT_PRESETS["flaky"])
    assert {p.faults for p in plans} == {FAULT_PRESETS["flaky"]}


def test_a_physiology_scenario_gives_patients_values_and_intervals() -> None:
    pytest.importorskip("simulators.physiology")
    clock = ManualClock(datetime(2025, 3, 1, 8, tzinfo=UTC))
    plans = scenario_plans("desaturating", clock=clock)
    kinds = {p.kind for p in plans}
    assert "pulse_oximeter" in kinds and all(p.every_s == 60.0 for p in plans)
    oximeter = next(p for p in plans if p.kind == "pulse_oximeter")
    spo2 = oximeter.values(Metric.SPO2, clock.now())
    assert 70 <= spo2 <= 100
    room = build_room(plans, seed=0, clock=clock)
    assert len(room.hosted) == len(plans)
