"""The NEWS2 aggregate rule: response thresholds, incomplete sets, freshness, quality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigil.messages import Origin
from vigil.metrics import Metric
from vigil.quality import QualityFlag
from vigil.rules import News2Rule, Observation, Severity, Status, evaluate_news2

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
B, C, U = Status.BREACH, Status.CLEAR, Status.UNCHANGED
NORMAL = {
    Metric.RESPIRATORY_RATE: 16.0,
    Metric.SPO2: 97.0,
    Metric.SYSTOLIC_BP: 120.0,
    Metric.PULSE_RATE: 70.0,
    Metric.BODY_TEMPERATURE: 37.0,
}


def readings(minutes_ago: float = 5, **changes: float | None) -> list[Observation]:
    values = {**NORMAL, **{Metric(k): v for k, v in changes.items()}}
    at = T0 - timedelta(minutes=minutes_ago)
    return [Observation(metric, value, at) for metric, value in values.items() if value is not None]


def trigger(value: float = 97.0, **kwargs: object) -> Observation:
    return Observation(Metric.SPO2, value, T0, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "low_enabled", "expected"),
    [
        ({}, False, (C, None)),
        ({}, True, (C, None)),  # total 0 is never an alert
        ({"pulse_rate": 95}, False, (C, None)),  # total 1
        ({"pulse_rate": 95}, True, (B, Severity.LOW)),
        ({"pulse_rate": 95, "respiratory_rate": 22, "body_temperature": 38.5}, True,
         (B, Severity.LOW)),  # 4
        ({"systolic_bp": 85}, False, (B, Severity.MEDIUM)),  # single 3
        ({"pulse_rate": 115, "respiratory_rate": 22, "body_temperature": 38.5}, False,
         (B, Severity.MEDIUM)),  # 5
        ({"pulse_rate": 115, "respiratory_rate": 22, "body_temperature": 39.5}, False,
         (B, Severity.MEDIUM)),  # 6
        ({"pulse_rate": 115, "respiratory_rate": 22, "body_temperature": 38.5,
          "systolic_bp": 95}, False, (B, Severity.HIGH)),  # 7
    ],
)
def test_response_thresholds(
    changes: dict[str, float], low_enabled: bool, expected: tuple[Status, object]
) -> None:
    rule = News2Rule(low_enabled=low_enabled)
    evaluation = evaluate_news2(
        rule, readings(**changes), trigger(), consciousness="A", on_oxygen=False
    )
    assert (evaluation.status, evaluation.severity) == expected
    assert evaluation.news2 is not None and evaluation.news2.complete
    assert evaluation.rule_key == "news2"


def test_new_confusion_is_a_single_3() -> None:
    evaluation = evaluate_news2(News2Rule(), readings(), trigger(), consciousness="C",
                                on_oxygen=False)
    assert (evaluation.status, evaluation.severity) == (B, Severity.MEDIUM)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, (U, None)),  # never CLEAR: missing data must not resolve a NEWS2 alert
        ({"pulse_rate": 115, "respiratory_rate": 22}, (U, None)),  # partial 4
        ({"systolic_bp": 85}, (B, Severity.MEDIUM)),  # a single 3 whatever is missing
        ({"pulse_rate": 115, "respiratory_rate": 22, "body_temperature": 38.5},
         (B, Severity.MEDIUM)),  # at least 5
        ({"pulse_rate": 115, "respiratory_rate": 22, "body_temperature": 39.5,
          "systolic_bp": 105}, (B, Severity.HIGH)),  # at least 7
    ],
)
def test_incomplete_sets_decide_only_when_the_missing_values_cannot_matter(
    changes: dict[str, float], expected: tuple[Status, object]
) -> None:
    evaluation = evaluate_news2(News2Rule(), readings(**changes), trigger(), on_oxygen=False)
    assert (evaluation.status, evaluation.severity) == expected
    assert evaluation.news2 is not None and evaluation.news2.total is None
    assert "consciousness" in evaluation.reason


def test_stale_parameters_are_missing_and_named() -> None:
    old = Observation(Metric.BODY_TEMPERATURE, 37.0, T0 - timedelta(minutes=61))
    history = [*readings(body_temperature=None), old]
    evaluation = evaluate_news2(News2Rule(), history, trigger(), consciousness="A",
                                on_oxygen=False)
    assert evaluation.status is U
    assert "missing temperature (stale: temperature)" in evaluation.reason


def test_window_is_configurable() -> None:
    rule = News2Rule(window=timedelta(hours=4))
    evaluation = evaluate_news2(rule, readings(minutes_ago=200), trigger(), consciousness="A",
                                on_oxygen=False)
    assert evaluation.status is C


def test_oxygen_comes_from_the_caller_else_the_rule() -> None:
    rule = News2Rule(on_oxygen=True)
    on_rule = evaluate_news2(rule, readings(), trigger(), consciousness="A")
    assert on_rule.news2 is not None and on_rule.news2.scores["air_or_oxygen"] == 2
    overridden = evaluate_news2(rule, readings(), trigger(), consciousness="A", on_oxygen=False)
    assert overridden.news2 is not None and overridden.news2.scores["air_or_oxygen"] == 0


def test_scale_2_from_the_rule() -> None:
    rule = News2Rule(spo2_scale=2)
    evaluation = evaluate_news2(rule, readings(spo2=89), trigger(89), consciousness="A",
                                on_oxygen=False)
    assert evaluation.status is C
    assert evaluation.news2 is not None and evaluation.news2.spo2_scale == 2
    scale_1 = evaluate_news2(News2Rule(), readings(spo2=89), trigger(89), consciousness="A",
                             on_oxygen=False)
    assert scale_1.severity is Severity.MEDIUM


def test_questionable_readings_are_not_scored() -> None:
    flagged = trigger(80, quality=frozenset({QualityFlag.POOR_SIGNAL}))
    evaluation = evaluate_news2(News2Rule(), readings(), flagged, consciousness="A",
                                on_oxygen=False)
    assert evaluation.status is U and evaluation.questionable
    # A questionable latest value does not displace the last trusted one.
    history = [*readings(), Observation(Metric.SPO2, 80, T0 - timedelta(minutes=1),
                                        frozenset({QualityFlag.SENSOR_DISPLACED}))]
    evaluation = evaluate_news2(News2Rule(), history, trigger(97), consciousness="A",
                                on_oxygen=False)
    assert evaluation.status is C


def test_readings_after_the_evaluated_one_are_ignored() -> None:
    history = [*readings(), Observation(Metric.SYSTOLIC_BP, 80, T0 + timedelta(minutes=1))]
    evaluation = evaluate_news2(News2Rule(), history, trigger(), consciousness="A",
                                on_oxygen=False)
    assert evaluation.status is C


def test_late_trigger_is_marked_late() -> None:
    evaluation = evaluate_news2(News2Rule(), readings(systolic_bp=85),
                                trigger(origin=Origin.LATE), consciousness="A", on_oxygen=False)
    assert evaluation.status is B and evaluation.late and not evaluation.page


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot evaluate a body_weight reading"):
        evaluate_news2(News2Rule(), [], Observation(Metric.BODY_WEIGHT, 80, T0))
    with pytest.raises(ValueError, match="consciousness must be one of"):
        evaluate_news2(News2Rule(), readings(), trigger(), consciousness="alert")
