"""The roster and its pace: deterministic ids, kits, conditions, faults and clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulators.fleet.cadence import DAY, KIT_ORDER
from simulators.fleet.config import Mix
from simulators.fleet.pacing import DEFAULT_DURATION_S, Pacing, resolve_pacing, sim_origin
from simulators.fleet.roster import build_roster, deal_random_faults
from simulators.fleet.scenario import RandomFaults, load_fleet_scenario
from simulators.physiology.baselines import Condition
from simulators.physiology.faults import GatewayOutage, LowBattery, SilentDevice
from simulators.physiology.scenario import PatientSpec

REPO = Path(__file__).resolve().parents[3]


def roster(**changes: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = dict(gateways=4, devices_per_gateway=3, mix=Mix.VIRTUAL_WARD,
                                   seed=1, prefix="t", scenario=None, conditions=None)
    args.update(changes)
    return build_roster(**args)  # type: ignore[arg-type]


def test_generated_fleet_is_deterministic_and_named() -> None:
    first, again = roster(), roster()
    assert [g.id for g in first.gateways] == ["t-gw-00001", "t-gw-00002", "t-gw-00003",
                                              "t-gw-00004"]
    assert [(d.id, d.cadence, d.stream) for d in first.devices] == [
        (d.id, d.cadence, d.stream) for d in again.devices]
    assert first.patients == again.patients
    kinds = [d.kind for d in first.gateways[0].devices]
    assert kinds == list(KIT_ORDER[:3])
    assert first.devices[0].id == "T-P-00001-0-PULSE_OXIMETER"  # normalised, as on the wire
    assert len({d.stream for d in first.devices}) == 12


def test_generated_patients_are_valid_specs() -> None:
    for spec in roster(gateways=12, devices_per_gateway=6).patients.values():
        assert PatientSpec.model_validate(spec.model_dump()) == spec


def test_another_seed_another_fleet() -> None:
    assert [p.seed for p in roster().patients.values()] != [
        p.seed for p in roster(seed=2).patients.values()]


def test_condition_weights_are_honoured() -> None:
    only = roster(gateways=20, conditions={Condition.COPD: 1.0, Condition.DIABETES: 0.0})
    assert {p.condition for p in only.patients.values()} == {Condition.COPD}


def test_natural_rate_of_the_mixes() -> None:
    # One oximeter at 1 Hz (SpO2 + pulse) and a thermometer six times a day.
    ward = roster(gateways=1, devices_per_gateway=1)
    assert ward.natural_rate() == pytest.approx(2.0)
    caseload = roster(gateways=1, devices_per_gateway=1, mix=Mix.CASELOAD)
    assert caseload.natural_rate() == pytest.approx(2 * 2 / DAY)


def test_scenario_patients_come_first_on_their_gateways() -> None:
    scenario = load_fleet_scenario(REPO / "scenarios" / "ward-deterioration.toml").scenario
    ward = roster(gateways=5, scenario=scenario)
    assert [g.id for g in ward.gateways[:3]] == ["gw-ward-copd-1", "gw-ward-fever-1",
                                                 "gw-ward-home-1"]
    assert not ward.gateways[0].generated and ward.gateways[3].generated
    assert len(ward.gateways) == 5
    home = ward.gateways[2]
    assert len(home.outages) == 1
    assert {type(f).__name__ for d in home.devices for f in d.faults} == {
        "LowBattery", "CorruptPackets", "ClockDrift"}
    thermometer = next(d for d in ward.gateways[1].devices if d.kind.value == "thermometer")
    assert thermometer.cadence.period_s == 120.0  # the device's own interval


def test_more_scenario_gateways_than_asked_keeps_them_all() -> None:
    scenario = load_fleet_scenario(REPO / "scenarios" / "ward-deterioration.toml").scenario
    assert len(roster(gateways=1, scenario=scenario).gateways) == 3


def test_random_faults_land_inside_the_run_and_only_on_generated_gateways() -> None:
    fleet = roster(gateways=200)
    faults = RandomFaults(gateway_outage_fraction=0.2, gateway_outage=timedelta(seconds=30),
                          low_battery_fraction=0.1, silent_device_fraction=0.1)
    run = timedelta(seconds=120)
    deal_random_faults(fleet, faults, run, seed=3)
    outages = [o for g in fleet.gateways for o in g.outages]
    assert 20 <= len(outages) <= 60
    assert all(isinstance(o, GatewayOutage) and o.start + o.duration <= run for o in outages)
    device_faults = [f for d in fleet.devices for f in d.faults]
    assert any(isinstance(f, LowBattery) for f in device_faults)
    assert all(f.duration is None or f.start + f.duration <= run for f in device_faults
               if isinstance(f, SilentDevice))
    again = roster(gateways=200)
    deal_random_faults(again, faults, run, seed=3)
    assert [g.outages for g in again.gateways] == [g.outages for g in fleet.gateways]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (dict(rate=None, speed=None, duration_s=None, scenario_duration_s=None),
         Pacing(1.0, DEFAULT_DURATION_S)),
        (dict(rate=1000.0, speed=None, duration_s=5.0, scenario_duration_s=None),
         Pacing(100.0, 5.0)),
        (dict(rate=None, speed=3.0, duration_s=None, scenario_duration_s=600.0),
         Pacing(3.0, 200.0)),
        (dict(rate=None, speed=None, duration_s=60.0, scenario_duration_s=1800.0),
         Pacing(30.0, 60.0)),
        (dict(rate=None, speed=None, duration_s=None, scenario_duration_s=1800.0),
         Pacing(1.0, 1800.0)),
    ],
)
def test_pacing(args: dict[str, float | None], expected: Pacing) -> None:
    assert resolve_pacing(mix=Mix.VIRTUAL_WARD, natural_rate=10.0, **args) == expected


def test_caseload_defaults_to_a_day_a_minute() -> None:
    pace = resolve_pacing(mix=Mix.CASELOAD, natural_rate=1.0, rate=None, speed=None,
                          duration_s=60.0, scenario_duration_s=None)
    assert pace.simulated_s == pytest.approx(DAY)


def test_a_fast_run_replays_the_past_up_to_now() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    pace = Pacing(speed=100.0, duration_s=10.0)
    origin = sim_origin(now, pace, None)
    # Simulated time reaches the wall clock's time exactly when the run ends, never after.
    end_of_run = now + timedelta(seconds=pace.duration_s)
    assert end_of_run - timedelta(milliseconds=1) < origin + timedelta(
        seconds=pace.simulated_s) <= end_of_run
    assert origin.microsecond % 1000 == 0
    fixed = datetime(2025, 1, 1, tzinfo=UTC)
    assert sim_origin(now, pace, fixed) == fixed
    assert sim_origin(now, Pacing(1.0, 10.0), None) <= now
