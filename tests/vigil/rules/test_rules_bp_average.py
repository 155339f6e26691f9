"""Home BP averages after NICE NG136: 4+ days, first day discarded, stages and severe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from vigil.messages import Origin
from vigil.metrics import Metric
from vigil.quality import QualityFlag
from vigil.rules import BpAverageRule, Observation, Severity, Status, evaluate_bp_average

LONDON = ZoneInfo("Europe/London")
# March 2024 before the clocks change: London is UTC.
DAY0 = datetime(2024, 3, 4, tzinfo=LONDON)
B, C, U = Status.BREACH, Status.CLEAR, Status.UNCHANGED
RULE = BpAverageRule()


def pair(
    day: int, hour: int, systolic: float, diastolic: float,
    quality: tuple[QualityFlag, ...] = (), origin: Origin = Origin.LIVE,
) -> list[Observation]:
    at = DAY0 + timedelta(days=day, hours=hour)
    return [
        Observation(Metric.SYSTOLIC_BP, systolic, at, frozenset(quality), origin),
        Observation(Metric.DIASTOLIC_BP, diastolic, at, frozenset(quality), origin),
    ]


def days_of(first: tuple[float, float], rest: tuple[float, float], days: int) -> list[Observation]:
    """Morning and evening pairs: day 0 at `first`, the following days at `rest`."""
    readings: list[Observation] = []
    for day in range(days):
        sys_, dia = first if day == 0 else rest
        readings += pair(day, 8, sys_, dia) + pair(day, 20, sys_, dia)
    return readings


def judge(readings: list[Observation], rule: BpAverageRule = RULE) -> tuple[Status, object]:
    evaluation = evaluate_bp_average(rule, readings, readings[-1])
    return evaluation.status, evaluation.severity


@pytest.mark.parametrize(
    ("rest", "days", "expected"),
    [
        ((136, 80), 4, (B, Severity.LOW)),  # stage 1 by systolic
        ((134, 85), 4, (B, Severity.LOW)),  # stage 1 by diastolic
        ((134, 84), 4, (C, None)),
        ((150, 80), 4, (B, Severity.MEDIUM)),  # stage 2
        ((149, 95), 4, (B, Severity.MEDIUM)),
        ((149, 94), 7, (B, Severity.LOW)),
        ((136, 80), 3, (U, None)),  # fewer than 4 days: no average yet
    ],
)
def test_stages_after_discarding_the_first_day(
    rest: tuple[float, float], days: int, expected: tuple[Status, object]
) -> None:
    # The first day is high (white-coat) and must not count.
    assert judge(days_of((175, 110), rest, days)) == expected


def test_first_day_counts_when_configured() -> None:
    rule = BpAverageRule(discard_first_day=False)
    readings = days_of((175, 110), (130, 80), 4)
    assert judge(readings, rule) == (B, Severity.LOW)  # (175 + 3 * 130) / 4 = 141
    assert judge(readings) == (C, None)


def test_average_is_rounded_half_up_to_whole_mmhg() -> None:
    readings = days_of((120, 70), (120, 70), 1)
    for day in range(1, 4):
        readings += pair(day, 8, 134, 80) + pair(day, 20, 135, 80)  # mean 134.5 -> 135
    evaluation = evaluate_bp_average(RULE, readings, readings[-1])
    assert evaluation.status is B and evaluation.severity is Severity.LOW
    assert "home average 135/80 over 3 day(s) (12 readings, first day" in evaluation.reason


def test_window_rolls_over_the_last_seven_days() -> None:
    # Day 0 is outside a 7-day window ending on day 7; day 1 is the window's discarded day.
    readings = days_of((200, 115), (200, 115), 2)
    for day in range(2, 8):
        readings += pair(day, 8, 130, 80) + pair(day, 20, 130, 80)
    evaluation = evaluate_bp_average(RULE, readings, readings[-1])
    assert evaluation.status is C
    assert "over 6 day(s)" in evaluation.reason and "2024-03-05 discarded" in evaluation.reason


def test_severe_single_reading_alerts_at_once() -> None:
    readings = pair(0, 8, 180, 90)
    assert evaluate_bp_average(RULE, readings, readings[0]).severity is Severity.HIGH
    assert evaluate_bp_average(RULE, readings, readings[1]).status is U  # diastolic 90
    evaluation = evaluate_bp_average(RULE, readings, readings[0])
    assert evaluation.status is B and "severe: systolic_bp 180 >= 180" in evaluation.reason
    diastolic = pair(0, 8, 150, 120)[1]
    assert evaluate_bp_average(RULE, [diastolic], diastolic).severity is Severity.HIGH
    below = pair(0, 8, 179.4, 119.4)
    assert [evaluate_bp_average(RULE, below, r).status for r in below] == [U, U]
    rounded = pair(0, 8, 179.5, 119.5)  # half-up to 180/120
    assert [evaluate_bp_average(RULE, rounded, r).severity for r in rounded] == [
        Severity.HIGH, Severity.HIGH,
    ]


def test_questionable_readings_are_left_out() -> None:
    loose = pair(3, 9, 220, 130, quality=(QualityFlag.CUFF_TOO_LOOSE,))
    evaluation = evaluate_bp_average(RULE, loose, loose[0])
    assert evaluation.status is U and evaluation.questionable
    readings = days_of((130, 80), (130, 80), 4)
    moving = pair(3, 21, 250, 140, quality=(QualityFlag.BODY_MOVEMENT,))
    assert judge([*readings, *moving, readings[-1]]) == (C, None)


def test_the_evaluated_reading_may_also_be_in_the_history() -> None:
    readings = days_of((120, 70), (136, 80), 4)
    with_duplicate = evaluate_bp_average(RULE, readings, readings[-1])
    without = evaluate_bp_average(RULE, readings[:-1], readings[-1])
    assert with_duplicate.reason == without.reason


def test_later_readings_are_ignored() -> None:
    readings = days_of((120, 70), (130, 80), 4)
    later = pair(4, 8, 200, 110)
    evaluation = evaluate_bp_average(RULE, [*readings, *later], readings[-1])
    assert evaluation.status is C


def test_days_are_the_patients_calendar_days() -> None:
    # 02:00 and 14:00 UTC on three UTC days: three London days, but in New York the 02:00
    # readings fall on the previous evening, so the same readings span four local days.
    readings: list[Observation] = []
    for day in range(3):
        at = datetime(2024, 3, 4, 2, tzinfo=UTC) + timedelta(days=day)
        readings.append(Observation(Metric.SYSTOLIC_BP, 140, at))
        readings.append(Observation(Metric.SYSTOLIC_BP, 140, at + timedelta(hours=12)))
    assert judge(readings) == (U, None)
    assert judge(readings, BpAverageRule(timezone="America/New_York")) == (B, Severity.LOW)


def test_late_reading_is_marked_late() -> None:
    severe = pair(0, 8, 190, 100, origin=Origin.LATE)
    evaluation = evaluate_bp_average(RULE, severe, severe[0])
    assert evaluation.late and not evaluation.page and evaluation.severity is Severity.HIGH


def test_wrong_metric_and_bad_configuration_are_refused() -> None:
    reading = Observation(Metric.PULSE_RATE, 70, DAY0)
    with pytest.raises(ValueError, match="bp_average cannot evaluate a pulse_rate reading"):
        evaluate_bp_average(RULE, [], reading)
    with pytest.raises(ValueError, match="unknown IANA time zone"):
        BpAverageRule(timezone="Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="min_days cannot exceed window_days"):
        BpAverageRule(window_days=3, min_days=4)
