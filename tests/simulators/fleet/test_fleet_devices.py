"""Simulated devices as the gateway sees them, and the fault timeline that drives them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulators.fleet.cadence import Cadence
from simulators.fleet.config import Mix
from simulators.fleet.devices import DeviceState, measure, release_memory
from simulators.fleet.pacing import SimClock
from simulators.fleet.roster import DeviceEntry, build_roster
from simulators.fleet.timeline import Action, build_timeline
from simulators.fleet.values import ValueModel, sampler
from simulators.physiology.faults import (
    ClockDrift,
    ConnectionDrop,
    GatewayOutage,
    LowBattery,
    SilentDevice,
)
from simulators.physiology.scenario import DEVICE_METRICS, DeviceKind, PatientSpec
from vigil.messages import Origin, Reading
from vigil.metrics import CATALOGUE
from vigil.quality import QualityFlag

ORIGIN = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
CLOCK = SimClock(ORIGIN, 0.0, 1.0)
PATIENT = PatientSpec(id="p1", seed=42).build(ORIGIN)


def device(kind: DeviceKind, period: float = 60.0, model: ValueModel = ValueModel.PHYSIOLOGY,
           utc_offset: timedelta = timedelta(0)) -> DeviceState:
    entry = DeviceEntry(id=f"P1-{kind.value.upper()}", kind=kind, patient_id="p1", gateway=0,
                        cadence=Cadence(period), stream=7)
    return DeviceState(entry=entry, sample=sampler(PATIENT, model), utc_offset=utc_offset,
                       battery=90)


@pytest.mark.parametrize("model", list(ValueModel))
@pytest.mark.parametrize("kind", list(DeviceKind))
def test_a_measurement_is_valid_contract_readings(kind: DeviceKind, model: ValueModel) -> None:
    wire = measure(device(kind, model=model), 120.0, CLOCK, powered=True).readings
    readings = [r.to_reading() for r in wire]  # validates, deterministic id included
    assert [r.metric for r in readings] == list(DEVICE_METRICS[kind])
    assert [r.id for r in readings] == [w.id for w in wire]
    for reading in readings:
        assert Reading.model_validate(reading.model_dump()) == reading
        assert CATALOGUE[reading.metric].is_plausible(reading.value)
        assert reading.measured_at == ORIGIN + timedelta(seconds=120)


def test_streams_have_no_device_clock_spot_checks_do() -> None:
    oximeter = device(DeviceKind.PULSE_OXIMETER, 1.0)
    stream = measure(oximeter, 3.5, CLOCK, True).readings[0].to_reading()
    assert (stream.device_time, stream.sequence) == (None, None)
    assert stream.measured_at == ORIGIN + timedelta(seconds=3.5)
    meter = device(DeviceKind.GLUCOSE_METER, utc_offset=timedelta(hours=1))
    first = measure(meter, 10.4, CLOCK, True).readings[0].to_reading()
    second = measure(meter, 70.0, CLOCK, True).readings[0].to_reading()
    # Whole seconds, local wall time, numbered records.
    assert first.device_time == datetime(2026, 2, 1, 9, 0, 10)
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.id != second.id


def test_unreachable_devices_keep_records_only_if_they_have_memory() -> None:
    cuff = device(DeviceKind.BLOOD_PRESSURE)
    cuff.linked = False
    assert measure(cuff, 60.0, CLOCK, powered=True).readings == []
    assert measure(cuff, 120.0, CLOCK, powered=True).readings == []
    stored = release_memory(cuff, ORIGIN + timedelta(seconds=200))
    assert len(stored) == 2 * len(DEVICE_METRICS[DeviceKind.BLOOD_PRESSURE])
    assert {r.origin for r in stored} == {Origin.STORED}
    assert all(r.received_at == ORIGIN + timedelta(seconds=200) for r in stored)
    assert release_memory(cuff, ORIGIN) == []
    scale = device(DeviceKind.WEIGHT_SCALE)
    assert measure(scale, 60.0, CLOCK, powered=False).readings == []
    assert scale.memory == []


def test_silent_device_measures_nothing() -> None:
    oximeter = device(DeviceKind.PULSE_OXIMETER, 1.0)
    oximeter.silent = True
    assert measure(oximeter, 5.0, CLOCK, True).readings == []


def test_corrupt_packets_come_out_as_raw_bytes() -> None:
    oximeter = device(DeviceKind.PULSE_OXIMETER, 1.0)
    oximeter.corrupt_probability = 1.0
    result = measure(oximeter, 5.0, CLOCK, True)
    assert result.readings == [] and result.malformed is not None and len(result.malformed) == 8


def test_a_wrong_device_clock_shows_in_device_time_not_measured_at() -> None:
    thermometer = device(DeviceKind.THERMOMETER)
    thermometer.clock = ClockDrift(device="P1-THERMOMETER", start=timedelta(0),
                                   initial_offset=timedelta(minutes=7))
    reading = measure(thermometer, 60.0, CLOCK, True).readings[0].to_reading()
    assert reading.measured_at == ORIGIN + timedelta(seconds=60)
    assert reading.device_time == datetime(2026, 2, 1, 8, 8, 0)
    assert QualityFlag.CLOCK_CORRECTED in reading.quality


def test_timeline_orders_transitions_and_notices_silence() -> None:
    fleet = build_roster(gateways=2, devices_per_gateway=2, mix=Mix.VIRTUAL_WARD, seed=0,
                         prefix="t", scenario=None, conditions=None)
    oximeter = fleet.gateways[0].devices[0]
    oximeter.faults += [
        SilentDevice(device=oximeter.id, start=timedelta(seconds=100),
                     duration=timedelta(seconds=300)),
        LowBattery(device=oximeter.id, start=timedelta(seconds=10)),
        ConnectionDrop(device=oximeter.id, start=timedelta(seconds=400),
                       duration=timedelta(seconds=50)),
    ]
    fleet.gateways[1].outages.append(GatewayOutage(
        gateway=fleet.gateways[1].id, start=timedelta(seconds=400),
        duration=timedelta(seconds=20)))
    timeline = build_timeline(fleet)
    assert [(t.offset_s, t.action) for t in timeline] == [
        (10.0, Action.FAULT_START),
        (100.0, Action.FAULT_START),
        (160.0, Action.SILENT_NOTICE),  # the oximeter profile expects a value within 60 s
        (400.0, Action.FAULT_END),  # ends before starts at the same instant
        (400.0, Action.FAULT_START),
        (400.0, Action.OUTAGE_START),
        (420.0, Action.OUTAGE_END),
        (450.0, Action.FAULT_END),
    ]
    assert timeline[5].gateway == 1 and timeline[5].device == -1
