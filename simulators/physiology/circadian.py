"""The daily rhythm: what each signal does over a 24-hour local day.

Shapes follow well-known physiology: blood pressure and pulse fall during sleep (nocturnal
dipping), core temperature peaks in the late afternoon and troughs before dawn, saturation and
breathing rate dip a little asleep, glucose rises after meals, and weight is lowest in the
morning and highest in the evening.
"""

from __future__ import annotations

import math

from simulators.physiology.baselines import Baselines, Traits
from simulators.physiology.noise import smootherstep
from vigil.metrics import Metric

_TEMPERATURE_AMPLITUDE = 0.3  # °C either side of the mean
_TEMPERATURE_PEAK_HOUR = 17.0
_WEIGHT_AMPLITUDE = 0.3  # kg
_WEIGHT_PEAK_HOUR = 20.0
_RESP_DIP = 1.5  # breaths/min asleep
_MEAL_PEAK_HOURS = 0.75  # glucose peaks ~45 min after eating
_MEAL_EFFECT_HOURS = 8.0
_SLEEP_RAMP_HOURS = 1.0


def local_hour(seconds: float, utc_offset_minutes: int) -> float:
    return ((seconds + utc_offset_minutes * 60.0) % 86400.0) / 3600.0


def sleep_level(hour: float, traits: Traits) -> float:
    """0 awake, 1 asleep, eased over an hour at either end."""
    since_onset = (hour - traits.sleep_onset_hour) % 24.0
    if since_onset < _SLEEP_RAMP_HOURS:
        return smootherstep(since_onset / _SLEEP_RAMP_HOURS)
    if since_onset < traits.sleep_hours:
        return 1.0
    return 1.0 - smootherstep((since_onset - traits.sleep_hours) / _SLEEP_RAMP_HOURS)


def _meal_bump(hours_since: float) -> float:
    # Gamma-shaped rise and fall, 1.0 at the peak.
    if hours_since <= 0.0 or hours_since >= _MEAL_EFFECT_HOURS:
        return 0.0
    x = hours_since / _MEAL_PEAK_HOURS
    return x * math.exp(1.0 - x)


def meal_hours(traits: Traits) -> tuple[float, float, float]:
    wake = (traits.sleep_onset_hour + traits.sleep_hours) % 24.0
    return ((wake + 1.0) % 24.0, 12.5, 18.5)


def _cosine(hour: float, peak_hour: float) -> float:
    return math.cos(2.0 * math.pi * (hour - peak_hour) / 24.0)


def rhythm_value(metric: Metric, hour: float, baselines: Baselines, traits: Traits) -> float:
    """The noise-free, event-free value of a primary signal at a local hour."""
    sleep = sleep_level(hour, traits)
    if metric is Metric.SPO2:
        return baselines.spo2 - traits.spo2_dip * sleep
    if metric is Metric.PULSE_RATE:
        return baselines.pulse_rate - traits.pulse_dip * sleep
    if metric is Metric.SYSTOLIC_BP:
        return baselines.systolic_bp * (1.0 - traits.bp_dip_fraction * sleep)
    if metric is Metric.DIASTOLIC_BP:
        return baselines.diastolic_bp * (1.0 - traits.bp_dip_fraction * sleep)
    if metric is Metric.BODY_TEMPERATURE:
        return baselines.body_temperature + _TEMPERATURE_AMPLITUDE * _cosine(
            hour, _TEMPERATURE_PEAK_HOUR
        )
    if metric is Metric.BODY_WEIGHT:
        return baselines.body_weight + _WEIGHT_AMPLITUDE * _cosine(hour, _WEIGHT_PEAK_HOUR)
    if metric is Metric.RESPIRATORY_RATE:
        return baselines.respiratory_rate - _RESP_DIP * sleep
    if metric is Metric.BLOOD_GLUCOSE:
        rise = sum(_meal_bump((hour - meal) % 24.0) for meal in meal_hours(traits))
        return baselines.blood_glucose + traits.meal_glucose_rise * rise
    raise ValueError(f"{metric} is derived, not a primary signal with its own rhythm")
