"""The flat value model: the patient's baseline plus a deterministic wobble, clamped to the
metric's limits and quantised to device resolution -- the fleet's cheap load values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from simulators.fleet.values import _FLAT_SD, ValueModel, _baseline, sampler
from simulators.physiology import signals
from simulators.physiology.noise import bounded_normal, stream_id
from simulators.physiology.scenario import PatientSpec
from vigil.metrics import CATALOGUE, Metric

ORIGIN = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=2**31), st.sampled_from(list(Metric)),
       st.integers(min_value=0, max_value=10**8))
def test_flat_values_are_the_clamped_quantised_wobble(seed: int, metric: Metric,
                                                      second: int) -> None:
    """The sampler inlines signals.clamp and signals.quantise; it must equal them."""
    patient = PatientSpec(id="p", seed=seed).build(ORIGIN)
    t = ORIGIN + timedelta(seconds=second, microseconds=second % 999_983)
    wobble = _FLAT_SD[metric] * bounded_normal(stream_id(patient.seed, f"flat:{metric.value}"),
                                               int(t.timestamp()))
    expected = signals.quantise(
        signals.clamp(metric, _baseline(patient.baselines, metric) + wobble),
        signals.default_resolution(metric))
    value, flags = sampler(patient, ValueModel.FLAT)(metric, t)
    assert (value, flags) == (expected, frozenset())
    spec = CATALOGUE[metric]
    assert spec.plausible_min <= value <= spec.plausible_max
