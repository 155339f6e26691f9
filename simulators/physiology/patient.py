"""A simulated patient: baselines, traits and scripted events -> a value for any metric at any time.

Everything is a pure function of (seed, metric, time): no shared random stream, no clock read.
Asking for 10:00 before 09:00, or from two processes, gives the same numbers.

Noise and artefact episodes are keyed by the offset from the patient's ``origin`` (the scenario
start), not by the calendar: a scenario replayed tomorrow produces the same numbers at the same
offsets, and only the daily rhythm -- which follows the local clock -- moves with the start's
time of day. That makes "the stable scenario raises nothing" checkable for every start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
)

from simulators.physiology import signals
from simulators.physiology.baselines import (
    Baselines,
    Condition,
    Traits,
    draw_baselines,
    draw_traits,
)
from simulators.physiology.circadian import local_hour, rhythm_value
from simulators.physiology.consequences import event_alerts, rules_for
from simulators.physiology.events import PRIMARY, Effect, Event, Recovery, _Event
from simulators.physiology.noise import smooth_noise, stream_id
from simulators.physiology.quality import QualityHint, active_hints, distortion, suggested_flags
from vigil.metrics import Metric
from vigil.quality import QualityFlag
from vigil.rules import RuleSet

_T = TypeVar("_T")
PatientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class NaiveTimeError(ValueError):
    """A time without a timezone: the simulator cannot know which instant it means."""

    def __init__(self, t: datetime) -> None:
        super().__init__(f"time {t.isoformat()} has no timezone; pass an aware datetime (UTC)")


@dataclass(frozen=True, slots=True)
class Sample:
    """One measurement as a device would take it, with hints for its status flags."""

    metric: Metric
    time: datetime
    value: float  # quantised, including any artefact
    true_value: float  # the clean physiological value, unquantised
    hints: frozenset[QualityHint]

    @property
    def flags(self) -> frozenset[QualityFlag]:
        return suggested_flags(self.metric, self.hints)


@dataclass(frozen=True, slots=True)
class _Step:
    event: _Event
    effect: Effect
    recoveries: tuple[Recovery, ...]


def _drawn(data: dict[str, Any], draw: Callable[[int, Condition], _T]) -> _T:
    # Fields are validated in order, so seed and condition are here (pydantic skips the
    # factory and reports the real error when either failed).
    return draw(data["seed"], data["condition"])


def _seconds(t: datetime) -> float:
    if t.tzinfo is None or t.utcoffset() is None:
        raise NaiveTimeError(t)
    return t.timestamp()


class Patient(BaseModel):
    """A patient whose signals follow baselines, a daily rhythm, noise and scripted events.

    ``origin`` is the instant event offsets count from (the scenario start). Baselines and
    traits are drawn from ``seed`` and ``condition`` unless given.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: PatientId
    seed: int = Field(ge=0, lt=2**63)
    condition: Condition = Condition.GENERAL_ADULT
    origin: AwareDatetime
    baselines: Baselines = Field(default_factory=lambda data: _drawn(data, draw_baselines))
    traits: Traits = Field(default_factory=lambda data: _drawn(data, draw_traits))
    events: tuple[Event, ...] = ()
    utc_offset_minutes: int = Field(0, ge=-14 * 60, le=14 * 60)

    _plan: dict[Metric, tuple[_Step, ...]] = PrivateAttr(default_factory=dict)
    _noise: dict[Metric, tuple[tuple[int, float, float], ...]] = PrivateAttr(default_factory=dict)
    _origin_s: float = PrivateAttr(0.0)

    def model_post_init(self, context: Any, /) -> None:
        self._origin_s = self.origin.timestamp()
        ordered = sorted(enumerate(self.events), key=lambda pair: (pair[1].start, pair[0]))
        recoveries = [(i, e) for i, e in ordered if isinstance(e, Recovery)]
        plan: dict[Metric, list[_Step]] = {m: [] for m in PRIMARY}
        for index, event in ordered:
            for effect in event.effects(self.baselines):
                undo = tuple(
                    r for j, r in recoveries
                    if (r.start, j) > (event.start, index) and r.restores(effect.metric)
                )
                plan[effect.metric].append(_Step(event, effect, undo))
        self._plan = {m: tuple(steps) for m, steps in plan.items()}
        layers = dict(signals.NOISE_LAYERS)
        glucose_scale = self.baselines.blood_glucose / signals.GLUCOSE_NOISE_REFERENCE
        layers[Metric.BLOOD_GLUCOSE] = tuple(
            (sd * glucose_scale, period) for sd, period in layers[Metric.BLOOD_GLUCOSE]
        )
        layers[Metric.BODY_WEIGHT] = (
            (self.traits.weight_fluctuation_kg, signals.WEIGHT_DAY_PERIOD),
            *layers[Metric.BODY_WEIGHT],
        )
        self._noise = {
            metric: tuple(
                (stream_id(self.seed, f"noise:{metric.value}:{i}"), sd, period)
                for i, (sd, period) in enumerate(specs)
            )
            for metric, specs in layers.items()
        }

    # -- public ------------------------------------------------------------------------------

    def value_at(self, metric: Metric | str, t: datetime, resolution: float | None = None) -> float:
        """The clean value a device would report at ``t``, quantised to its resolution."""
        metric = Metric(metric)
        step = signals.default_resolution(metric) if resolution is None else resolution
        return signals.quantise(self.true_value(metric, t), step)

    def sample(self, metric: Metric | str, t: datetime, resolution: float | None = None) -> Sample:
        """A measurement at ``t``: the value including motion/perfusion artefacts, and hints."""
        metric = Metric(metric)
        s = _seconds(t)
        hints = active_hints(self.seed, self.traits, metric, s - self._origin_s)
        true = self._true(metric, s)
        measured = self._measured(metric, s, hints) if hints else true
        step = signals.default_resolution(metric) if resolution is None else resolution
        return Sample(metric, t, signals.quantise(measured, step), true, hints)

    def true_value(self, metric: Metric | str, t: datetime) -> float:
        """The physiological value at ``t``, unquantised and free of artefact."""
        return self._true(Metric(metric), _seconds(t))

    def expected_alerts(
        self, ruleset: RuleSet | None = None, measured: Iterable[Metric] | None = None
    ) -> frozenset[str]:
        """The rule keys the events should raise under ``ruleset`` (default: the condition's
        default rule set), counting only ``measured`` metrics (default: all)."""
        rules = rules_for(self.condition) if ruleset is None else ruleset
        seen = None if measured is None else frozenset(measured)
        return frozenset().union(
            *(event_alerts(event, self.baselines, rules, seen) for event in self.events)
        )

    # -- internals ---------------------------------------------------------------------------

    def _noise_at(self, metric: Metric, s: float) -> float:
        offset = s - self._origin_s
        layers = self._noise[metric]
        return sum(sd * smooth_noise(stream, offset, period) for stream, sd, period in layers)

    def _state(self, metric: Metric, s: float) -> float:
        """Rhythm, then events in start order, then noise."""
        hour = local_hour(s, self.utc_offset_minutes)
        value = rhythm_value(metric, hour, self.baselines, self.traits)
        offset = s - self._origin_s
        for step in self._plan[metric]:
            level = step.event.level(offset)
            if level == 0.0:
                continue
            for recovery in step.recoveries:
                level *= 1.0 - recovery.progress(offset)
            value = step.effect.apply(value, level)
        return value + self._noise_at(metric, s)

    def _blood_pressure(
        self, s: float, systolic_shift: float = 0.0, diastolic_shift: float = 0.0
    ) -> tuple[float, float]:
        """Systolic and diastolic together: they share noise and must keep a pulse pressure."""
        shared = signals.DIASTOLIC_FOLLOWS_SYSTOLIC * self._noise_at(Metric.SYSTOLIC_BP, s)
        systolic = signals.clamp(
            Metric.SYSTOLIC_BP, self._state(Metric.SYSTOLIC_BP, s) + systolic_shift
        )
        diastolic = signals.clamp(
            Metric.DIASTOLIC_BP, self._state(Metric.DIASTOLIC_BP, s) + shared + diastolic_shift
        )
        return systolic, min(diastolic, systolic - signals.MIN_PULSE_PRESSURE)

    def _true(self, metric: Metric, s: float) -> float:
        if metric is Metric.SYSTOLIC_BP:
            return self._blood_pressure(s)[0]
        if metric is Metric.DIASTOLIC_BP:
            return self._blood_pressure(s)[1]
        if metric is Metric.MEAN_ARTERIAL_PRESSURE:
            return _mean_arterial(*self._blood_pressure(s))
        if metric is Metric.HEART_RATE:
            pulse = self._state(Metric.PULSE_RATE, s) + self._noise_at(Metric.HEART_RATE, s)
            return signals.clamp(metric, pulse)
        if metric is Metric.BMI:
            weight = self._true(Metric.BODY_WEIGHT, s)
            return signals.clamp(metric, weight / self.baselines.height_m**2)
        return signals.clamp(metric, self._state(metric, s))

    def _measured(self, metric: Metric, s: float, hints: frozenset[QualityHint]) -> float:
        if metric in (Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.MEAN_ARTERIAL_PRESSURE):
            systolic, diastolic = self._blood_pressure(
                s,
                distortion(self.seed, Metric.SYSTOLIC_BP, hints, s - self._origin_s),
                distortion(self.seed, Metric.DIASTOLIC_BP, hints, s - self._origin_s),
            )
            if metric is Metric.SYSTOLIC_BP:
                return systolic
            if metric is Metric.DIASTOLIC_BP:
                return diastolic
            return _mean_arterial(systolic, diastolic)
        shift = distortion(self.seed, metric, hints, s - self._origin_s)
        return signals.clamp(metric, self._true(metric, s) + shift)


def _mean_arterial(systolic: float, diastolic: float) -> float:
    # The oscillometric convention for a non-invasive cuff without a measured mean.
    return signals.clamp(
        Metric.MEAN_ARTERIAL_PRESSURE, diastolic + (systolic - diastolic) / 3.0
    )
