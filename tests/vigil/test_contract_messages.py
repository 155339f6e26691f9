"""The wire contract: deterministic ids, validation, size limit, batching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from vigil.messages import (
    MAX_PAYLOAD_BYTES,
    Ack,
    DeviceEvent,
    DeviceEventKind,
    GatewayState,
    GatewayStatus,
    Origin,
    PayloadTooLarge,
    Reading,
    ReadingBatch,
    RejectedReading,
    batch_readings,
    decode,
    encode,
    reading_id,
)
from vigil.metrics import CATALOGUE, Metric
from vigil.quality import QualityFlag

T0 = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def spo2(value: float = 97, **kw: object) -> Reading:
    fields: dict[str, object] = {
        "device_id": "aa:bb:cc:dd:ee:01",
        "metric": Metric.SPO2,
        "value": value,
        "measured_at": T0,
        "received_at": T0 + timedelta(seconds=1),
    }
    fields.update(kw)
    return Reading.create(**fields)  # type: ignore[arg-type]


def test_id_is_deterministic_from_natural_key_only() -> None:
    a = spo2(97)
    b = spo2(97, received_at=T0 + timedelta(hours=2), origin=Origin.LATE)
    assert a.id == b.id, "receipt time and origin are not part of the natural key"
    assert spo2(97, sequence=1).id != spo2(97, sequence=2).id
    assert spo2(70, metric=Metric.PULSE_RATE).id != a.id
    assert spo2(97, measured_at=T0 + timedelta(seconds=1)).id != a.id


def test_device_time_is_the_key_when_present() -> None:
    """A re-fetched stored record gets a new corrected time but keeps its id."""
    device_time = datetime(2026, 11, 25, 9, 0)
    first = spo2(95, device_time=device_time, measured_at=T0)
    again = spo2(95, device_time=device_time, measured_at=T0 + timedelta(seconds=7))
    assert first.id == again.id


def test_device_id_is_normalised() -> None:
    assert spo2(device_id="aa:bb:cc:dd:ee:01").id == spo2(device_id="AA:BB:CC:DD:EE:01").id


def test_times_are_normalised_to_utc() -> None:
    plus_one = timezone(timedelta(hours=1))
    reading = spo2(measured_at=T0.astimezone(plus_one))
    assert reading.measured_at.utcoffset() == timedelta(0)
    assert reading.id == spo2().id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"unit": "mmHg"}, "carried in"),
        ({"id": "00000000-0000-0000-0000-000000000000"}, "natural key"),
        ({"value": float("nan")}, "finite"),
        ({"value": float("inf")}, "finite"),
        ({"measured_at": "2026-11-25T09:30:00"}, "timezone"),
        ({"device_id": "bad/id"}, "pattern"),
        ({"metric": "cholesterol"}, "metric"),
        ({"quality": ["not_a_flag"]}, "quality"),
        ({"extra_field": 1}, "Extra inputs"),
        ({"device_time": "2026-11-25T09:30:00+00:00"}, "no zone"),
        ({"sequence": -1}, "greater than or equal"),
    ],
)
def test_invalid_readings_are_refused_clearly(change: dict[str, object], message: str) -> None:
    data = spo2().model_dump(mode="json")
    data.update(change)
    with pytest.raises(ValidationError, match=message):
        Reading.model_validate(data)


def test_batch_round_trip_on_the_wire() -> None:
    batch = ReadingBatch(
        gateway_id="gw-1",
        sent_at=T0,
        readings=[spo2(v, sequence=i, quality=[QualityFlag.LOW_PERFUSION])
                  for i, v in enumerate((95, 96))],
    )
    assert decode(ReadingBatch, encode(batch)) == batch


def test_empty_batch_is_invalid() -> None:
    with pytest.raises(ValidationError):
        ReadingBatch(gateway_id="gw-1", sent_at=T0, readings=[])


def test_other_messages_round_trip() -> None:
    status = GatewayStatus(gateway_id="gw-1", state=GatewayState.ONLINE, at=T0, outbox_depth=3)
    event = DeviceEvent.new(gateway_id="gw-1", device_id="AA:BB", event=DeviceEventKind.BATTERY,
                            at=T0, battery_level=15)
    ack = Ack(gateway_id="gw-1", committed_at=T0, stored=[spo2().id],
              rejected=[RejectedReading(id=spo2(96).id, reason="implausible_value")])
    for message in (status, event, ack):
        assert decode(type(message), encode(message)) == message


def test_sender_enforces_the_size_limit() -> None:
    readings = [spo2(sequence=i) for i in range(2000)]
    batch = ReadingBatch(gateway_id="gw-1", sent_at=T0, readings=readings)
    with pytest.raises(PayloadTooLarge):
        encode(batch)
    with pytest.raises(PayloadTooLarge):
        decode(ReadingBatch, b"x" * (MAX_PAYLOAD_BYTES + 1))


@settings(max_examples=25)
@given(st.integers(min_value=1, max_value=3000), st.integers(min_value=2_000, max_value=300_000))
def test_batching_fits_the_limit_and_keeps_every_reading_in_order(count: int, limit: int) -> None:
    readings = [spo2(sequence=i) for i in range(count)]
    batches = batch_readings("gw-1", readings, T0, limit=limit)
    assert [r.id for b in batches for r in b.readings] == [r.id for r in readings]
    assert all(len(encode(b, limit=limit)) <= limit for b in batches)


@given(
    st.text(alphabet="0123456789ABCDEF:", min_size=1, max_size=20),
    st.sampled_from(list(Metric)),
    st.datetimes(timezones=st.just(UTC)),
    st.none() | st.integers(min_value=0, max_value=2**32 - 1),
)
def test_reading_id_is_uuid5_of_the_natural_key(
    device: str, metric: Metric, when: datetime, sequence: int | None
) -> None:
    import uuid

    from vigil.messages import READING_ID_NAMESPACE

    seq = "" if sequence is None else str(sequence)
    key = f"{device}|{metric.value}|{when.isoformat()}|{seq}"
    assert reading_id(device, metric, when, sequence) == str(uuid.uuid5(READING_ID_NAMESPACE, key))


def test_reading_id_matches_model() -> None:
    reading = spo2(sequence=4)
    assert reading.id == reading_id("AA:BB:CC:DD:EE:01", "spo2", T0, 4)


def test_catalogue_is_complete_and_consistent() -> None:
    assert set(CATALOGUE) == set(Metric)
    numbers = [spec.number for spec in CATALOGUE.values()]
    assert len(set(numbers)) == len(numbers)
    for spec in CATALOGUE.values():
        assert spec.plausible_min < spec.plausible_max
        assert spec.loinc and spec.ucum and spec.mdc_code > 0
