"""The fleet's fast wire readings are the contract's Reading.create, byte for byte on the wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.fleet.gateway import encode_batches, mark_late
from simulators.fleet.readings import WireReading, encode_batch, json_time, make_reading
from vigil.messages import (
    MAX_PAYLOAD_BYTES,
    Origin,
    PayloadTooLarge,
    Reading,
    ReadingBatch,
    decode,
    encode,
)
from vigil.metrics import CATALOGUE, Metric
from vigil.quality import QualityFlag

T0 = datetime(2026, 3, 1, tzinfo=UTC)
GATEWAY = "sim-gw-00001"


@st.composite
def reading_fields(draw: st.DrawFn) -> dict[str, object]:
    metric = draw(st.sampled_from(list(Metric)))
    spec = CATALOGUE[metric]
    # Any finite value in range, not only device-resolution ones: float rendering must agree.
    value = draw(st.floats(min_value=spec.plausible_min, max_value=spec.plausible_max))
    at = T0 + timedelta(microseconds=draw(st.integers(min_value=0, max_value=10**16)))
    received = at + timedelta(microseconds=draw(st.sampled_from([0, 1, 250_000, 10**9])))
    device_time = (at + timedelta(hours=1)).replace(tzinfo=None, microsecond=0) \
        if draw(st.booleans()) else None
    # A few devices: the per-stream caches must keep them apart.
    device_id = draw(st.sampled_from(["SIM-P-00001-0-PULSE_OXIMETER", "SIM-P-00002-0-CUFF",
                                      "AA:BB:CC:DD:EE:FF"]))
    return dict(device_id=device_id, metric=metric, value=value,
                measured_at=at, received_at=received, device_time=device_time,
                sequence=draw(st.none() | st.integers(min_value=0, max_value=2**32 - 1)),
                quality=draw(st.sets(st.sampled_from(list(QualityFlag)), max_size=3)),
                origin=draw(st.sampled_from(list(Origin))))


@given(reading_fields())
def test_wire_reading_is_reading_create_on_the_wire(fields: dict[str, object]) -> None:
    fast = make_reading(**fields)  # type: ignore[arg-type]
    slow = Reading.create(**fields)  # type: ignore[arg-type]
    assert fast.id == slow.id
    assert fast.json == slow.model_dump_json(exclude_none=True)
    assert fast.to_reading() == slow  # validated, id check included
    assert (fast.received_at, fast.origin) == (slow.received_at, slow.origin)


@given(st.lists(reading_fields(), min_size=1, max_size=5),
       st.integers(min_value=0, max_value=10**12))
def test_batches_encode_as_the_contract_does(fields: list[dict[str, object]],
                                             sent_us: int) -> None:
    sent_at = T0 + timedelta(microseconds=sent_us)
    fast = [make_reading(**f) for f in fields]  # type: ignore[arg-type]
    slow = [Reading.create(**f) for f in fields]  # type: ignore[arg-type]
    payload = encode_batch(GATEWAY, fast, sent_at)
    assert payload == encode(ReadingBatch(gateway_id=GATEWAY, sent_at=sent_at, readings=slow))
    assert decode(ReadingBatch, payload).readings == slow


@given(reading_fields())
def test_late_is_the_contract_reading_with_origin_late(fields: dict[str, object]) -> None:
    wire = make_reading(**fields)  # type: ignore[arg-type]
    late = wire.as_late()
    if wire.origin is Origin.LIVE:
        expected = Reading.create(**{**fields, "origin": Origin.LATE})  # type: ignore[arg-type]
        assert late.json == expected.model_dump_json(exclude_none=True)
        assert late.to_reading() == expected and late.id == wire.id
    else:
        assert late is wire  # stored records stay stored


@pytest.mark.parametrize(("age_s", "late"), [(0.0, False), (600.0, False), (600.001, True)])
def test_mark_late_after_the_agents_threshold(age_s: float, late: bool) -> None:
    wire = make_reading(device_id="DEV-1", metric=Metric.SPO2, value=97.0, measured_at=T0,
                        received_at=T0)
    [marked] = mark_late([wire], T0 + timedelta(seconds=age_s), 600.0)
    assert marked.origin is (Origin.LATE if late else Origin.LIVE)


def test_mark_late_marks_only_old_live_readings_in_place_order() -> None:
    def wire(age_s: float, origin: Origin = Origin.LIVE) -> WireReading:
        at = T0 - timedelta(seconds=age_s)
        return make_reading(device_id="DEV-1", metric=Metric.SPO2, value=97.0, measured_at=at,
                            received_at=at, origin=origin)

    mixed = [wire(5), wire(900), wire(900, Origin.STORED), wire(0)]
    assert [r.origin for r in mark_late(mixed, T0, 600.0)] == [
        Origin.LIVE, Origin.LATE, Origin.STORED, Origin.LIVE]
    fresh = [wire(5), wire(0)]
    assert mark_late(fresh, T0, 600.0) == fresh and mark_late([], T0, 600.0) == []


@pytest.mark.parametrize(
    ("value", "text"),
    [(datetime(2026, 1, 1, 1, 2, 3, tzinfo=UTC), "2026-01-01T01:02:03Z"),
     (datetime(2026, 1, 1, 1, 2, 3, 5, tzinfo=UTC), "2026-01-01T01:02:03.000005Z"),
     (datetime(2026, 1, 1, 1, 2, 3), "2026-01-01T01:02:03")],
)
def test_json_time_renders_as_pydantic(value: datetime, text: str) -> None:
    assert json_time(value) == text


def test_batches_split_by_size_and_oversize_falls_back_to_the_contract() -> None:
    readings = [make_reading(device_id="DEV-1", metric=Metric.SPO2, value=97.0,
                             measured_at=T0 + timedelta(seconds=i),
                             received_at=T0 + timedelta(seconds=i)) for i in range(7)]
    payloads = encode_batches(GATEWAY, readings, T0, batch_size=3)
    assert [n for _, n in payloads] == [3, 3, 1]
    decoded = [r.id for p, _ in payloads for r in decode(ReadingBatch, p).readings]
    assert decoded == [r.id for r in readings]
    with pytest.raises(PayloadTooLarge):
        encode_batch(GATEWAY, readings, T0, limit=100)
    # A batch over the payload limit is split by the contract's batch_readings instead.
    many = [make_reading(device_id="DEV-1", metric=Metric.SPO2, value=97.0,
                         measured_at=T0 + timedelta(seconds=i),
                         received_at=T0 + timedelta(seconds=i)) for i in range(1500)]
    assert len(b",".join(r.json.encode() for r in many)) > MAX_PAYLOAD_BYTES
    split = encode_batches(GATEWAY, many, T0, batch_size=2000)
    assert len(split) > 1 and all(len(p) <= MAX_PAYLOAD_BYTES for p, _ in split)
    assert [r.id for p, _ in split for r in decode(ReadingBatch, p).readings] == [
        r.id for r in many]


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_values_render_as_pydantic_renders_floats(value: float) -> None:
    from pydantic_core import to_json

    from simulators.fleet.readings import _json_float

    assert _json_float(value) == to_json(value).decode()
