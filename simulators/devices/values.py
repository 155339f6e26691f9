"""Where a device's measured values come from.

A `ValueSource` is any callable `(metric, true_time) -> value in the catalogue unit`; the
physiology model's `Patient.value_at` is one, `steady()` is the simplest. Devices ask at the
true time of the measurement (not their own, possibly wrong, clock) and round like their display.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from vigil.metrics import Metric

ValueSource = Callable[[Metric, datetime], float]

# A healthy adult at rest: the default when a test does not care about the values.
RESTING_ADULT: Mapping[Metric, float] = {
    Metric.SPO2: 97.0,
    Metric.PULSE_RATE: 72.0,
    Metric.HEART_RATE: 72.0,
    Metric.SYSTOLIC_BP: 124.0,
    Metric.DIASTOLIC_BP: 79.0,
    Metric.BODY_TEMPERATURE: 36.8,
    Metric.BODY_WEIGHT: 78.4,
    Metric.BLOOD_GLUCOSE: 5.6,
    Metric.RESPIRATORY_RATE: 14.0,
}


def steady(overrides: Mapping[Metric, float] | None = None) -> ValueSource:
    """The same value every time: RESTING_ADULT, with `overrides` on top."""
    table = {**RESTING_ADULT, **(overrides or {})}

    def value(metric: Metric, _t: datetime) -> float:
        if metric is Metric.MEAN_ARTERIAL_PRESSURE and metric not in table:
            return mean_arterial(table[Metric.SYSTOLIC_BP], table[Metric.DIASTOLIC_BP])
        try:
            return table[metric]
        except KeyError:
            raise KeyError(f"steady source has no value for {metric}") from None

    return value


def scripted(
    values: Mapping[Metric, list[float]], fallback: ValueSource | None = None
) -> ValueSource:
    """Each call for a metric returns its next listed value (the last one repeats); metrics not
    listed come from `fallback`. For tests that need specific readings in order."""
    queues = {metric: list(seq) for metric, seq in values.items()}
    rest = fallback or steady()

    def value(metric: Metric, t: datetime) -> float:
        queue = queues.get(metric)
        if not queue:
            return rest(metric, t)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return value


def mean_arterial(systolic: float, diastolic: float) -> float:
    """MAP as oscillometric cuffs estimate it: diastolic + a third of the pulse pressure."""
    return diastolic + (systolic - diastolic) / 3
