"""Trend rules: heart-failure weight gain against the window's minimum (or earliest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from vigil.messages import Origin
from vigil.metrics import Metric
from vigil.quality import QualityFlag
from vigil.rules import Observation, Severity, Status, TrendLimit, TrendRule, evaluate_trend

DAY0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
B, C, U = Status.BREACH, Status.CLEAR, Status.UNCHANGED


def weight(
    value: float, days: float, *, quality: tuple[QualityFlag, ...] = (),
    origin: Origin = Origin.LIVE,
) -> Observation:
    return Observation(
        Metric.BODY_WEIGHT, value, DAY0 + timedelta(days=days), frozenset(quality), origin
    )


def hf_rule(
    baseline: Literal["extreme", "earliest"] = "extreme", hysteresis: float = 0.0,
    direction: Literal["rise", "fall"] = "rise",
) -> TrendRule:
    return TrendRule(
        metric=Metric.BODY_WEIGHT, baseline=baseline, hysteresis=hysteresis, direction=direction,
        limits=[TrendLimit(change=2.0, window=timedelta(days=3), severity=Severity.MEDIUM)],
    )


def judge(rule: TrendRule, series: list[tuple[float, float]]) -> tuple[Status, Severity | None]:
    readings = [weight(value, days) for days, value in series]
    evaluation = evaluate_trend(rule, readings, readings[-1])
    return evaluation.status, evaluation.severity


@pytest.mark.parametrize(
    ("series", "baseline", "expected"),
    [
        ([(0, 70.0), (3, 72.0)], "extreme", (C, None)),  # exactly 2 kg is not "more than"
        ([(0, 70.0), (3, 72.1)], "extreme", (B, Severity.MEDIUM)),
        ([(0, 68.3), (3, 70.3)], "extreme", (C, None)),  # decimal, not 2.0000000000000027
        ([(0, 68.3), (3, 70.4)], "extreme", (B, Severity.MEDIUM)),
        ([(0, 70.0), (3.0001, 72.5)], "extreme", (U, None)),  # baseline just outside 3 days
        ([(0, 70.0), (1, 72.5), (3.0001, 72.5)], "extreme", (C, None)),
        # Minimum versus earliest: a rise after a dip.
        ([(0, 71.0), (1, 69.5), (2, 71.6)], "extreme", (B, Severity.MEDIUM)),
        ([(0, 71.0), (1, 69.5), (2, 71.6)], "earliest", (C, None)),
        # A high first reading cannot mask a rise from the minimum.
        ([(0, 73.0), (1, 70.0), (2, 72.5)], "extreme", (B, Severity.MEDIUM)),
        ([(0, 73.0), (1, 70.0), (2, 72.5)], "earliest", (C, None)),
        ([(0, 70.0), (2, 72.5)], "earliest", (B, Severity.MEDIUM)),
        # Same-day rises count too ("within" 3 days).
        ([(0, 70.0), (0.1, 72.2)], "extreme", (B, Severity.MEDIUM)),
        # Losing weight is not a rise.
        ([(0, 72.0), (3, 69.0)], "extreme", (C, None)),
    ],
)
def test_weight_gain(
    series: list[tuple[float, float]], baseline: Literal["extreme", "earliest"],
    expected: tuple[Status, object],
) -> None:
    assert judge(hf_rule(baseline), series) == expected


def test_no_earlier_reading_is_unchanged() -> None:
    reading = weight(80.0, 0)
    evaluation = evaluate_trend(hf_rule(), [reading], reading)
    assert evaluation.status is U
    assert "no earlier trusted reading" in evaluation.reason


@pytest.mark.parametrize(
    ("end", "expected"),
    [(72.1, B), (71.9, U), (71.6, U), (71.5, C), (70.0, C)],
)
def test_stateless_hysteresis_margin(end: float, expected: Status) -> None:
    assert judge(hf_rule(hysteresis=0.5), [(0, 70.0), (2, end)])[0] is expected


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        ([(0, 72.0), (1, 74.0), (2, 71.9)], B),  # against the window's maximum
        ([(0, 72.0), (2, 70.0)], C),
    ],
)
def test_fall_direction(series: list[tuple[float, float]], expected: Status) -> None:
    assert judge(hf_rule(direction="fall"), series)[0] is expected


def test_several_limits_report_the_highest() -> None:
    rule = TrendRule(
        metric=Metric.BODY_WEIGHT,
        limits=[TrendLimit(change=1.5, window=timedelta(days=1), severity=Severity.LOW),
                TrendLimit(change=2.0, window=timedelta(days=3), severity=Severity.MEDIUM),
                TrendLimit(change=5.0, window=timedelta(days=7), severity=Severity.HIGH)],
    )
    assert judge(rule, [(0, 71.0), (2, 71.0), (2.5, 72.6)]) == (B, Severity.LOW)
    assert judge(rule, [(0, 70.0), (2, 70.5), (2.5, 72.1)]) == (B, Severity.MEDIUM)
    assert judge(rule, [(0, 70.0), (2.5, 72.1)]) == (B, Severity.MEDIUM)
    assert rule.longest_window == timedelta(days=7)


def test_questionable_readings_are_neither_baseline_nor_evidence() -> None:
    rule = hf_rule()
    bad = weight(60.0, 0, quality=(QualityFlag.GENERAL_DEVICE_FAULT,))
    good = weight(71.0, 1)
    latest = weight(72.0, 2)
    assert evaluate_trend(rule, [bad, good, latest], latest).status is C
    flagged = weight(90.0, 2, quality=(QualityFlag.INVALID,))
    evaluation = evaluate_trend(rule, [good, flagged], flagged)
    assert evaluation.status is U and evaluation.questionable


def test_later_readings_and_other_metrics_are_ignored() -> None:
    rule = hf_rule()
    first, latest = weight(70.0, 0), weight(70.5, 1)
    after = weight(60.0, 1.5)
    other = Observation(Metric.SYSTOLIC_BP, 10.0, DAY0)
    assert evaluate_trend(rule, [first, latest, after, other], latest).status is C


def test_late_reading_is_marked_late() -> None:
    rule = hf_rule()
    latest = weight(73.0, 2, origin=Origin.LATE)
    evaluation = evaluate_trend(rule, [weight(70.0, 0), latest], latest)
    assert evaluation.status is B and evaluation.late and not evaluation.page


def test_reason_names_the_baseline() -> None:
    readings = [weight(70.0, 0), weight(72.4, 2)]
    evaluation = evaluate_trend(hf_rule(), readings, readings[-1])
    assert "rise of 2.4 (> 2)" in evaluation.reason
    assert "against 70 at 2024-03-01T08:00:00+00:00" in evaluation.reason
    assert evaluation.rule_key == "trend:body_weight"


def test_wrong_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot evaluate a spo2 reading"):
        reading = Observation(Metric.SPO2, 90.0, DAY0)
        evaluate_trend(hf_rule(), [], reading)
