"""Scripted clinical events: time-bounded, composable changes to a patient's signals.

Every event has a start (offset from the patient's timeline origin) and a duration, and an
envelope: it eases in over ``onset``, holds, and eases out over ``recovery``, so outside
[start, start + duration) it changes nothing. A *sustained* event (weight gain: retained fluid
does not vanish on its own) eases in and then holds until a later ``recovery`` event brings the
patient back. Each event names the metrics it moves (``affects``) and where it takes them
(``peaks``); ``consequences.py`` turns that into the alert rule keys a correct engine raises,
unless the event states its own ``expected_alerts``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulators.physiology.alerts import RuleKey
from simulators.physiology.baselines import Baselines
from simulators.physiology.durations import Duration, Offset
from simulators.physiology.noise import smootherstep
from vigil.metrics import Metric

# Primary signals carry their own state; the others are computed from them.
PRIMARY: tuple[Metric, ...] = (
    Metric.SPO2,
    Metric.PULSE_RATE,
    Metric.SYSTOLIC_BP,
    Metric.DIASTOLIC_BP,
    Metric.BODY_TEMPERATURE,
    Metric.BODY_WEIGHT,
    Metric.RESPIRATORY_RATE,
    Metric.BLOOD_GLUCOSE,
)
DERIVED_FROM: dict[Metric, tuple[Metric, ...]] = {
    Metric.HEART_RATE: (Metric.PULSE_RATE,),
    Metric.MEAN_ARTERIAL_PRESSURE: (Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP),
    Metric.BMI: (Metric.BODY_WEIGHT,),
}


def with_derived(primary: Iterable[Metric]) -> frozenset[Metric]:
    """The primary metrics plus every metric computed from any of them."""
    moved = set(primary)
    moved.update(d for d, sources in DERIVED_FROM.items() if moved.intersection(sources))
    return frozenset(moved)


class EffectMode(StrEnum):
    DOWN_TO = "down_to"  # fall towards a target, never rise
    UP_TO = "up_to"  # rise towards a target, never fall
    ADD = "add"  # shift by an amount


@dataclass(frozen=True, slots=True)
class Effect:
    metric: Metric
    mode: EffectMode
    amount: float

    def apply(self, value: float, level: float) -> float:
        if self.mode is EffectMode.ADD:
            return value + level * self.amount
        gap = self.amount - value
        if self.mode is EffectMode.DOWN_TO:
            return value + level * min(0.0, gap)
        return value + level * max(0.0, gap)


# A typical adult, only to list which metrics an event moves independent of any patient.
_REFERENCE = Baselines(
    spo2=97.0, pulse_rate=72.0, systolic_bp=122.0, diastolic_bp=78.0, body_temperature=36.7,
    body_weight=75.0, height_m=1.72, respiratory_rate=14.0, blood_glucose=5.2,
)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Default onset and recovery as fractions of the duration.
    ONSET: ClassVar[float] = 0.3
    RECOVERY: ClassVar[float] = 0.3

    start: Offset
    duration: Duration
    onset: Offset | None = None
    recovery: Offset | None = None
    sustained: bool = False
    # None: worked out from the patient's rule set (``consequences.py``); an explicit set,
    # even an empty one, overrides that.
    expected_alerts: frozenset[RuleKey] | None = None

    @model_validator(mode="after")
    def _fits(self) -> _Event:
        if self.sustained and self.recovery:
            raise ValueError(
                "a sustained event holds its effect until a 'recovery' event; "
                "it takes no recovery of its own"
            )
        if self.onset_seconds + self.recovery_seconds > self.duration.total_seconds() + 1e-9:
            raise ValueError(
                f"onset ({self.onset_seconds:g}s) plus recovery ({self.recovery_seconds:g}s) "
                f"exceed the duration ({self.duration.total_seconds():g}s)"
            )
        return self

    @property
    def end(self) -> timedelta:
        return self.start + self.duration

    @property
    def onset_seconds(self) -> float:
        if self.onset is not None:
            return self.onset.total_seconds()
        return self.duration.total_seconds() * (1.0 if self.sustained else self.ONSET)

    @property
    def recovery_seconds(self) -> float:
        if self.sustained:
            return 0.0
        if self.recovery is not None:
            return self.recovery.total_seconds()
        return self.duration.total_seconds() * self.RECOVERY

    def _ease(self, x: float) -> float:
        return smootherstep(x)

    def level(self, offset_seconds: float) -> float:
        """How far the event has taken the patient at this offset: 0 none, 1 full effect."""
        since = offset_seconds - self.start.total_seconds()
        if since < 0.0:
            return 0.0
        onset = self.onset_seconds
        if since < onset:
            return self._ease(since / onset)
        if self.sustained:
            return 1.0
        duration = self.duration.total_seconds()
        if since >= duration:
            return 0.0
        recovery = self.recovery_seconds
        if since < duration - recovery:
            return 1.0
        return 1.0 - self._ease((since - (duration - recovery)) / recovery)

    def effects(self, baselines: Baselines) -> tuple[Effect, ...]:
        return ()

    @property
    def affects(self) -> frozenset[Metric]:
        return with_derived(e.metric for e in self.effects(_REFERENCE))

    def peaks(self, baselines: Baselines) -> dict[Metric, float]:
        """Where the event takes each metric it moves, at full effect from the baselines.

        Derived metrics follow their sources: heart rate the pulse, MAP the pressures, BMI
        the weight.
        """
        values = {m: float(getattr(baselines, m.value)) for m in PRIMARY}
        moved: set[Metric] = set()
        for effect in self.effects(baselines):
            values[effect.metric] = effect.apply(values[effect.metric], 1.0)
            moved.add(effect.metric)
        values[Metric.HEART_RATE] = values[Metric.PULSE_RATE]
        sbp, dbp = values[Metric.SYSTOLIC_BP], values[Metric.DIASTOLIC_BP]
        values[Metric.MEAN_ARTERIAL_PRESSURE] = dbp + (sbp - dbp) / 3.0
        values[Metric.BMI] = values[Metric.BODY_WEIGHT] / baselines.height_m**2
        return {m: values[m] for m in with_derived(moved)}


def _nonzero(*effects: Effect) -> tuple[Effect, ...]:
    return tuple(e for e in effects if e.mode is not EffectMode.ADD or e.amount != 0.0)


class Desaturation(_Event):
    """SpO2 falls to a nadir over minutes, pulse and breathing rise to compensate, then recover."""

    kind: Literal["desaturation"] = "desaturation"

    nadir_spo2: float = Field(84.0, ge=50.0, le=95.0)
    pulse_rise: float = Field(15.0, ge=0.0, le=60.0)
    resp_rise: float = Field(6.0, ge=0.0, le=20.0)

    def effects(self, baselines: Baselines) -> tuple[Effect, ...]:
        return _nonzero(
            Effect(Metric.SPO2, EffectMode.DOWN_TO, self.nadir_spo2),
            Effect(Metric.PULSE_RATE, EffectMode.ADD, self.pulse_rise),
            Effect(Metric.RESPIRATORY_RATE, EffectMode.ADD, self.resp_rise),
        )


class HypertensiveSpike(_Event):
    kind: Literal["hypertensive_spike"] = "hypertensive_spike"

    systolic: float = Field(185.0, ge=140.0, le=240.0)
    diastolic: float = Field(115.0, ge=80.0, le=140.0)
    pulse_rise: float = Field(5.0, ge=0.0, le=40.0)

    def effects(self, baselines: Baselines) -> tuple[Effect, ...]:
        return _nonzero(
            Effect(Metric.SYSTOLIC_BP, EffectMode.UP_TO, self.systolic),
            Effect(Metric.DIASTOLIC_BP, EffectMode.UP_TO, self.diastolic),
            Effect(Metric.PULSE_RATE, EffectMode.ADD, self.pulse_rise),
        )


class Fever(_Event):
    """Temperature up; pulse up about 10/min per °C (Liebermeister's rule); breathing up."""

    kind: Literal["fever"] = "fever"

    peak_temperature: float = Field(39.0, ge=37.5, le=41.5)
    pulse_per_degree: float = Field(10.0, ge=0.0, le=20.0)
    resp_rise: float = Field(3.0, ge=0.0, le=10.0)

    def effects(self, baselines: Baselines) -> tuple[Effect, ...]:
        degrees = max(0.0, self.peak_temperature - baselines.body_temperature)
        return _nonzero(
            Effect(Metric.BODY_TEMPERATURE, EffectMode.UP_TO, self.peak_temperature),
            Effect(Metric.PULSE_RATE, EffectMode.ADD, self.pulse_per_degree * degrees),
            Effect(Metric.RESPIRATORY_RATE, EffectMode.ADD, self.resp_rise),
        )


class WeightGain(_Event):
    """Fluid retention in heart-failure decompensation: e.g. +2.5 kg over 3 days.

    Sustained by default: the weight stays up until a recovery event (diuresis).
    """

    kind: Literal["weight_gain"] = "weight_gain"

    sustained: bool = True
    gain_kg: float = Field(2.5, ge=0.1, le=20.0)

    def _ease(self, x: float) -> float:
        # Fluid accumulates roughly linearly day on day.
        return min(1.0, max(0.0, x))

    def effects(self, baselines: Baselines) -> tuple[Effect, ...]:
        return (Effect(Metric.BODY_WEIGHT, EffectMode.ADD, self.gain_kg),)


class Hypotension(_Event):
    kind: Literal["hypotension"] = "hypotension"

    systolic: float = Field(85.0, ge=60.0, le=100.0)
    diastolic: float = Field(50.0, ge=30.0, le=65.0)
    pulse_rise: float = Field(20.0, ge=0.0, le=50.0)

    def effects(self, baselines: Baselines) -> tuple[Effect, ...]:
        return _nonzero(
            Effect(Metric.SYSTOLIC_BP, EffectMode.DOWN_TO, self.systolic),
            Effect(Metric.DIASTOLIC_BP, EffectMode.DOWN_TO, self.diastolic),
            Effect(Metric.PULSE_RATE, EffectMode.ADD, self.pulse_rise),
        )


class Tachycardia(_Event):
    kind: Literal["tachycardia"] = "tachycardia"

    rate: float = Field(140.0, ge=100.0, le=200.0)

    def effects(self, baselines: Baselines) -> tuple[Effect, ...]:
        return (Effect(Metric.PULSE_RATE, EffectMode.UP_TO, self.rate),)


class Hypoglycaemia(_Event):
    """Glucose falls; the adrenergic response raises the pulse."""

    kind: Literal["hypoglycaemia"] = "hypoglycaemia"

    glucose: float = Field(2.8, ge=1.5, le=3.9)
    pulse_rise: float = Field(15.0, ge=0.0, le=40.0)

    def effects(self, baselines: Baselines) -> tuple[Effect, ...]:
        return _nonzero(
            Effect(Metric.BLOOD_GLUCOSE, EffectMode.DOWN_TO, self.glucose),
            Effect(Metric.PULSE_RATE, EffectMode.ADD, self.pulse_rise),
        )


class Hyperglycaemia(_Event):
    kind: Literal["hyperglycaemia"] = "hyperglycaemia"

    glucose: float = Field(18.0, ge=11.0, le=30.0)

    def effects(self, baselines: Baselines) -> tuple[Effect, ...]:
        return (Effect(Metric.BLOOD_GLUCOSE, EffectMode.UP_TO, self.glucose),)


class Recovery(_Event):
    """Return to baseline: over its duration, undoes every event that started before it.

    ``metrics`` limits it to some metrics (e.g. only body_weight after diuresis); derived
    metrics follow their sources.
    """

    kind: Literal["recovery"] = "recovery"
    ONSET = 1.0
    RECOVERY = 0.0

    metrics: frozenset[Metric] | None = None

    @model_validator(mode="after")
    def _plain(self) -> Recovery:
        if self.onset is not None or self.recovery is not None or self.sustained:
            raise ValueError(
                "a recovery eases back over its whole duration; it takes no onset, recovery "
                "or sustained"
            )
        return self

    def progress(self, offset_seconds: float) -> float:
        """0 before it starts, easing to 1 at its end and after."""
        since = offset_seconds - self.start.total_seconds()
        return smootherstep(since / self.duration.total_seconds())

    def restores(self, metric: Metric) -> bool:
        return self.metrics is None or metric in with_derived(self.metrics)

    @property
    def affects(self) -> frozenset[Metric]:
        return frozenset(Metric) if self.metrics is None else with_derived(self.metrics)


Event = Annotated[
    Desaturation
    | HypertensiveSpike
    | Fever
    | WeightGain
    | Hypotension
    | Tachycardia
    | Hypoglycaemia
    | Hyperglycaemia
    | Recovery,
    Field(discriminator="kind"),
]
