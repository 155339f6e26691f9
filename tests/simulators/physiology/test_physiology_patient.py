"""Patients: deterministic by seed, plausible, rhythmic, quantised like real devices."""

from __future__ import annotations

import itertools
import random
import statistics
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.physiology import (
    Condition,
    Desaturation,
    Fever,
    Hyperglycaemia,
    HypertensiveSpike,
    Hypoglycaemia,
    Hypotension,
    NaiveTimeError,
    Patient,
    QualityHint,
    Recovery,
    Tachycardia,
    WeightGain,
)
from vigil.metrics import CATALOGUE, Metric
from vigil.quality import is_questionable

ORIGIN = datetime(2025, 3, 1, tzinfo=UTC)


def patient(
    seed: int = 42, condition: Condition = Condition.GENERAL_ADULT, **kw: object
) -> Patient:
    return Patient.model_validate(
        {"id": f"p{seed}", "seed": seed, "condition": condition, "origin": ORIGIN, **kw}
    )


def times(count: int, step: timedelta, start: datetime = ORIGIN) -> list[datetime]:
    return [start + i * step for i in range(count)]


# -- determinism ----------------------------------------------------------------------------


def test_same_seed_same_values_in_any_order() -> None:
    moments = times(60, timedelta(minutes=7, seconds=13))
    shuffled = moments[:]
    random.Random(5).shuffle(shuffled)
    first, second = patient(), patient()
    for metric in Metric:
        forward = {t: first.value_at(metric, t) for t in moments}
        backward = {t: second.value_at(metric, t) for t in reversed(moments)}
        mixed = {t: second.sample(metric, t) for t in shuffled}
        assert forward == backward, metric
        for t in moments:
            assert mixed[t] == first.sample(metric, t)
            if not mixed[t].hints:
                assert mixed[t].value == forward[t]


def test_different_seeds_differ() -> None:
    moments = times(20, timedelta(minutes=5))
    patients = [patient(seed) for seed in range(8)]
    for metric in Metric:
        series = {tuple(p.true_value(metric, t) for t in moments) for p in patients}
        assert len(series) == 8, metric


def test_baselines_are_drawn_from_seed_and_condition() -> None:
    assert patient(1).baselines == patient(1).baselines
    assert patient(1).baselines != patient(2).baselines
    assert patient(1, Condition.COPD).baselines != patient(1).baselines


def test_a_scenario_replays_identically_on_another_day() -> None:
    # Noise is keyed by the offset from the origin, the rhythm by the local hour: the same
    # time of day on another date gives the same numbers.
    later = ORIGIN + timedelta(days=40)
    one, two = patient(origin=ORIGIN), patient(origin=later)
    for metric in Metric:
        for offset in [i * timedelta(minutes=37) for i in range(30)]:
            assert one.value_at(metric, ORIGIN + offset) == two.value_at(metric, later + offset)


def test_timezones_are_instants_and_naive_times_are_refused() -> None:
    p = patient()
    t = ORIGIN + timedelta(hours=5)
    assert p.value_at(Metric.SPO2, t) == p.value_at(
        Metric.SPO2, t.astimezone(timezone(timedelta(hours=-7)))
    )
    with pytest.raises(NaiveTimeError, match="no timezone"):
        p.value_at(Metric.SPO2, datetime(2025, 3, 1, 5))


# -- ranges and resolution ------------------------------------------------------------------

