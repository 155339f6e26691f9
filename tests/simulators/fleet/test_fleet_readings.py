"""The fleet's fast reading construction is the contract's Reading.create, field for field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from simulators.fleet.readings import make_reading
from vigil.messages import Origin, Reading, ReadingBatch, encode
from vigil.metrics import CATALOGUE, Metric
from vigil.quality import QualityFlag

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@given(
    metric=st.sampled_from(list(Metric)),
    offset_ms=st.integers(min_value=0, max_value=10**10),
    device_clock=st.booleans(),
    sequence=st.none() | st.integers(min_value=0, max_value=2**32 - 1),
    flags=st.sets(st.sampled_from(list(QualityFlag)), max_size=3),
    origin=st.sampled_from(list(Origin)),
    fraction=st.floats(min_value=0.0, max_value=1.0),
)
def test_make_reading_equals_reading_create(
    metric: Metric, offset_ms: int, device_clock: bool, sequence: int | None,
    flags: set[QualityFlag], origin: Origin, fraction: float,
) -> None:
    spec = CATALOGUE[metric]
    value = spec.plausible_min + fraction * (spec.plausible_max - spec.plausible_min)
    at = T0 + timedelta(milliseconds=offset_ms)
    device_time = (at + timedelta(hours=1)).replace(tzinfo=None, microsecond=0) \
        if device_clock else None
    fields = dict(device_id="SIM-P-00001-0-PULSE_OXIMETER", metric=metric, value=value,
                  measured_at=at, received_at=at, device_time=device_time, sequence=sequence,
                  quality=flags, origin=origin)
    fast = make_reading(**fields)  # type: ignore[arg-type]
    slow = Reading.create(**fields)  # type: ignore[arg-type]
    assert fast == slow
    assert Reading.model_validate_json(fast.model_dump_json()) == slow
    batch = ReadingBatch(gateway_id="sim-gw-00001", sent_at=T0, readings=[fast])
    assert encode(batch) == encode(ReadingBatch(gateway_id="sim-gw-00001", sent_at=T0,
                                                readings=[slow]))
