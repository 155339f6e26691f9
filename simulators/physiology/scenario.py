"""Scenarios: patients, their devices and events, faults, outages and the alerts expected.

A scenario is data (load it from TOML or YAML with ``loader.py``); ``build_patients`` turns it
into ``Patient`` objects anchored at a start instant the caller chooses -- the logic never reads
the clock, so a demo passes "now" and a test passes a fixed time.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from simulators.physiology.alerts import RuleKey
from simulators.physiology.baselines import Baselines, Condition, draw_baselines, draw_traits
from simulators.physiology.consequences import event_alerts, rules_for
from simulators.physiology.durations import Duration, Offset
from simulators.physiology.events import Event
from simulators.physiology.faults import ConnectionDrop, DeviceFault, GatewayOutage, SilentDevice
from simulators.physiology.patient import Patient, PatientId
from vigil.messages import DeviceId, GatewayId
from vigil.metrics import Metric
from vigil.rules import InvalidOverride, MissingCause, RuleSet

ScenarioName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class DeviceKind(StrEnum):
    PULSE_OXIMETER = "pulse_oximeter"
    BLOOD_PRESSURE = "blood_pressure"
    THERMOMETER = "thermometer"
    WEIGHT_SCALE = "weight_scale"
    GLUCOSE_METER = "glucose_meter"
    HEART_RATE = "heart_rate"


# What each Bluetooth SIG profile reports (respiratory rate has no SIG profile: no device).
DEVICE_METRICS: dict[DeviceKind, tuple[Metric, ...]] = {
    DeviceKind.PULSE_OXIMETER: (Metric.SPO2, Metric.PULSE_RATE),
    DeviceKind.BLOOD_PRESSURE: (
        Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.MEAN_ARTERIAL_PRESSURE, Metric.PULSE_RATE,
    ),
    DeviceKind.THERMOMETER: (Metric.BODY_TEMPERATURE,),
    DeviceKind.WEIGHT_SCALE: (Metric.BODY_WEIGHT, Metric.BMI),
    DeviceKind.GLUCOSE_METER: (Metric.BLOOD_GLUCOSE,),
    DeviceKind.HEART_RATE: (Metric.HEART_RATE,),
}

_HOME_KIT = (
    DeviceKind.PULSE_OXIMETER,
    DeviceKind.BLOOD_PRESSURE,
    DeviceKind.THERMOMETER,
    DeviceKind.WEIGHT_SCALE,
)


class DeviceSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: DeviceId
    kind: DeviceKind
    # How often this device measures; None: the scenario's sample_interval.
    interval: Duration | None = None

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return DEVICE_METRICS[self.kind]


class BaselineOverrides(BaseModel):
    """Pin some baselines instead of drawing them (e.g. a COPD patient at exactly 89 %)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spo2: float | None = None
    pulse_rate: float | None = None
    systolic_bp: float | None = None
    diastolic_bp: float | None = None
    body_temperature: float | None = None
    body_weight: float | None = None
    height_m: float | None = None
    respiratory_rate: float | None = None
    blood_glucose: float | None = None


class PatientSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: PatientId
    seed: int = Field(ge=0, lt=2**63)
    condition: Condition = Condition.GENERAL_ADULT
    gateway: GatewayId | None = None
    # None: the usual home kit (oximeter, BP cuff, thermometer, scale; + glucose for diabetes).
    devices: tuple[DeviceSpec, ...] | None = None
    events: tuple[Event, ...] = ()
    baselines: BaselineOverrides | None = None
    utc_offset_minutes: int = Field(0, ge=-14 * 60, le=14 * 60)
    # Per-patient overrides of the condition's alert rules: a JSON merge patch, exactly as
    # vigil.rules.overrides takes it (e.g. {"thresholds": {"spo2": null}}).
    rule_overrides: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> PatientSpec:
        # Fail at load time, not when the demo starts.
        self.resolved_baselines()
        try:
            self.ruleset()
        except InvalidOverride as error:
            raise ValueError(f"rule_overrides: {error}") from None
        return self

    @property
    def gateway_id(self) -> str:
        return self.gateway if self.gateway is not None else f"gw-{self.id}"

    @property
    def device_list(self) -> tuple[DeviceSpec, ...]:
        if self.devices is not None:
            return self.devices
        kinds = _HOME_KIT + (
            (DeviceKind.GLUCOSE_METER,) if self.condition is Condition.DIABETES else ()
        )
        return tuple(DeviceSpec(id=f"{self.id}-{kind.value}", kind=kind) for kind in kinds)

    def ruleset(self) -> RuleSet:
        """The alert rules Vigil applies to this patient by default."""
        return rules_for(self.condition, self.rule_overrides)

    def intervals(self, default: timedelta) -> dict[Metric, timedelta]:
        """Each measured metric and the shortest interval any of the devices measures it at."""
        found: dict[Metric, timedelta] = {}
        for device in self.device_list:
            every = device.interval or default
            for metric in device.metrics:
                found[metric] = min(every, found.get(metric, every))
        return found

    def resolved_baselines(self) -> Baselines:
        drawn = draw_baselines(self.seed, self.condition)
        if self.baselines is None:
            return drawn
        pinned = self.baselines.model_dump(exclude_none=True)
        return Baselines.model_validate({**drawn.model_dump(), **pinned})

    def build(self, start: datetime) -> Patient:
        return Patient(
            id=self.id,
            seed=self.seed,
            condition=self.condition,
            origin=start,
            baselines=self.resolved_baselines(),
            traits=draw_traits(self.seed, self.condition),
            events=self.events,
            utc_offset_minutes=self.utc_offset_minutes,
        )


