"""parameter_score gives each device parameter the score `score()` gives it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.metrics import CATALOGUE
from vigil.news2 import DEVICE_PARAMETERS, parameter_score, score

NONE = dict.fromkeys(DEVICE_PARAMETERS)


@given(st.data(), st.sampled_from(list(DEVICE_PARAMETERS)), st.sampled_from([1, 2]),
       st.sampled_from([None, True, False]))
def test_parameter_score_is_scores_entry(data: st.DataObject, parameter: str, scale: int,
                                         on_oxygen: bool | None) -> None:
    spec = CATALOGUE[DEVICE_PARAMETERS[parameter]]
    value = data.draw(st.one_of(
        st.floats(spec.plausible_min, spec.plausible_max),
        st.integers(int(spec.plausible_min) * 2, int(spec.plausible_max) * 2).map(
            lambda n: n / 2).filter(spec.is_plausible)))
    full = score(**{**NONE, parameter: value}, spo2_scale=scale, on_oxygen=on_oxygen,
                 consciousness=None)
    assert parameter_score(parameter, value, spo2_scale=1 if scale == 1 else 2,
                           on_oxygen=on_oxygen) == full.scores[parameter]


def test_unknown_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="not a NEWS2 device parameter"):
        parameter_score("consciousness", 1.0)
