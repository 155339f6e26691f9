"""Threshold rules: bands, hysteresis, sustained breaches, silence, quality and order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.messages import Origin
from vigil.metrics import Metric
from vigil.quality import QualityFlag
from vigil.rules import (
    Evaluation,
    Limit,
    Observation,
    Severity,
    Status,
    ThresholdRule,
    ThresholdState,
    evaluate_threshold,
    sweep_threshold,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
LOW, MEDIUM, HIGH = Severity.LOW, Severity.MEDIUM, Severity.HIGH
B, C, P, U = Status.BREACH, Status.CLEAR, Status.PENDING, Status.UNCHANGED

SPO2_BANDS = [
    Limit(op="<", value=94, severity=LOW),
    Limit(op="<", value=92, severity=MEDIUM),
    Limit(op="<", value=88, severity=HIGH),
]


def obs(
    value: float, seconds: float = 0, metric: Metric = Metric.SPO2,
    quality: tuple[QualityFlag, ...] = (), origin: Origin = Origin.LIVE,
) -> Observation:
    return Observation(metric, value, T0 + timedelta(seconds=seconds), frozenset(quality), origin)


def feed(
    rule: ThresholdRule, readings: list[Observation], state: ThresholdState | None = None
) -> tuple[list[Evaluation], ThresholdState]:
    evaluations: list[Evaluation] = []
    current = state or ThresholdState()
    for reading in readings:
        step = evaluate_threshold(rule, current, reading)
        evaluations += step.evaluations
        current = step.state
    return evaluations, current


def outcome(evaluation: Evaluation) -> tuple[Status, Severity | None]:
    return evaluation.status, evaluation.severity


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # Raise at the limit, clear only once back inside by the margin (2).
        ([97, 93.9, 94, 95, 95.9, 96], [(C, None), (B, LOW), (B, LOW), (B, LOW), (B, LOW),
                                        (C, None)]),
        ([94], [(C, None)]),  # "< 94": 94 itself is inside
        # Escalate and de-escalate band by band, each with its own margin.
        ([87, 89, 89.9, 90, 93, 94, 95, 96],
         [(B, HIGH), (B, HIGH), (B, HIGH), (B, MEDIUM), (B, MEDIUM), (B, LOW), (B, LOW),
          (C, None)]),
        # Falling straight through every band reports the worst.
        ([95, 80], [(C, None), (B, HIGH)]),
        # A never-raised band needs no margin: no alert, nothing to clear.
        ([95, 94.5, 95], [(C, None), (C, None), (C, None)]),
    ],
)
def test_hysteresis_lower_limits(
    values: list[float], expected: list[tuple[Status, object]]
) -> None:
    rule = ThresholdRule(metric=Metric.SPO2, limits=SPO2_BANDS, hysteresis=2)
    evaluations, _ = feed(rule, [obs(v, i) for i, v in enumerate(values)])
    assert [outcome(e) for e in evaluations] == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([110, 111, 107, 106, 105.9], [(C, None), (B, MEDIUM), (B, MEDIUM), (B, MEDIUM),
                                       (C, None)]),
        ([131, 127, 126, 125.9, 105], [(B, HIGH), (B, HIGH), (B, HIGH), (B, MEDIUM), (C, None)]),
        ([40, 44, 45, 46], [(B, HIGH), (B, HIGH), (B, HIGH), (C, None)]),
    ],
)
def test_hysteresis_upper_and_lower_limits(
    values: list[float], expected: list[tuple[Status, object]]
) -> None:
    rule = ThresholdRule(
        metric=Metric.PULSE_RATE,
        limits=[Limit(op="<=", value=40, severity=HIGH), Limit(op=">=", value=111, severity=MEDIUM),
                Limit(op=">=", value=131, severity=HIGH)],
        hysteresis=5,
    )
    evaluations, _ = feed(rule, [obs(v, i, Metric.PULSE_RATE) for i, v in enumerate(values)])
    assert [outcome(e) for e in evaluations] == expected


SUSTAINED = ThresholdRule(
    metric=Metric.SPO2,
    limits=[Limit(op="<", value=92, severity=MEDIUM),
            Limit(op="<", value=85, severity=HIGH, immediate=True)],
    hysteresis=1,
    sustain=timedelta(seconds=15),
    max_gap=timedelta(seconds=30),
)


def test_sustained_breach_counts_only_after_the_duration() -> None:
    evaluations, state = feed(SUSTAINED, [obs(90, s) for s in range(16)])
    assert [e.status for e in evaluations[:15]] == [P] * 15
    assert outcome(evaluations[15]) == (B, MEDIUM)
    assert state.bands["<92"].breach_since == T0


def test_sustained_boundary_is_inclusive() -> None:
    evaluations, _ = feed(SUSTAINED, [obs(90, 0), obs(90, 14.999), obs(90, 15)])
    assert [e.status for e in evaluations] == [P, P, B]


def test_a_good_reading_breaks_the_run() -> None:
    readings = [obs(90, s) for s in range(11)] + [obs(95, 11)] + [obs(90, s) for s in range(12, 28)]
    evaluations, _ = feed(SUSTAINED, readings)
    statuses = [e.status for e in evaluations]
    assert B not in statuses[:27]
    assert statuses[11] == C
    assert statuses[27] == B  # 12 + 15


def test_critical_limit_fires_without_delay() -> None:
    evaluations, _ = feed(SUSTAINED, [obs(95, 0), obs(84, 1)])
    assert outcome(evaluations[1]) == (B, HIGH)
    # Once raised, the critical band holds until back inside by the margin (85 + 1); the
    # medium band's run, started with it, is then still pending underneath.
    evaluations, _ = feed(SUSTAINED, [obs(84, 0), obs(85.5, 1), obs(86, 2)])
    assert outcome(evaluations[1]) == (B, HIGH)
    assert "not yet by the margin" in evaluations[1].reason
    assert outcome(evaluations[2]) == (P, MEDIUM)


def test_pending_reports_the_duration_so_far() -> None:
    evaluations, _ = feed(SUSTAINED, [obs(90, 0), obs(90, 5)])
    assert outcome(evaluations[1]) == (P, MEDIUM)
    assert "0:00:05 so far" in evaluations[1].reason


def test_run_ending_in_silence_is_raised_by_the_sweeper() -> None:
    _, state = feed(SUSTAINED, [obs(90, 0)])
    at_gap = sweep_threshold(SUSTAINED, state, now=T0 + timedelta(seconds=30))
    assert at_gap.evaluations == [] and at_gap.state == state
    after = sweep_threshold(SUSTAINED, state, now=T0 + timedelta(seconds=31))
    [raised] = after.evaluations
    assert outcome(raised) == (B, MEDIUM)
    assert raised.at == T0 and raised.value == 90
    assert "not confirmed or refuted" in raised.reason
    # Raised once: sweeping again finds nothing new.
    again = sweep_threshold(SUSTAINED, after.state, now=T0 + timedelta(seconds=60))
    assert again.evaluations == []
    # Then the next good reading clears it.
    evaluations, _ = feed(SUSTAINED, [obs(97, 90)], again.state)
    assert outcome(evaluations[0]) == (C, None)


def test_run_ending_in_silence_is_raised_when_the_next_reading_arrives() -> None:
    evaluations, _ = feed(SUSTAINED, [obs(90, 0), obs(97, 40)])
    assert [outcome(e) for e in evaluations] == [(P, MEDIUM), (B, MEDIUM), (C, None)]
    assert evaluations[1].at == T0
    evaluations, _ = feed(SUSTAINED, [obs(90, 0), obs(90, 40)])
    assert [outcome(e) for e in evaluations] == [(P, MEDIUM), (B, MEDIUM), (B, MEDIUM)]


def test_sweep_without_state_or_pending_run_does_nothing() -> None:
    assert sweep_threshold(SUSTAINED, None, now=T0).evaluations == []
    _, state = feed(SUSTAINED, [obs(97, 0)])
    assert sweep_threshold(SUSTAINED, state, now=T0 + timedelta(hours=1)).evaluations == []
    with pytest.raises(ValueError, match="timezone-aware"):
        sweep_threshold(SUSTAINED, state, now=datetime(2024, 3, 1))


ARTEFACT = (QualityFlag.LOW_PERFUSION,)


def test_questionable_readings_never_open_or_raise() -> None:
    evaluations, state = feed(SUSTAINED, [obs(70, 0, quality=ARTEFACT)])
    assert outcome(evaluations[0]) == (U, None)
    assert evaluations[0].questionable
    assert "low_perfusion" in evaluations[0].reason
    assert state == ThresholdState()
    # An open medium breach is not escalated by a questionable critical value.
    readings = [*(obs(90, s) for s in range(16)), obs(70, 16, quality=ARTEFACT)]
    evaluations, _ = feed(SUSTAINED, readings)
    assert outcome(evaluations[-2]) == (B, MEDIUM)
    assert outcome(evaluations[-1]) == (U, None)


def test_questionable_readings_never_clear() -> None:
    readings = [obs(90, s) for s in range(16)] + [obs(99, 17, quality=ARTEFACT), obs(91, 18)]
    evaluations, state = feed(SUSTAINED, readings)
    assert outcome(evaluations[-2]) == (U, None)
    assert outcome(evaluations[-1]) == (B, MEDIUM)
    assert state.bands["<92"].raised


def test_questionable_readings_do_not_break_a_run() -> None:
    readings = [obs(90, s) for s in range(8)] + [obs(99, 8, quality=ARTEFACT)]
    readings += [obs(90, s) for s in range(9, 16)]
    evaluations, _ = feed(SUSTAINED, readings)
    assert outcome(evaluations[-1]) == (B, MEDIUM)


def test_non_questionable_flags_are_trusted() -> None:
    evaluations, _ = feed(SUSTAINED, [obs(84, 0, quality=(QualityFlag.VALIDATED,))])
    assert outcome(evaluations[0]) == (B, HIGH)


def test_late_in_order_reading_updates_state_but_is_marked_late() -> None:
    evaluations, state = feed(SUSTAINED, [obs(84, 0, origin=Origin.LATE)])
    assert outcome(evaluations[0]) == (B, HIGH)
    assert evaluations[0].late and not evaluations[0].page
    assert state.last_at == T0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(84, (B, HIGH)), (90, (U, None)), (97, (U, None))],
)
def test_out_of_order_reading_is_judged_alone_and_leaves_state(
    value: float, expected: tuple[Status, object]
) -> None:
    _, state = feed(SUSTAINED, [obs(97, 100)])
    evaluations, after = feed(SUSTAINED, [obs(value, 50, origin=Origin.LATE)], state)
    assert outcome(evaluations[0]) == expected
    assert evaluations[0].late
    assert after == state


def test_editing_limits_drops_old_band_state() -> None:
    _, state = feed(SUSTAINED, [obs(84, 0)])
    edited = SUSTAINED.model_copy(update={
        "limits": [Limit(op="<", value=90, severity=LOW)], "sustain": timedelta(0)})
    evaluations, after = feed(edited, [obs(89, 1)], state)
    assert set(after.bands) == {"<90"}
    assert outcome(evaluations[0]) == (B, LOW)


def test_state_round_trips_through_json() -> None:
    _, state = feed(SUSTAINED, [obs(90, 0), obs(90, 5)])
    assert ThresholdState.model_validate_json(state.model_dump_json()) == state


def test_wrong_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="threshold:spo2 cannot evaluate a pulse_rate reading"):
        evaluate_threshold(SUSTAINED, None, obs(80, 0, Metric.PULSE_RATE))


@pytest.mark.parametrize(
    ("limits", "hysteresis", "message"),
    [
        ([Limit(op="<", value=94, severity=LOW), Limit(op="<", value=94, severity=HIGH)], 0,
         "duplicate limits"),
        ([Limit(op="<", value=94, severity=LOW), Limit(op=">", value=95, severity=LOW)], 1,
         "overlap"),
        ([Limit(op="<", value=94, severity=LOW)], 10, "unreachable"),
        ([], 0, "at least 1"),
    ],
)
def test_inconsistent_rules_are_refused(
    limits: list[Limit], hysteresis: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ThresholdRule(metric=Metric.SPO2, limits=limits, hysteresis=hysteresis)


values = st.lists(
    st.tuples(st.integers(70, 100), st.booleans()), min_size=1, max_size=40
)


@given(values)
def test_questionable_readings_change_nothing(sequence: list[tuple[int, bool]]) -> None:
    """Dropping the questionable readings leaves the state and the trusted outcomes as they were."""
    readings = [
        obs(v, i, quality=ARTEFACT if flagged else ()) for i, (v, flagged) in enumerate(sequence)
    ]
    with_all, state_all = feed(SUSTAINED, readings)
    trusted, state_trusted = feed(SUSTAINED, [r for r in readings if not r.questionable])
    assert state_all == state_trusted
    assert [e for e in with_all if not e.questionable] == trusted
    assert all(e.status is U for e in with_all if e.questionable)


@given(st.lists(st.floats(70, 100, allow_nan=False), min_size=1, max_size=30))
def test_without_hysteresis_or_sustain_the_rule_is_memoryless(sequence: list[float]) -> None:
    rule = ThresholdRule(metric=Metric.SPO2, limits=SPO2_BANDS)
    evaluations, _ = feed(rule, [obs(v, i) for i, v in enumerate(sequence)])
    for value, evaluation in zip(sequence, evaluations, strict=True):
        breached = [limit.severity for limit in SPO2_BANDS if limit.breached(value)]
        expected = max(breached, key=lambda s: s.rank) if breached else None
        assert evaluation.severity == expected
        assert evaluation.status == (B if breached else C)