class ExpectedAlert(BaseModel):
    """An alert a correct system raises for this patient between ``earliest`` and ``latest``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    patient: PatientId
    rule: RuleKey
    earliest: Offset = timedelta(0)
    latest: Offset | None = None
    # For missing:<metric> alerts, the cause the engine should name (None: not checked).
    cause: MissingCause | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ExpectedAlert:
        if self.latest is not None and self.latest < self.earliest:
            raise ValueError(f"latest ({self.latest}) is before earliest ({self.earliest})")
        return self


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ScenarioName
    description: str = ""
    duration: Duration
    sample_interval: Duration = timedelta(minutes=1)
    # Fixed start for fully reproducible timestamps; None: the caller supplies one.
    start: AwareDatetime | None = None
    patients: tuple[PatientSpec, ...]
    device_faults: tuple[DeviceFault, ...] = ()
    gateway_outages: tuple[GatewayOutage, ...] = ()
    # None: derived from the events and outages (``expected``); [] states "no alert at all".
    expected_alerts: tuple[ExpectedAlert, ...] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems: list[str] = []
        if not self.patients:
            problems.append("patients: a scenario needs at least one patient")
        for kind, ids in (
            ("patient", [p.id for p in self.patients]),
            ("device", [d.id for p in self.patients for d in p.device_list]),
        ):
            problems += [
                f"{kind} id {i!r} is used {n} times" for i, n in Counter(ids).items() if n > 1
            ]
        devices = {d.id for p in self.patients for d in p.device_list}
        gateways = {p.gateway_id for p in self.patients}
        patients = {p.id for p in self.patients}
        for i, fault in enumerate(self.device_faults):
            if fault.device not in devices:
                problems.append(
                    f"device_faults[{i}] names unknown device {fault.device!r} "
                    f"(known: {', '.join(sorted(devices))})"
                )
        for i, outage in enumerate(self.gateway_outages):
            if outage.gateway not in gateways:
                problems.append(
                    f"gateway_outages[{i}] names unknown gateway {outage.gateway!r} "
                    f"(known: {', '.join(sorted(gateways))})"
                )
        for i, expected in enumerate(self.expected_alerts or ()):
            if expected.patient not in patients:
                problems.append(f"expected_alerts[{i}] names unknown patient {expected.patient!r}")
        windows = [
            (f"patients[{p}].events[{e}]", event.start)
            for p, spec in enumerate(self.patients)
            for e, event in enumerate(spec.events)
        ]
        windows += [(f"device_faults[{i}]", f.start) for i, f in enumerate(self.device_faults)]
        windows += [(f"gateway_outages[{i}]", o.start) for i, o in enumerate(self.gateway_outages)]
        problems += [
            f"{where} starts at {start}, after the scenario ends at {self.duration}"
            for where, start in windows
            if start >= self.duration
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def patient_spec(self, patient_id: str) -> PatientSpec:
        for spec in self.patients:
            if spec.id == patient_id:
                return spec
        raise KeyError(f"scenario {self.name!r} has no patient {patient_id!r}")

    def build_patients(self, start: datetime | None = None) -> tuple[Patient, ...]:
        """The patients, with event offsets counted from ``start`` (default: the file's)."""
        origin = start if start is not None else self.start
        if origin is None:
            raise ValueError(f"scenario {self.name!r} has no start time; pass one")
        return tuple(spec.build(origin) for spec in self.patients)

    def faults_for(self, device_id: str, offset: timedelta) -> tuple[DeviceFault, ...]:
        """The faults a device suffers at an offset from the scenario start."""
        return tuple(f for f in self.device_faults if f.device == device_id and f.active(offset))

    def gateway_offline(self, gateway_id: str, offset: timedelta) -> bool:
        return any(o.gateway == gateway_id and o.active(offset) for o in self.gateway_outages)

    def expected(self) -> tuple[ExpectedAlert, ...]:
        """The alerts a correct system raises: as listed, or derived when none are listed.

        Derived, against each patient's rule set and the metrics their devices measure:
        each event's consequences (``consequences.py``) between its start and end (sustained
        events: any time after their start); and ``missing:<metric>`` for every scheduled
        metric that a gateway outage (cause ``gateway_offline``), a silent device or a dropped
        connection silences for longer than the rule's interval plus grace plus one
        measurement interval.
        """
        if self.expected_alerts is not None:
            return self.expected_alerts
        derived: list[ExpectedAlert] = []
        for spec in self.patients:
            derived += self._expected_for(spec)
        return tuple(derived)

    def _expected_for(self, spec: PatientSpec) -> list[ExpectedAlert]:
        rules = spec.ruleset()
        baselines = spec.resolved_baselines()
        intervals = spec.intervals(self.sample_interval)
        found: list[ExpectedAlert] = []
        for event in spec.events:
            latest = None if event.sustained else event.end
            found += [
                ExpectedAlert(patient=spec.id, rule=rule, earliest=event.start, latest=latest)
                for rule in sorted(event_alerts(event, baselines, rules, intervals))
            ]
        silences: list[tuple[timedelta, timedelta, frozenset[Metric], MissingCause | None]] = [
            (o.start, o.duration, frozenset(intervals), MissingCause.GATEWAY_OFFLINE)
            for o in self.gateway_outages
            if o.gateway == spec.gateway_id
        ]
        devices = {d.id: d for d in spec.device_list}
        silences += [
            (f.start, f.duration or self.duration - f.start, frozenset(devices[f.device].metrics),
             None)
            for f in self.device_faults
            if isinstance(f, SilentDevice | ConnectionDrop) and f.device in devices
        ]
        for start, length, metrics, cause in silences:
            for metric, rule in sorted(rules.missing.items()):
                if metric not in metrics or metric not in intervals:
                    continue
                if length > rule.every + rule.grace + intervals[metric]:
                    found.append(ExpectedAlert(
                        patient=spec.id, rule=rule.rule_key, earliest=start,
                        latest=start + length, cause=cause,
                    ))
        return found
