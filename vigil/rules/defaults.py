"""Starting rule sets per condition; clinicians tailor them per patient with overrides.

They are conservative starting points for home monitoring, not clinical advice; every figure
can be overridden per patient (vigil.rules.overrides). Sources:
- SpO2 targets: BTS 2017 oxygen guideline (94-98 % generally, 88-92 % at risk of hypercapnic
  respiratory failure); bands below follow NEWS2's SpO2 scales.
- Pulse, respiration, temperature, systolic BP: NEWS2 (RCP 2017) parameter bands, alerting
  where a parameter would score 2-3.
- Heart failure weight: "more than 2 kg in 3 days" (ESC heart failure self-care advice).
- Hypertension: NICE NG136 home averages (vigil.rules.bp_average).
"""

from __future__ import annotations

from datetime import timedelta

from vigil.metrics import Metric
from vigil.rules.config import (
    BpAverageRule,
    Condition,
    Limit,
    MissingDataRule,
    News2Rule,
    RuleSet,
    ThresholdRule,
    TrendLimit,
    TrendRule,
)
from vigil.rules.evaluation import Severity

LOW, MEDIUM, HIGH = Severity.LOW, Severity.MEDIUM, Severity.HIGH
SECONDS, MINUTES, HOURS = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)


def _spo2(target_low: int) -> ThresholdRule:
    # Sustained 15 s against probe artefacts; far below target fires without delay.
    if target_low >= 94:  # Scale 1: target 94-98 %
        limits = [Limit(op="<", value=94, severity=LOW), Limit(op="<", value=92, severity=MEDIUM),
                  Limit(op="<", value=88, severity=HIGH),
                  Limit(op="<", value=85, severity=HIGH, immediate=True)]
    else:  # Scale 2: target 88-92 %
        limits = [Limit(op="<", value=88, severity=LOW), Limit(op="<", value=86, severity=MEDIUM),
                  Limit(op="<", value=84, severity=HIGH),
                  Limit(op="<", value=80, severity=HIGH, immediate=True)]
    return ThresholdRule(metric=Metric.SPO2, limits=limits, hysteresis=1, sustain=15 * SECONDS)


def _pulse(metric: Metric) -> ThresholdRule:
    return ThresholdRule(
        metric=metric,
        limits=[Limit(op="<=", value=40, severity=HIGH), Limit(op="<=", value=50, severity=LOW),
                Limit(op=">=", value=111, severity=MEDIUM),
                Limit(op=">=", value=131, severity=HIGH)],
        hysteresis=5, sustain=15 * SECONDS,
    )


def _respiration() -> ThresholdRule:
    return ThresholdRule(
        metric=Metric.RESPIRATORY_RATE,
        limits=[Limit(op="<=", value=8, severity=HIGH), Limit(op=">=", value=21, severity=MEDIUM),
                Limit(op=">=", value=25, severity=HIGH)],
        hysteresis=1,
    )


def _temperature() -> ThresholdRule:
    return ThresholdRule(
        metric=Metric.BODY_TEMPERATURE,
        limits=[Limit(op="<=", value=35.0, severity=HIGH),
                Limit(op=">=", value=38.1, severity=LOW),
                Limit(op=">=", value=39.1, severity=MEDIUM)],
        hysteresis=0.2,
    )


def _systolic(*, high_side: bool) -> ThresholdRule:
    limits = [Limit(op="<=", value=90, severity=HIGH), Limit(op="<=", value=100, severity=MEDIUM)]
    if high_side:
        limits += [Limit(op=">=", value=180, severity=MEDIUM),
                   Limit(op=">=", value=220, severity=HIGH)]
    return ThresholdRule(metric=Metric.SYSTOLIC_BP, limits=limits, hysteresis=5)


def _missing(metric: Metric, every: timedelta, grace: timedelta, *, continuous: bool = False,
             severity: Severity = LOW) -> MissingDataRule:
    return MissingDataRule(metric=metric, every=every, grace=grace, severity=severity,
                           device_presence="continuous" if continuous else "on_use")


def defaults_for(condition: Condition | str) -> RuleSet:
    """The default rule set for a condition (a Condition or its value, e.g. "copd")."""
    condition = Condition(condition)
    vitals = {
        Metric.PULSE_RATE: _pulse(Metric.PULSE_RATE),
        Metric.HEART_RATE: _pulse(Metric.HEART_RATE),
        Metric.RESPIRATORY_RATE: _respiration(),
        Metric.BODY_TEMPERATURE: _temperature(),
    }
    twice_daily_bp = _missing(Metric.SYSTOLIC_BP, 12 * HOURS, 3 * HOURS)
    match condition:
        case Condition.GENERAL_ADULT:
            return RuleSet(
                condition=condition,
                thresholds={Metric.SPO2: _spo2(94), Metric.SYSTOLIC_BP: _systolic(high_side=True),
                            **vitals},
                news2=News2Rule(),
                missing={
                    Metric.SPO2: _missing(Metric.SPO2, MINUTES, 10 * MINUTES, continuous=True,
                                          severity=MEDIUM),
                    Metric.SYSTOLIC_BP: twice_daily_bp,
                    Metric.BODY_TEMPERATURE: _missing(Metric.BODY_TEMPERATURE, 12 * HOURS,
                                                      3 * HOURS),
                },
            )
        case Condition.COPD:
            # The profile is assigned by a clinician; Scale 2 is right only for documented
            # hypercapnic respiratory failure -- override spo2_scale to 1 otherwise.
            return RuleSet(
                condition=condition,
                thresholds={Metric.SPO2: _spo2(88), Metric.SYSTOLIC_BP: _systolic(high_side=True),
                            **vitals},
                news2=News2Rule(spo2_scale=2),
                missing={
                    Metric.SPO2: _missing(Metric.SPO2, 8 * HOURS, 2 * HOURS),
                    Metric.BODY_TEMPERATURE: _missing(Metric.BODY_TEMPERATURE, 24 * HOURS,
                                                      4 * HOURS),
                },
            )
        case Condition.HEART_FAILURE:
            return RuleSet(
                condition=condition,
                thresholds={Metric.SPO2: _spo2(94), Metric.SYSTOLIC_BP: _systolic(high_side=True),
                            Metric.PULSE_RATE: vitals[Metric.PULSE_RATE],
                            Metric.HEART_RATE: vitals[Metric.HEART_RATE]},
                trends={Metric.BODY_WEIGHT: TrendRule(
                    metric=Metric.BODY_WEIGHT,
                    limits=[TrendLimit(change=2.0, window=timedelta(days=3), severity=MEDIUM)],
                    hysteresis=0.5,
                )},
                missing={
                    Metric.BODY_WEIGHT: _missing(Metric.BODY_WEIGHT, 24 * HOURS, 6 * HOURS),
                    Metric.SYSTOLIC_BP: _missing(Metric.SYSTOLIC_BP, 24 * HOURS, 6 * HOURS),
                    Metric.SPO2: _missing(Metric.SPO2, 24 * HOURS, 6 * HOURS),
                },
            )
        case Condition.HYPERTENSION:
            return RuleSet(
                condition=condition,
                # Low-side only: over-treatment shows as hypotension; the high side is the
                # NG136 averages and the severe single-reading limit.
                thresholds={Metric.SYSTOLIC_BP: _systolic(high_side=False)},
                bp_average=BpAverageRule(),
                missing={Metric.SYSTOLIC_BP: twice_daily_bp},
            )
    raise AssertionError(condition)  # pragma: no cover
