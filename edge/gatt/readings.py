"""From decoded measurements to contract readings (`vigil.messages.Reading`).

Every value is converted to its catalogue unit, carries the device's own status bits as
QualityFlags, keeps the device's timestamp as `device_time` (the reading id's key, so re-fetched
records get the same id) and takes `measured_at` from the caller's corrected UTC estimate
(default: the receipt time).

Nothing is dropped silently: a value that cannot become a reading (NaN / NRes / reserved,
+-INFINITY, an unsuccessful weighing, a glucose control-solution test) is listed in
`Conversion.skipped` with the reason. Intermediate Cuff Pressure and Intermediate Temperature are
progress values shown while a measurement runs, not clinical results: they produce no readings
(one skipped entry says so).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from edge.gatt.blood_pressure import BloodPressureMeasurement, IntermediateCuffPressure
from edge.gatt.glucose import GlucoseMeasurement
from edge.gatt.heart_rate import HeartRateMeasurement
from edge.gatt.pulse_oximetry import PlxContinuous, PlxSpotCheck
from edge.gatt.temperature import IntermediateTemperature, TemperatureMeasurement
from edge.gatt.weight import WeightMeasurement
from vigil.messages import Origin, Reading
from vigil.metrics import Metric
from vigil.quality import QualityFlag

Measurement = (
    BloodPressureMeasurement
    | IntermediateCuffPressure
    | PlxSpotCheck
    | PlxContinuous
    | HeartRateMeasurement
    | TemperatureMeasurement
    | IntermediateTemperature
    | WeightMeasurement
    | GlucoseMeasurement
)

MMHG_PER_KPA = 7.50062
KG_PER_LB = 0.45359237
MG_PER_DL_PER_KG_PER_L = 1e5
MG_PER_DL_PER_MMOL_PER_L = 18.016  # molar mass of glucose / 10 (as the spec's guidance)
MMOL_PER_MOL = 1000.0


@dataclass(frozen=True, slots=True)
class SkippedValue:
    metric: Metric | None
    reason: str


@dataclass(frozen=True, slots=True)
class Conversion:
    readings: tuple[Reading, ...] = ()
    skipped: tuple[SkippedValue, ...] = ()


@dataclass(slots=True)
class _Builder:
    device_id: str
    received_at: datetime
    measured_at: datetime
    device_time: datetime | None
    sequence: int | None
    origin: Origin
    quality: frozenset[QualityFlag]
    readings: list[Reading] = field(default_factory=list)
    skipped: list[SkippedValue] = field(default_factory=list)

    def add(self, metric: Metric, value: float | None, scale: float = 1.0) -> None:
        if value is None:
            self.skipped.append(SkippedValue(metric, "no value (NaN, NRes or reserved)"))
            return
        if not math.isfinite(value):
            self.skipped.append(SkippedValue(metric, f"{value} (outside the device's range)"))
            return
        self.readings.append(
            Reading.create(
                device_id=self.device_id,
                metric=metric,
                value=value * scale,
                measured_at=self.measured_at,
                received_at=self.received_at,
                device_time=self.device_time,
                sequence=self.sequence,
                quality=self.quality,
                origin=self.origin,
            )
        )

    def skip(self, metric: Metric | None, reason: str) -> None:
        self.skipped.append(SkippedValue(metric, reason))

    def result(self) -> Conversion:
        return Conversion(tuple(self.readings), tuple(self.skipped))


def _flags(names: Iterable[str]) -> frozenset[QualityFlag]:
    return frozenset(QualityFlag(name) for name in names)


def convert(
    measurement: Measurement,
    *,
    device_id: str,
    received_at: datetime,
    measured_at: datetime | None = None,
    sequence: int | None = None,
    origin: Origin = Origin.LIVE,
) -> Conversion:
    """Readings (and skipped values) of one decoded measurement.

    `sequence` defaults to the glucose record's sequence number. A PLX spot-check whose device
    clock is not set has no trustworthy `device_time`: it is dropped (so the id keys on
    `measured_at`) and the readings carry CLOCK_UNRELIABLE.
    """
    quality: frozenset[QualityFlag] = frozenset()
    device_time = None if isinstance(measurement, HeartRateMeasurement) else measurement.timestamp
    if isinstance(measurement, BloodPressureMeasurement | IntermediateCuffPressure):
        quality = _flags(measurement.status_flags)
    elif isinstance(measurement, PlxSpotCheck | PlxContinuous):
        quality = _flags(measurement.status_flags)
        if isinstance(measurement, PlxSpotCheck) and measurement.device_clock_not_set:
            device_time = None
            quality |= {QualityFlag.CLOCK_UNRELIABLE}
    elif isinstance(measurement, HeartRateMeasurement):
        if measurement.sensor_contact is False:
            quality = frozenset({QualityFlag.NO_SENSOR_CONTACT})
    elif isinstance(measurement, GlucoseMeasurement):
        quality = _flags(measurement.sensor_status or ())
        if sequence is None:
            sequence = measurement.sequence_number
    build = _Builder(
        device_id=device_id,
        received_at=received_at,
        measured_at=received_at if measured_at is None else measured_at,
        device_time=device_time,
        sequence=sequence,
        origin=origin,
        quality=quality,
    )
    if isinstance(measurement, IntermediateCuffPressure | IntermediateTemperature):
        build.skip(None, "intermediate value shown during a measurement, not a result")
    elif isinstance(measurement, BloodPressureMeasurement):
        scale = MMHG_PER_KPA if measurement.unit == "kPa" else 1.0
        build.add(Metric.SYSTOLIC_BP, measurement.systolic, scale)
        build.add(Metric.DIASTOLIC_BP, measurement.diastolic, scale)
        build.add(Metric.MEAN_ARTERIAL_PRESSURE, measurement.mean_arterial_pressure, scale)
        if measurement.pulse_rate is not None:
            build.add(Metric.PULSE_RATE, measurement.pulse_rate)
    elif isinstance(measurement, PlxSpotCheck | PlxContinuous):
        build.add(Metric.SPO2, measurement.spo2)
        build.add(Metric.PULSE_RATE, measurement.pulse_rate)
    elif isinstance(measurement, HeartRateMeasurement):
        build.add(Metric.HEART_RATE, float(measurement.heart_rate))
    elif isinstance(measurement, TemperatureMeasurement):
        _temperature(build, measurement)
    elif isinstance(measurement, WeightMeasurement):
        scale = KG_PER_LB if measurement.unit == "lb" else 1.0
        if measurement.weight is None:
            build.skip(Metric.BODY_WEIGHT, "the scale reported an unsuccessful measurement")
        else:
            build.add(Metric.BODY_WEIGHT, measurement.weight, scale)
        if measurement.bmi is not None:
            build.add(Metric.BMI, measurement.bmi)
    elif isinstance(measurement, GlucoseMeasurement):
        _glucose(build, measurement)
    else:  # pragma: no cover - the union above is exhaustive for type-checked callers
        raise TypeError(f"{type(measurement).__name__} is not a measurement")
    return build.result()


def _temperature(build: _Builder, measurement: TemperatureMeasurement) -> None:
    value = measurement.temperature
    if measurement.unit == "F" and value is not None:
        value = (value - 32.0) * 5.0 / 9.0
    build.add(Metric.BODY_TEMPERATURE, value)


def _glucose(build: _Builder, measurement: GlucoseMeasurement) -> None:
    if measurement.unit is None:
        build.skip(Metric.BLOOD_GLUCOSE, "the record carries no concentration")
        return
    if "control_solution" in (measurement.sample_type, measurement.sample_location):
        # A meter check with control solution is not the patient's blood glucose.
        build.skip(Metric.BLOOD_GLUCOSE, "control solution test, not a patient sample")
        return
    if measurement.unit == "kg/L":
        scale = MG_PER_DL_PER_KG_PER_L / MG_PER_DL_PER_MMOL_PER_L
    else:
        scale = MMOL_PER_MOL
    build.add(Metric.BLOOD_GLUCOSE, measurement.concentration, scale)


def to_readings(
    measurement: Measurement,
    *,
    device_id: str,
    received_at: datetime,
    measured_at: datetime | None = None,
    sequence: int | None = None,
    origin: Origin = Origin.LIVE,
) -> list[Reading]:
    """The readings of one measurement; see `convert` for what is skipped and why."""
    return list(
        convert(
            measurement,
            device_id=device_id,
            received_at=received_at,
            measured_at=measured_at,
            sequence=sequence,
            origin=origin,
        ).readings
    )
