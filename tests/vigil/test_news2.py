"""NEWS2 (RCP 2017): every band boundary on both sides, rounding, incompleteness, risk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil import news2
from vigil.metrics import Metric

NORMAL: dict[str, object] = {
    "respiration_rate": 16,
    "spo2": 97,
    "spo2_scale": 1,
    "on_oxygen": False,
    "systolic_bp": 120,
    "pulse": 70,
    "consciousness": "A",
    "temperature": 37.0,
}


def score_with(**changes: object) -> news2.News2Result:
    return news2.score(**{**NORMAL, **changes})  # type: ignore[arg-type]


def test_all_normal_scores_zero_low() -> None:
    result = score_with()
    assert result.total == 0
    assert result.risk == "low"
    assert result.complete and result.missing == [] and not result.any_single_3
    assert set(result.scores) == set(news2.PARAMETERS)
    assert len(result.scores) == 7


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)],
)
def test_respiration_rate_bands(value: float, expected: int) -> None:
    assert score_with(respiration_rate=value).scores["respiration_rate"] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(70, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)],
)
@pytest.mark.parametrize("on_oxygen", [False, True])
def test_spo2_scale_1_bands_ignore_oxygen(value: float, expected: int, on_oxygen: bool) -> None:
    result = score_with(spo2=value, spo2_scale=1, on_oxygen=on_oxygen)
    assert result.scores["spo2"] == expected
    assert result.scores["air_or_oxygen"] == (2 if on_oxygen else 0)


@pytest.mark.parametrize(
    ("value", "on_air", "on_oxygen"),
    [
        (70, 3, 3), (83, 3, 3), (84, 2, 2), (85, 2, 2), (86, 1, 1), (87, 1, 1),
        (88, 0, 0), (92, 0, 0), (93, 0, 1), (94, 0, 1), (95, 0, 2), (96, 0, 2),
        (97, 0, 3), (100, 0, 3),
    ],
)
def test_spo2_scale_2_bands_on_air_and_oxygen(value: float, on_air: int, on_oxygen: int) -> None:
    assert score_with(spo2=value, spo2_scale=2, on_oxygen=False).scores["spo2"] == on_air
    assert score_with(spo2=value, spo2_scale=2, on_oxygen=True).scores["spo2"] == on_oxygen


def test_spo2_scale_defaults_to_1_when_none() -> None:
    result = score_with(spo2=93, spo2_scale=None)
    assert result.spo2_scale == 1
    assert result.scores["spo2"] == 2


def test_scale_2_above_92_with_unknown_oxygen_is_not_guessed() -> None:
    result = score_with(spo2=95, spo2_scale=2, on_oxygen=None)
    assert result.scores["spo2"] is None
    assert result.missing == ["air_or_oxygen"]
    assert result.total is None and result.risk is None
    # Below 93 the Scale 2 score does not depend on oxygen.
    assert score_with(spo2=90, spo2_scale=2, on_oxygen=None).scores["spo2"] == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(60, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3),
     (260, 3)],
)
def test_systolic_bp_bands(value: float, expected: int) -> None:
    assert score_with(systolic_bp=value).scores["systolic_bp"] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(30, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2),
     (130, 2), (131, 3), (180, 3)],
)
def test_pulse_bands(value: float, expected: int) -> None:
    assert score_with(pulse=value).scores["pulse"] == expected


@pytest.mark.parametrize(("level", "expected"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness(level: str, expected: int) -> None:
    result = score_with(consciousness=level)
    assert result.scores["consciousness"] == expected
    assert result.any_single_3 == (expected == 3)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(33.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1),
     (39.1, 2), (41.0, 2)],
)
def test_temperature_bands(value: float, expected: int) -> None:
    assert score_with(temperature=value).scores["temperature"] == expected


@pytest.mark.parametrize(
    ("parameter", "changes", "expected"),
    [
        # Half-up where banker's rounding (half to even) would land on the other band.
        ("temperature", {"temperature": 35.05}, 1),  # 35.1, not 35.0
        ("temperature", {"temperature": 35.04}, 3),
        ("temperature", {"temperature": 36.05}, 0),  # 36.1
        ("temperature", {"temperature": 38.05}, 1),  # 38.1
        ("temperature", {"temperature": 39.05}, 2),  # 39.1
        ("temperature", {"temperature": 38.049}, 0),
        ("spo2", {"spo2": 91.5}, 2),  # 92
        ("spo2", {"spo2": 91.49}, 3),
        ("spo2", {"spo2": 92.5, "spo2_scale": 2, "on_oxygen": True}, 1),  # 93, not 92
        ("spo2", {"spo2": 94.5, "spo2_scale": 2, "on_oxygen": True}, 2),  # 95, not 94
        ("spo2", {"spo2": 96.5, "spo2_scale": 2, "on_oxygen": True}, 3),  # 97, not 96
        ("respiration_rate", {"respiration_rate": 8.5}, 1),  # 9, not 8
        ("respiration_rate", {"respiration_rate": 20.5}, 2),  # 21, not 20
        ("respiration_rate", {"respiration_rate": 24.5}, 3),  # 25, not 24
        ("systolic_bp", {"systolic_bp": 90.5}, 2),  # 91, not 90
        ("systolic_bp", {"systolic_bp": 100.5}, 1),
        ("systolic_bp", {"systolic_bp": 110.5}, 0),
        ("systolic_bp", {"systolic_bp": 219.5}, 3),
        ("pulse", {"pulse": 40.5}, 1),  # 41, not 40
        ("pulse", {"pulse": 50.5}, 0),
        ("pulse", {"pulse": 90.5}, 1),
        ("pulse", {"pulse": 110.5}, 2),
        ("pulse", {"pulse": 130.5}, 3),
        ("pulse", {"pulse": 130.4}, 2),
    ],
)
def test_rounding_is_half_up_to_chart_resolution(
    parameter: str, changes: dict[str, object], expected: int
) -> None:
    assert score_with(**changes).scores[parameter] == expected


def test_round_half_up_uses_the_written_decimal() -> None:
    assert str(news2.round_half_up(35.05, 1)) == "35.1"
    assert str(news2.round_half_up(2.675, 2)) == "2.68"  # binary 2.67499...
    assert str(news2.round_half_up(92.5, 0)) == "93"
    assert round(92.5) == 92  # what banker's rounding would have scored


@pytest.mark.parametrize(
    ("changes", "total", "risk", "single_3"),
    [
        ({}, 0, "low", False),
        ({"temperature": 38.5, "pulse": 95, "respiration_rate": 10}, 3, "low", False),
        ({"temperature": 38.5, "pulse": 95, "respiration_rate": 10, "systolic_bp": 105}, 4,
         "low", False),
        ({"consciousness": "C"}, 3, "low-medium", True),
        ({"spo2": 91}, 3, "low-medium", True),
        ({"spo2": 91, "pulse": 95}, 4, "low-medium", True),
        ({"respiration_rate": 22, "on_oxygen": True, "pulse": 95}, 5, "medium", False),
        ({"respiration_rate": 22, "on_oxygen": True, "pulse": 115}, 6, "medium", False),
        ({"spo2": 91, "on_oxygen": True}, 5, "medium", True),
        ({"respiration_rate": 22, "on_oxygen": True, "pulse": 115, "temperature": 38.5}, 7,
         "high", False),
        ({"respiration_rate": 30, "spo2": 85, "systolic_bp": 85, "pulse": 140,
          "consciousness": "U", "temperature": 34, "on_oxygen": True}, 20, "high", True),
    ],
)
def test_totals_and_risk_bands(
    changes: dict[str, object], total: int, risk: str, single_3: bool
) -> None:
    result = score_with(**changes)
    assert result.total == total
    assert result.risk == risk
    assert result.any_single_3 == single_3


@pytest.mark.parametrize(
    ("parameter", "score_key"),
    [
        ("respiration_rate", "respiration_rate"),
        ("spo2", "spo2"),
        ("on_oxygen", "air_or_oxygen"),
        ("systolic_bp", "systolic_bp"),
        ("pulse", "pulse"),
        ("consciousness", "consciousness"),
        ("temperature", "temperature"),
    ],
)
def test_any_missing_parameter_makes_the_set_incomplete(parameter: str, score_key: str) -> None:
    trigger = {"pulse": 140} if parameter != "pulse" else {"spo2": 91}
    result = score_with(**{**trigger, parameter: None})
    assert not result.complete
    assert result.total is None and result.risk is None
    assert result.missing == [score_key]
    assert result.scores[score_key] is None
    # The rest is still scored, and a 3 among them still shows.
    assert all(v is not None for k, v in result.scores.items() if k != score_key)
    assert result.any_single_3


def test_everything_missing() -> None:
    result = news2.score(
        respiration_rate=None, spo2=None, spo2_scale=None, on_oxygen=None, systolic_bp=None,
        pulse=None, consciousness=None, temperature=None,
    )
    assert result.missing == list(news2.PARAMETERS)
    assert result.total is None and result.risk is None and not result.any_single_3
    assert result.partial_total == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"consciousness": "X"}, "consciousness must be one of A, C, V, P, U"),
        ({"consciousness": "a"}, "consciousness must be one of"),
        ({"consciousness": "Alert"}, "consciousness must be one of"),
        ({"spo2_scale": 3}, "spo2_scale must be 1 or 2"),
        ({"spo2_scale": 0}, "spo2_scale must be 1 or 2"),
        ({"spo2_scale": True}, "spo2_scale must be 1 or 2"),
        ({"on_oxygen": "yes"}, "on_oxygen must be True, False or None"),
        ({"on_oxygen": 1}, "on_oxygen must be True, False or None"),
        ({"temperature": 98.6}, "is it in °F"),
        ({"spo2": 101}, "spo2 101 is outside the plausible range"),
        ({"pulse": float("nan")}, "pulse must be a finite number"),
        ({"systolic_bp": float("inf")}, "systolic_bp must be a finite number"),
        ({"respiration_rate": True}, "respiration_rate must be a number"),
        ({"pulse": "80"}, "pulse must be a number"),
        ({"respiration_rate": -1}, "outside the plausible range"),
    ],
)
def test_invalid_input_raises_a_clear_value_error(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score_with(**changes)


def test_result_is_serialisable() -> None:
    result = score_with(spo2=91)
    assert news2.News2Result.model_validate_json(result.model_dump_json()) == result


complete_sets = st.fixed_dictionaries(
    {
        "respiration_rate": st.floats(1, 80),
        "spo2": st.floats(0, 100),
        "spo2_scale": st.sampled_from([1, 2]),
        "on_oxygen": st.booleans(),
        "systolic_bp": st.floats(40, 300),
        "pulse": st.floats(15, 300),
        "consciousness": st.sampled_from(news2.CONSCIOUSNESS_LEVELS),
        "temperature": st.floats(25, 45),
    }
)


@given(complete_sets)
def test_total_is_the_sum_of_scores_and_risk_follows(values: dict[str, object]) -> None:
    result = news2.score(**values)  # type: ignore[arg-type]
    scores = [v for v in result.scores.values() if v is not None]
    assert len(scores) == 7 and result.complete
    assert result.total == sum(scores)
    assert result.any_single_3 == (3 in scores)
    assert result.total is not None
    if result.total >= 7:
        assert result.risk == "high"
    elif result.total >= 5:
        assert result.risk == "medium"
    elif 3 in scores:
        assert result.risk == "low-medium"
    else:
        assert result.risk == "low"


@given(complete_sets, st.sampled_from(["respiration_rate", "spo2", "on_oxygen", "systolic_bp",
                                       "pulse", "consciousness", "temperature"]))
def test_dropping_a_parameter_never_yields_a_total(values: dict[str, object], name: str) -> None:
    complete = news2.score(**values)  # type: ignore[arg-type]
    partial = news2.score(**{**values, name: None})  # type: ignore[arg-type]
    assert partial.total is None and partial.risk is None and not partial.complete
    assert partial.partial_total <= (complete.total or 0)


T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def test_inputs_from_readings_takes_the_latest_fresh_value_per_parameter() -> None:
    readings = [
        (Metric.RESPIRATORY_RATE, 18.0, T0 - timedelta(minutes=50)),
        (Metric.RESPIRATORY_RATE, 22.0, T0 - timedelta(minutes=5)),
        (Metric.SPO2, 95.0, T0 - timedelta(minutes=1)),
        (Metric.SYSTOLIC_BP, 118.0, T0 - timedelta(hours=1)),  # exactly window old: fresh
        (Metric.PULSE_RATE, 80.0, T0 - timedelta(minutes=30)),
        (Metric.HEART_RATE, 95.0, T0 - timedelta(minutes=2)),  # newer: pulse comes from here
        (Metric.BODY_TEMPERATURE, 37.2, T0 - timedelta(hours=1, seconds=1)),  # stale
        (Metric.DIASTOLIC_BP, 80.0, T0),  # not a NEWS2 parameter
        ("body_weight", 80.0, T0),
    ]
    inputs = news2.inputs_from_readings(
        readings, now=T0, window=timedelta(hours=1), on_oxygen=False, consciousness="A"
    )
    assert inputs.respiration_rate == 22.0
    assert inputs.spo2 == 95.0
    assert inputs.systolic_bp == 118.0
    assert inputs.pulse == 95.0
    assert inputs.temperature is None
    assert inputs.stale == ["temperature"]
    assert inputs.missing == ["temperature"]
    assert inputs.measured_at["pulse"] == T0 - timedelta(minutes=2)
    result = inputs.score()
    assert not result.complete and result.missing == ["temperature"]
    assert result.scores["respiration_rate"] == 2 and result.scores["pulse"] == 1


def test_inputs_name_unsupplied_context_and_absent_readings_as_missing() -> None:
    inputs = news2.inputs_from_readings(
        [(Metric.SPO2, 97.0, T0)], now=T0, window=timedelta(minutes=30), spo2_scale=2
    )
    assert inputs.missing == [
        "respiration_rate", "air_or_oxygen", "systolic_bp", "pulse", "consciousness",
        "temperature",
    ]
    assert inputs.stale == []
    assert inputs.spo2_scale == 2


def test_inputs_complete_set_scores() -> None:
    readings = [(metric, value, T0) for metric, value in [
        (Metric.RESPIRATORY_RATE, 16.0), (Metric.SPO2, 97.0), (Metric.SYSTOLIC_BP, 120.0),
        (Metric.PULSE_RATE, 70.0), (Metric.BODY_TEMPERATURE, 37.0)]]
    inputs = news2.inputs_from_readings(
        readings, now=T0, window=timedelta(hours=1), on_oxygen=True, consciousness="A"
    )
    result = inputs.score()
    assert result.complete and result.total == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"now": datetime(2024, 3, 1)}, "now must be timezone-aware"),
        ({"window": timedelta(0)}, "window must be positive"),
        ({"consciousness": "Z"}, "consciousness must be one of"),
        ({"spo2_scale": 5}, "spo2_scale must be 1 or 2"),
    ],
)
def test_inputs_reject_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"now": T0, "window": timedelta(hours=1), **kwargs}
    with pytest.raises(ValueError, match=message):
        news2.inputs_from_readings([], **arguments)  # type: ignore[arg-type]


def test_inputs_reject_naive_reading_times_and_unknown_metrics() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        news2.inputs_from_readings(
            [(Metric.SPO2, 97.0, datetime(2024, 3, 1))], now=T0, window=timedelta(hours=1)
        )
    with pytest.raises(ValueError, match="not_a_metric"):
        news2.inputs_from_readings(
            [("not_a_metric", 1.0, T0)], now=T0, window=timedelta(hours=1)
        )