_EVENTS = st.sampled_from([
    Desaturation(start=timedelta(hours=2), duration=timedelta(minutes=40), nadir_spo2=70),
    HypertensiveSpike(start=timedelta(hours=1), duration=timedelta(hours=6), systolic=235),
    Fever(start=timedelta(hours=3), duration=timedelta(days=2), peak_temperature=41.5),
    WeightGain(start=timedelta(days=1), duration=timedelta(days=3), gain_kg=20),
    Hypotension(start=timedelta(hours=4), duration=timedelta(hours=2), systolic=60, diastolic=30),
    Tachycardia(start=timedelta(0), duration=timedelta(hours=1), rate=200),
    Hypoglycaemia(start=timedelta(hours=5), duration=timedelta(hours=1), glucose=1.5),
    Hyperglycaemia(start=timedelta(hours=5), duration=timedelta(days=1), glucose=30),
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**63 - 1),
    condition=st.sampled_from(list(Condition)),
    offset=st.floats(-1e8, 3e9, allow_nan=False),
    events=st.lists(_EVENTS, max_size=4),
)
def test_values_stay_plausible(
    seed: int, condition: Condition, offset: float, events: list[object]
) -> None:
    p = patient(seed, condition, events=tuple(events))
    for step in range(0, 4 * 86400, 86400 // 3):
        t = ORIGIN + timedelta(seconds=offset + step)
        for metric in Metric:
            spec = CATALOGUE[metric]
            sample = p.sample(metric, t)
            for value in (p.value_at(metric, t), sample.value, sample.true_value):
                assert spec.plausible_min <= value <= spec.plausible_max, (metric, value)


@pytest.mark.parametrize(
    ("metric", "resolution"),
    [
        (Metric.SPO2, 1.0),
        (Metric.PULSE_RATE, 1.0),
        (Metric.HEART_RATE, 1.0),
        (Metric.SYSTOLIC_BP, 1.0),
        (Metric.DIASTOLIC_BP, 1.0),
        (Metric.MEAN_ARTERIAL_PRESSURE, 1.0),
        (Metric.RESPIRATORY_RATE, 1.0),
        (Metric.BODY_TEMPERATURE, 0.1),
        (Metric.BODY_WEIGHT, 0.1),
        (Metric.BMI, 0.1),
        (Metric.BLOOD_GLUCOSE, 0.1),
    ],
)
def test_values_are_quantised_to_device_resolution(metric: Metric, resolution: float) -> None:
    p = patient(7)
    for t in times(100, timedelta(minutes=13)):
        value = p.value_at(metric, t)
        assert abs(value / resolution - round(value / resolution)) < 1e-6
        assert value == round(value, 1)  # no binary tails like 36.800000000000004


def test_device_resolution_can_be_coarser() -> None:
    p = patient(7)
    with pytest.raises(ValueError, match="resolution must be positive"):
        p.value_at(Metric.BODY_WEIGHT, ORIGIN, resolution=0)
    for t in times(50, timedelta(hours=1)):
        value = p.value_at(Metric.BODY_WEIGHT, t, resolution=0.5)
        assert value * 2 == round(value * 2)
        assert abs(value - p.true_value(Metric.BODY_WEIGHT, t)) <= 0.25 + 1e-9


# -- smoothness and rhythm ------------------------------------------------------------------


@pytest.mark.parametrize(("metric", "max_step"), [(Metric.SPO2, 0.35), (Metric.PULSE_RATE, 1.5)])
def test_oximetry_drifts_smoothly_second_to_second(metric: Metric, max_step: float) -> None:
    p = patient(9)
    series = [p.true_value(metric, t) for t in times(3600, timedelta(seconds=1))]
    steps = [abs(b - a) for a, b in itertools.pairwise(series)]
    assert max(steps) < max_step
    # Lag-1 autocorrelation: white noise would give about 0.
    mean = statistics.fmean(series)
    num = sum((a - mean) * (b - mean) for a, b in itertools.pairwise(series))
    den = sum((a - mean) ** 2 for a in series)
    assert num / den > 0.95


def _mean_at(p: Patient, metric: Metric, hour: int, days: int = 30) -> float:
    return statistics.fmean(
        p.true_value(metric, ORIGIN + timedelta(days=d, hours=hour, minutes=m))
        for d in range(days)
        for m in (0, 20, 40)
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_circadian_rhythm_directions(seed: int) -> None:
    p = patient(seed)
    # Asleep (03:00) versus awake (14:00), local time = UTC here.
    assert _mean_at(p, Metric.SYSTOLIC_BP, 3) < _mean_at(p, Metric.SYSTOLIC_BP, 14) - 5
    assert _mean_at(p, Metric.DIASTOLIC_BP, 3) < _mean_at(p, Metric.DIASTOLIC_BP, 14)
    assert _mean_at(p, Metric.PULSE_RATE, 3) < _mean_at(p, Metric.PULSE_RATE, 14) - 3
    # Core temperature peaks late afternoon, troughs before dawn.
    assert _mean_at(p, Metric.BODY_TEMPERATURE, 17) > _mean_at(p, Metric.BODY_TEMPERATURE, 5) + 0.3


def test_rhythm_follows_local_time() -> None:
    # A patient 10 h ahead of UTC sleeps around 17:00 UTC.
    p = patient(1, utc_offset_minutes=600)
    asleep = _mean_at(p, Metric.SYSTOLIC_BP, 17, days=10)
    assert asleep < _mean_at(p, Metric.SYSTOLIC_BP, 4, days=10)


def test_glucose_rises_after_meals() -> None:
    p = patient(5, Condition.DIABETES)
    assert _mean_at(p, Metric.BLOOD_GLUCOSE, 13) > _mean_at(p, Metric.BLOOD_GLUCOSE, 11) + 1.5


# -- conditions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "field", "low", "high"),
    [
        (Condition.COPD, "spo2", 88.0, 92.0),
        (Condition.GENERAL_ADULT, "spo2", 96.0, 99.0),
        (Condition.HYPERTENSION, "systolic_bp", 145.0, 165.0),
        (Condition.HYPERTENSION, "diastolic_bp", 88.0, 102.0),
        (Condition.DIABETES, "blood_glucose", 7.0, 10.0),
        (Condition.GENERAL_ADULT, "blood_glucose", 4.5, 6.0),
    ],
)
def test_condition_profiles(condition: Condition, field: str, low: float, high: float) -> None:
    for seed in range(40):
        assert low <= getattr(patient(seed, condition).baselines, field) <= high


def test_heart_failure_weight_swings_more() -> None:
    def spread(condition: Condition) -> float:
        mornings = [ORIGIN + timedelta(days=d, hours=8) for d in range(60)]
        return statistics.fmean(
            statistics.pstdev(patient(seed, condition).true_value(Metric.BODY_WEIGHT, t)
                              for t in mornings)
            for seed in range(6)
        )

    assert spread(Condition.HEART_FAILURE) > 1.5 * spread(Condition.GENERAL_ADULT)


def test_baselines_can_be_pinned() -> None:
    drawn = patient(3).baselines
    pinned = patient(3, baselines=drawn.model_copy(update={"spo2": 90.0}))
    assert pinned.baselines.spo2 == 90.0


# -- derived metrics and quality ------------------------------------------------------------


def test_derived_metrics_follow_their_sources() -> None:
    p = patient(12)
    for t in times(100, timedelta(minutes=17)):
        sbp, dbp = p.true_value(Metric.SYSTOLIC_BP, t), p.true_value(Metric.DIASTOLIC_BP, t)
        assert dbp <= sbp - 10
        mean = p.true_value(Metric.MEAN_ARTERIAL_PRESSURE, t)
        assert mean == pytest.approx(dbp + (sbp - dbp) / 3)
        weight = p.true_value(Metric.BODY_WEIGHT, t)
        assert p.true_value(Metric.BMI, t) == pytest.approx(weight / p.baselines.height_m**2)
        assert abs(p.true_value(Metric.HEART_RATE, t) - p.true_value(Metric.PULSE_RATE, t)) <= 3


def _restless(seed: int, condition: Condition = Condition.GENERAL_ADULT) -> Patient:
    base = patient(seed, condition)
    traits = base.traits.model_copy(
        update={"motion_rate": 0.3, "low_perfusion_rate": 0.2, "irregular_pulse_rate": 0.2}
    )
    return patient(seed, condition, traits=traits)


def test_quality_episodes_are_deterministic_and_flagged() -> None:
    p = _restless(21)
    seen: dict[QualityHint, int] = {}
    for t in times(3000, timedelta(seconds=20)):
        sample = p.sample(Metric.PULSE_RATE, t)
        assert sample == p.sample(Metric.PULSE_RATE, t)
        for hint in sample.hints:
            seen[hint] = seen.get(hint, 0) + 1
        if sample.hints:
            assert is_questionable(sample.flags)
        else:
            assert not sample.flags
    assert set(seen) == set(QualityHint)


def test_episodes_are_a_minority_of_the_time() -> None:
    p = patient(21, Condition.HEART_FAILURE)
    hinted = sum(1 for t in times(2000, timedelta(seconds=43)) if p.sample(Metric.SPO2, t).hints)
    assert hinted < 2000 * 0.2


def test_motion_artefact_makes_oximeters_under_read() -> None:
    p = _restless(4)
    diffs = [
        s.value - s.true_value
        for t in times(3000, timedelta(seconds=9))
        if (s := p.sample(Metric.SPO2, t)).hints == {QualityHint.MOTION_ARTEFACT}
    ]
    assert diffs
    assert max(diffs) <= 0.5  # rounding only
    assert min(diffs) < -1.5


def test_recovery_without_metrics_restores_everything() -> None:
    gain = WeightGain(start=timedelta(0), duration=timedelta(days=1), gain_kg=3)
    back = Recovery(start=timedelta(days=2), duration=timedelta(hours=12))
    p, base = patient(8, events=(gain, back)), patient(8)
    t = ORIGIN + timedelta(days=3)
    assert p.true_value(Metric.BODY_WEIGHT, t) == base.true_value(Metric.BODY_WEIGHT, t)
