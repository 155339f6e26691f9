"""The writer's single-enrolment shortcut must answer exactly as the general search does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ingest.decoding import Rejection
from ingest.writer import _Enrolment, _resolve, _single_windows
from vigil.messages import Reading
from vigil.metrics import Metric

_T0 = datetime(2026, 1, 1, tzinfo=UTC)
_hours = st.integers(min_value=0, max_value=10).map(lambda h: _T0 + timedelta(hours=h))
_enrolment = st.builds(
    _Enrolment,
    device_id=st.integers(1, 3),
    gateway_id=st.sampled_from(["gw-a", "gw-b", None]),
    patient_id=st.one_of(st.none(), st.integers(1, 3)),
    start=st.one_of(st.none(), _hours),
    end=st.one_of(st.none(), _hours),
)


def _shortcut(enrolments: list[_Enrolment], gateway: str, reading: Reading
              ) -> tuple[int, int] | Rejection:
    # The same test as BatchWriter._write's inline shortcut, falling back the same way.
    window = _single_windows({reading.device_id: enrolments}).get(reading.device_id)
    at = reading.measured_at
    if (window is not None and window[0] <= at and (window[1] is None or at < window[1])
            and window[2] == gateway):
        return window[3]
    return _resolve(enrolments, gateway, reading)


@given(st.lists(_enrolment, max_size=3), st.sampled_from(["gw-a", "gw-b"]),
       st.integers(-1, 11))
def test_single_window_shortcut_matches_the_search(
    enrolments: list[_Enrolment], gateway: str, hour: int
) -> None:
    reading = Reading.create(device_id="AA:BB", metric=Metric.SPO2, value=97.0,
                             measured_at=_T0 + timedelta(hours=hour, minutes=30),
                             received_at=_T0 + timedelta(hours=hour, minutes=30))
    assert _shortcut(enrolments, gateway, reading) == _resolve(enrolments, gateway, reading)
