"""Per-metric signal constants: noise layers, physiological limits, device resolution.

Noise is a sum of smooth layers (bounded-normal knots eased together, see ``noise.py``): a slow
drift over minutes to days and faster wander over seconds to minutes. Nothing is white noise --
SpO2 and pulse move second to second the way an averaging oximeter shows them.
"""

from __future__ import annotations

from vigil.metrics import CATALOGUE, Metric

# (SD in the metric's unit, knot spacing in seconds), slowest first.
NOISE_LAYERS: dict[Metric, tuple[tuple[float, float], ...]] = {
    Metric.SPO2: ((0.6, 1200.0), (0.4, 45.0), (0.15, 6.0)),
    Metric.PULSE_RATE: ((3.0, 900.0), (1.5, 30.0), (0.8, 5.0)),
    Metric.SYSTOLIC_BP: ((3.5, 14400.0), (2.5, 600.0), (1.5, 30.0)),
    # Diastolic also follows half the systolic noise (they correlate, r ≈ 0.6).
    Metric.DIASTOLIC_BP: ((2.0, 14400.0), (1.5, 600.0), (1.0, 30.0)),
    Metric.BODY_TEMPERATURE: ((0.1, 3600.0), (0.05, 300.0)),
    # The slow day-to-day weight layer's SD comes from the patient's traits.
    Metric.BODY_WEIGHT: ((0.1, 600.0),),
    Metric.RESPIRATORY_RATE: ((1.0, 1800.0), (0.7, 60.0)),
    # Glucose: SDs at a 5.5 mmol/L baseline, scaled with the patient's baseline (variability
    # grows with the mean; a well person's glucose rarely leaves 4-8 mmol/L).
    Metric.BLOOD_GLUCOSE: ((0.3, 7200.0), (0.1, 600.0)),
    # Heart rate is the pulse plus the small disagreement between two sensors.
    Metric.HEART_RATE: ((0.8, 5.0),),
}
DIASTOLIC_FOLLOWS_SYSTOLIC = 0.5
GLUCOSE_NOISE_REFERENCE = 5.5
WEIGHT_DAY_PERIOD = 86400.0
# Keep diastolic below systolic whatever events and noise do.
MIN_PULSE_PRESSURE = 10.0

# Limits a living patient's signal stays within; always inside the catalogue's plausible range
# (glucose meters read "HI" above 33.3 and "LO" below 1.1 mmol/L).
LIMITS: dict[Metric, tuple[float, float]] = {
    Metric.SPO2: (50.0, 100.0),
    Metric.PULSE_RATE: (30.0, 220.0),
    Metric.HEART_RATE: (30.0, 220.0),
    Metric.SYSTOLIC_BP: (60.0, 250.0),
    Metric.DIASTOLIC_BP: (30.0, 150.0),
    Metric.MEAN_ARTERIAL_PRESSURE: (40.0, 200.0),
    Metric.BODY_TEMPERATURE: (34.0, 42.0),
    Metric.BODY_WEIGHT: (25.0, 300.0),
    Metric.BMI: (10.0, 80.0),
    Metric.RESPIRATORY_RATE: (4.0, 60.0),
    Metric.BLOOD_GLUCOSE: (1.1, 33.3),
}


def default_resolution(metric: Metric) -> float:
    """What devices report: integer SpO2, pulse and mmHg; 0.1 °C, 0.1 kg, 0.1 mmol/L."""
    return float(10.0 ** -CATALOGUE[metric].decimals)


def clamp(metric: Metric, value: float) -> float:
    low, high = LIMITS[metric]
    return min(high, max(low, value))


def quantise(value: float, resolution: float) -> float:
    if resolution <= 0.0:
        raise ValueError(f"resolution must be positive, got {resolution}")
    # The outer round strips binary noise (36.800000000000004 -> 36.8).
    return round(round(value / resolution) * resolution, 9)
