"""Scripted events: each moves the right metrics the right way inside its window, and nothing
outside it; their expected alerts follow the real default rule sets."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from simulators.physiology import (
    Baselines,
    Condition,
    Desaturation,
    Fever,
    Hyperglycaemia,
    HypertensiveSpike,
    Hypoglycaemia,
    Hypotension,
    Patient,
    Recovery,
    Tachycardia,
    WeightGain,
)
from simulators.physiology.consequences import event_alerts, rules_for
from simulators.physiology.events import Event
from vigil.metrics import Metric
from vigil.rules import ruleset_for

ORIGIN = datetime(2025, 3, 1, 6, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
UP, DOWN = 1, -1
M = Metric


def patient(condition: Condition, events: tuple[Event, ...] = (), seed: int = 77) -> Patient:
    return Patient(id="p", seed=seed, condition=condition, origin=ORIGIN, events=events)


# (event, condition, {metric: direction}) -- every other metric must not move at all.
CASES: list[tuple[Event, Condition, dict[Metric, int]]] = [
    (Desaturation(start=2 * H, duration=2 * H), Condition.COPD,
     {M.SPO2: DOWN, M.PULSE_RATE: UP, M.HEART_RATE: UP, M.RESPIRATORY_RATE: UP}),
    (HypertensiveSpike(start=2 * H, duration=2 * H), Condition.HYPERTENSION,
     {M.SYSTOLIC_BP: UP, M.DIASTOLIC_BP: UP, M.MEAN_ARTERIAL_PRESSURE: UP, M.PULSE_RATE: UP,
      M.HEART_RATE: UP}),
    (Fever(start=2 * H, duration=D), Condition.GENERAL_ADULT,
     {M.BODY_TEMPERATURE: UP, M.PULSE_RATE: UP, M.HEART_RATE: UP, M.RESPIRATORY_RATE: UP}),
    (WeightGain(start=D, duration=3 * D, sustained=False, recovery=D), Condition.HEART_FAILURE,
     {M.BODY_WEIGHT: UP, M.BMI: UP}),
    (Hypotension(start=2 * H, duration=2 * H), Condition.GENERAL_ADULT,
     {M.SYSTOLIC_BP: DOWN, M.DIASTOLIC_BP: DOWN, M.MEAN_ARTERIAL_PRESSURE: DOWN,
      M.PULSE_RATE: UP, M.HEART_RATE: UP}),
    (Tachycardia(start=2 * H, duration=2 * H), Condition.GENERAL_ADULT,
     {M.PULSE_RATE: UP, M.HEART_RATE: UP}),
    (Hypoglycaemia(start=2 * H, duration=2 * H), Condition.DIABETES,
     {M.BLOOD_GLUCOSE: DOWN, M.PULSE_RATE: UP, M.HEART_RATE: UP}),
    (Hyperglycaemia(start=2 * H, duration=2 * H), Condition.DIABETES, {M.BLOOD_GLUCOSE: UP}),
]
IDS = [case[0].kind for case in CASES]


@pytest.mark.parametrize(("event", "condition", "moves"), CASES, ids=IDS)
def test_event_declares_what_it_affects(
    event: Event, condition: Condition, moves: dict[Metric, int]
) -> None:
    assert event.affects == set(moves)


@pytest.mark.parametrize(("event", "condition", "moves"), CASES, ids=IDS)
def test_event_moves_its_metrics_inside_its_plateau(
    event: Event, condition: Condition, moves: dict[Metric, int]
) -> None:
    with_event, without = patient(condition, (event,)), patient(condition)
    plateau_start = event.start + timedelta(seconds=event.onset_seconds)
    plateau_end = event.end - timedelta(seconds=event.recovery_seconds)
    plateau = [plateau_start + (plateau_end - plateau_start) * k / 6 for k in range(7)]
    for offset in plateau:
        t = ORIGIN + offset
        for metric, direction in moves.items():
            change = with_event.true_value(metric, t) - without.true_value(metric, t)
            assert change * direction > 0, (metric, offset, change)
            # Clinically visible, not a rounding wobble.
            assert abs(with_event.value_at(metric, t) - without.value_at(metric, t)) >= 0.1


@pytest.mark.parametrize(("event", "condition", "moves"), CASES, ids=IDS)
def test_event_changes_nothing_outside_its_window_or_its_metrics(
    event: Event, condition: Condition, moves: dict[Metric, int]
) -> None:
    with_event, without = patient(condition, (event,)), patient(condition)
    outside = [event.start - timedelta(seconds=s) for s in (1, 600, 7200)]
    outside += [event.end + timedelta(seconds=s) for s in (0, 1, 600, 86400)]
    inside = [event.start + (event.end - event.start) * k / 10 for k in range(10)]
    for metric in Metric:
        for offset in outside + (inside if metric not in moves else []):
            t = ORIGIN + offset
            assert with_event.sample(metric, t) == without.sample(metric, t), (metric, offset)


def test_event_eases_in_and_out_monotonically() -> None:
    event = Desaturation(start=H, duration=H, onset=timedelta(minutes=20),
                         recovery=timedelta(minutes=20))
    levels = [event.level(s) for s in range(3600, 7201, 30)]
    peak = levels.index(1.0)
    assert levels[0] == 0.0 and levels[-1] == 0.0
    assert all(a <= b for a, b in itertools.pairwise(levels[: peak + 1]))
    tail = levels[peak:]
    assert all(a >= b for a, b in itertools.pairwise(tail))


def test_weight_gain_is_sustained_until_recovery() -> None:
    gain = WeightGain(start=D, duration=3 * D, gain_kg=2.5)
    diuresis = Recovery(start=6 * D, duration=2 * D, metrics=frozenset({M.BODY_WEIGHT}))
    hf = Condition.HEART_FAILURE
    base, kept, treated = patient(hf), patient(hf, (gain,)), patient(hf, (gain, diuresis))

    def extra(p: Patient, days: float) -> float:
        t = ORIGIN + timedelta(days=days)
        return p.true_value(M.BODY_WEIGHT, t) - base.true_value(M.BODY_WEIGHT, t)

    assert extra(kept, 0.5) == 0.0
    assert extra(kept, 2.5) == pytest.approx(2.5 / 2)  # linear ramp: half-way, half the gain
    assert extra(kept, 4.0) == pytest.approx(2.5)
    assert extra(kept, 30.0) == pytest.approx(2.5)
    assert extra(treated, 5.0) == pytest.approx(2.5)
    assert 0.0 < extra(treated, 7.0) < 2.5
    assert extra(treated, 8.0) == 0.0
    # The recovery named weight only: nothing else was touched.
    t = ORIGIN + 5 * D
    assert treated.true_value(M.SPO2, t) == base.true_value(M.SPO2, t)


def test_recovery_cuts_an_event_short() -> None:
    desat = Desaturation(start=H, duration=3 * H)
    early = Recovery(start=H + timedelta(minutes=90), duration=timedelta(minutes=10))
    base, cut = patient(Condition.COPD), patient(Condition.COPD, (desat, early))
    t = ORIGIN + H + timedelta(minutes=80)
    assert cut.true_value(M.SPO2, t) < base.true_value(M.SPO2, t)
    for minutes in (100, 130, 170):
        t = ORIGIN + H + timedelta(minutes=minutes)
        assert cut.true_value(M.SPO2, t) == base.true_value(M.SPO2, t)


def test_events_compose_whatever_order_they_are_listed_in() -> None:
    fever = Fever(start=H, duration=D)
    desat = Desaturation(start=3 * H, duration=H)
    one = patient(Condition.COPD, (fever, desat))
    two = patient(Condition.COPD, (desat, fever))
    base = patient(Condition.COPD)
    t = ORIGIN + 3 * H + timedelta(minutes=30)
    for metric in Metric:
        assert one.sample(metric, t) == two.sample(metric, t)
    # Both raise the pulse: together more than either alone.
    alone = patient(Condition.COPD, (fever,)).true_value(M.PULSE_RATE, t)
    assert one.true_value(M.PULSE_RATE, t) > alone > base.true_value(M.PULSE_RATE, t)


def test_desaturation_reaches_its_nadir() -> None:
    p = patient(Condition.COPD, (Desaturation(start=H, duration=H, nadir_spo2=80),))
    t = ORIGIN + H + timedelta(minutes=30)
    assert 78 <= p.value_at(M.SPO2, t) <= 82


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Desaturation(start=0, duration=600, onset=400, recovery=400),
         "exceed the duration"),
        (lambda: WeightGain(start=0, duration=D, recovery=H), "takes no recovery"),
        (lambda: Recovery(start=0, duration=H, onset=60), "eases back over its whole duration"),
        (lambda: Desaturation(start=0, duration=0), "longer than zero"),
        (lambda: Desaturation(start=-5, duration=60), "must not be negative"),
        (lambda: Desaturation(start=0, duration=60, nadir_spo2=30), "greater than or equal to 50"),
        (lambda: Tachycardia(start=0, duration=60, rate=90), "greater than or equal to 100"),
        (lambda: Fever(start=0, duration=60, expected_alerts={"news3"}), "unknown alert rule key"),
        (lambda: Fever(start=0, duration=60, expected_alerts={"threshold:spo3"}),
         "names no metric"),
    ],
)
def test_bad_events_are_refused_clearly(build: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()  # type: ignore[operator]


# -- expected alerts from the real default rule sets ----------------------------------------

TYPICAL = Baselines(
    spo2=97, pulse_rate=72, systolic_bp=122, diastolic_bp=78, body_temperature=36.7,
    body_weight=75, height_m=1.72, respiratory_rate=14, blood_glucose=5.2,
)
COPD_TYPICAL = TYPICAL.model_copy(
    update={"spo2": 90.0, "respiratory_rate": 18.0, "pulse_rate": 85.0}
)
HTN_TYPICAL = TYPICAL.model_copy(update={"systolic_bp": 152.0, "diastolic_bp": 95.0})


@pytest.mark.parametrize(
    ("event", "condition", "baselines", "expected"),
    [
        (Desaturation(start=0, duration=H), Condition.GENERAL_ADULT, TYPICAL,
         {"threshold:spo2", "news2"}),
        (Desaturation(start=0, duration=H, nadir_spo2=90), Condition.COPD, COPD_TYPICAL,
         {"threshold:respiratory_rate"}),  # SpO2 unchanged, but breathing 24/min
        (Desaturation(start=0, duration=H, nadir_spo2=85, resp_rise=2, pulse_rise=0),
         Condition.COPD, COPD_TYPICAL, {"threshold:spo2"}),
        (HypertensiveSpike(start=0, duration=H), Condition.GENERAL_ADULT, TYPICAL,
         {"threshold:systolic_bp"}),
        (HypertensiveSpike(start=0, duration=H), Condition.HYPERTENSION, HTN_TYPICAL,
         {"bp_average"}),
        (HypertensiveSpike(start=0, duration=H, systolic=170, diastolic=100),
         Condition.HYPERTENSION, HTN_TYPICAL, set()),
        (Fever(start=0, duration=D), Condition.GENERAL_ADULT, TYPICAL,
         {"threshold:body_temperature"}),
        (WeightGain(start=0, duration=3 * D), Condition.HEART_FAILURE, TYPICAL,
         {"trend:body_weight"}),
        (WeightGain(start=0, duration=6 * D, gain_kg=2.5), Condition.HEART_FAILURE, TYPICAL,
         set()),  # 1.25 kg per 3 days
        (WeightGain(start=0, duration=5 * D, gain_kg=4.0), Condition.HEART_FAILURE, TYPICAL,
         {"trend:body_weight"}),  # 2.4 kg per 3 days
        (WeightGain(start=0, duration=3 * D), Condition.GENERAL_ADULT, TYPICAL, set()),
        (Hypotension(start=0, duration=H), Condition.GENERAL_ADULT, TYPICAL,
         {"threshold:systolic_bp", "news2"}),
        (Hypotension(start=0, duration=H), Condition.HYPERTENSION, HTN_TYPICAL,
         {"threshold:systolic_bp"}),
        (Tachycardia(start=0, duration=H), Condition.GENERAL_ADULT, TYPICAL,
         {"threshold:pulse_rate", "threshold:heart_rate", "news2"}),
        # No default rule set watches glucose yet.
        (Hypoglycaemia(start=0, duration=H), Condition.DIABETES, TYPICAL, set()),
        (Recovery(start=0, duration=H), Condition.GENERAL_ADULT, TYPICAL, set()),
        (Fever(start=0, duration=H, expected_alerts=frozenset({"news2"})),
         Condition.GENERAL_ADULT, TYPICAL, {"news2"}),
    ],
)
def test_expected_alerts_follow_the_default_rules(
    event: Event, condition: Condition, baselines: Baselines, expected: set[str]
) -> None:
    assert event_alerts(event, baselines, rules_for(condition)) == expected


def test_expected_alerts_count_only_what_is_measured_and_honour_overrides() -> None:
    desat = Desaturation(start=0, duration=H)
    rules = rules_for(Condition.GENERAL_ADULT)
    assert event_alerts(desat, TYPICAL, rules, measured={M.PULSE_RATE}) == set()
    glucose_rules = ruleset_for(
        "general_adult",
        {"thresholds": {"blood_glucose": {
            "limits": [{"op": "<", "value": 4, "severity": "high"}]
        }}},
    )
    hypo = Hypoglycaemia(start=0, duration=H)
    assert event_alerts(hypo, TYPICAL, glucose_rules) == {"threshold:blood_glucose"}


def test_patient_expected_alerts_unions_its_events() -> None:
    p = Patient(
        id="p", seed=1, condition=Condition.GENERAL_ADULT, origin=ORIGIN, baselines=TYPICAL,
        events=(Desaturation(start=0, duration=H), Fever(start=D, duration=D)),
    )
    assert p.expected_alerts() == {"threshold:spo2", "news2", "threshold:body_temperature"}
