"""Compiled threshold rules: float comparisons that decide exactly as the decimal ones."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.metrics import Metric
from vigil.rules import (
    Limit,
    Observation,
    Severity,
    ThresholdRule,
    ThresholdState,
    evaluate_threshold,
)
from vigil.rules.compiled import CompiledThreshold, FastState
from vigil.rules.config import exact
from vigil.rules.threshold import BandState

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
QUIET = BandState()
# Limits people write (one or two decimals), and awkward binary fractions.
LIMITS = st.one_of(
    st.integers(-500, 500).map(float),
    st.integers(-5000, 5000).map(lambda n: n / 10),
    st.integers(-50000, 50000).map(lambda n: n / 100),
    st.floats(-1e6, 1e6, allow_nan=False),
)
MARGINS = st.sampled_from([0.0, 0.1, 0.2, 0.3, 0.7, 1.0, 1.5, 5.0])


def near(limit: float) -> st.SearchStrategy[float]:
    """Floats at, a few ulps around, and near the limit (and the limit +/- common margins)."""
    def ulps(base: float, n: int) -> float:
        for _ in range(abs(n)):
            base = math.nextafter(base, math.inf if n > 0 else -math.inf)
        return base
    centres = st.sampled_from([limit, limit + 0.1, limit - 0.1, limit + 0.2, limit - 0.3,
                               limit + 1.0, limit - 1.5, limit + 5.0])
    return st.one_of(
        st.builds(ulps, centres, st.integers(-3, 3)),
        st.floats(limit - 10, limit + 10, allow_nan=False),
        st.floats(allow_nan=False, allow_infinity=False),
    )


@given(st.data(), LIMITS, st.sampled_from(["<", "<=", ">", ">="]), MARGINS)
def test_float_tests_match_the_decimal_ones(data: st.DataObject, value: float, op: str,
                                            margin: float) -> None:
    limit = Limit(op=op, value=value, severity=Severity.HIGH)
    rule = ThresholdRule.model_construct(metric=Metric.SPO2, limits=[limit], hysteresis=margin,
                                         sustain=timedelta(0), max_gap=timedelta(seconds=30),
                                         auto_resolve=False)
    compiled = CompiledThreshold.of(rule).limits[0]
    for _ in range(20):
        v = data.draw(near(value))
        assert compiled.breached(v) is limit.breached(v), (v, exact(v))
        assert compiled.short_of_margin(v) is (not limit.cleared(v, margin)), (v, exact(v))
        inside = compiled.floor <= v <= compiled.ceiling
        assert inside is (not limit.breached(v)), (v, exact(v))


@pytest.mark.parametrize(("op", "limit", "value", "breached"), [
    ("<=", 35.0, 35.0, True),
    ("<=", 35.0, 35.00000000000001, False),
    (">=", 38.1, 38.1, True),
    (">=", 38.1, 38.099999999999994, False),
    ("<", 94, 93.99999999999999, True),
    ("<", 94, 94.0, False),
    # 0.1 + 0.2 is 0.30000000000000004: in decimal that is above 0.3.
    (">", 0.3, 0.1 + 0.2, True),
    (">", 0.3, 0.3, False),
])
def test_boundaries_are_those_of_the_decimals(op: str, limit: float, value: float,
                                              breached: bool) -> None:
    rule = ThresholdRule.model_construct(
        metric=Metric.SPO2, limits=[Limit(op=op, value=limit, severity=Severity.LOW)],
        hysteresis=0.0, sustain=timedelta(0), max_gap=timedelta(seconds=30),
        auto_resolve=False)
    assert CompiledThreshold.of(rule).limits[0].breached(value) is breached


@given(st.lists(st.tuples(st.sampled_from([0, 1, 1, 2, 20, 40]),
                          st.sampled_from([80.0, 84.5, 86.0, 88.0, 89.5, 91.0, 93.0, 95.0, 98.0])),
                min_size=1, max_size=30),
       st.sampled_from([0, 3, 15]))
def test_step_follows_evaluate_threshold(steps: list[tuple[int, float]], sustain: int) -> None:
    rule = ThresholdRule(
        metric=Metric.SPO2, hysteresis=1.5, sustain=timedelta(seconds=sustain),
        limits=[Limit(op="<", value=94, severity=Severity.LOW),
                Limit(op="<=", value=88, severity=Severity.MEDIUM),
                Limit(op="<", value=85, severity=Severity.HIGH, immediate=True)])
    compiled = CompiledThreshold.of(rule)
    state = None
    fast = FastState(compiled, None, None, compiled.quiet)
    t = T0
    for gap, value in steps:
        t += timedelta(seconds=gap)
        step = evaluate_threshold(rule, state, Observation(Metric.SPO2, value, t))
        fast, verdicts = compiled.step(fast, t, value)
        assert [(v.status, v.severity, v.at, v.value) for v in verdicts] == [
            (e.status, e.severity, e.at, e.value) for e in step.evaluations]
        assert fast.model() == step.state
        stored = ThresholdState.model_validate_json(fast.json())
        assert stored.model_copy(update={"bands": {**dict.fromkeys(step.state.bands, QUIET),
                                                   **stored.bands}}) == step.state
        state = step.state
