"""Where a simulated device's numbers come from.

`physiology` asks the patient model (baselines, daily rhythm, noise, scripted events, artefact
episodes with their status flags) -- the realistic default, at roughly 50-100 us per value.
`flat` is for pure load generation: the patient's baseline plus a cheap deterministic wobble,
several times faster, with no events and no artefacts. Scenario patients always use physiology:
their events are the point of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from simulators.physiology import signals
from simulators.physiology.baselines import Baselines
from simulators.physiology.noise import bounded_normal, stream_id
from simulators.physiology.patient import Patient
from vigil.metrics import Metric
from vigil.quality import QualityFlag


class ValueModel(StrEnum):
    PHYSIOLOGY = "physiology"
    FLAT = "flat"


Sample = tuple[float, frozenset[QualityFlag]]
Sampler = Callable[[Metric, datetime], Sample]

_FLAT_SD: dict[Metric, float] = {
    Metric.SPO2: 0.7,
    Metric.PULSE_RATE: 3.0,
    Metric.HEART_RATE: 3.0,
    Metric.SYSTOLIC_BP: 5.0,
    Metric.DIASTOLIC_BP: 3.0,
    Metric.MEAN_ARTERIAL_PRESSURE: 3.0,
    Metric.BODY_TEMPERATURE: 0.1,
    Metric.BODY_WEIGHT: 0.2,
    Metric.BMI: 0.1,
    Metric.RESPIRATORY_RATE: 1.0,
    Metric.BLOOD_GLUCOSE: 0.3,
}


def _baseline(b: Baselines, metric: Metric) -> float:
    if metric in (Metric.PULSE_RATE, Metric.HEART_RATE):
        return b.pulse_rate
    if metric is Metric.MEAN_ARTERIAL_PRESSURE:
        return b.diastolic_bp + (b.systolic_bp - b.diastolic_bp) / 3.0
    if metric is Metric.BMI:
        return b.bmi
    return float(getattr(b, metric.value))


def sampler(patient: Patient, model: ValueModel) -> Sampler:
    """A function (metric, time) -> (value at device resolution, status flags)."""
    if model is ValueModel.PHYSIOLOGY:

        def physiological(metric: Metric, t: datetime) -> Sample:
            sample = patient.sample(metric, t)
            return sample.value, sample.flags

        return physiological

    no_flags: frozenset[QualityFlag] = frozenset()
    # Per metric: (baseline, wobble sd, noise stream, resolution, low, high) -- what
    # signals.clamp and signals.quantise use, looked up once (this runs per reading).
    plan = {
        m: (_baseline(patient.baselines, m), _FLAT_SD[m],
            stream_id(patient.seed, f"flat:{m.value}"), signals.default_resolution(m),
            *signals.LIMITS[m])
        for m in Metric
    }

    def flat(metric: Metric, t: datetime) -> Sample:
        base, sd, stream, step, low, high = plan[metric]
        value = min(high, max(low, base + sd * bounded_normal(stream, int(t.timestamp()))))
        return round(round(value / step) * step, 9), no_flags

    return flat
