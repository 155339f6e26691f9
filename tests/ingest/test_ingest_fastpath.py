"""The fast path agrees with the contract: whatever it accepts, the contract accepts with equal
values (down to types, time zones and fields_set); whatever it declines is left to the
contract, so decode_message decides exactly as before."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from ingest.decoding import ReadingsMessage, decode_message
from ingest.fastpath import fast_readings
from vigil.messages import Reading, ReadingBatch, decode, encode, reading_id
from vigil.metrics import CATALOGUE, Metric
from vigil.quality import QualityFlag
from vigil.topics import Channel, topic

GW = "gw-fast"
DEV = "AA:BB:CC:00:00:01"
AT = datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=UTC)


def reading(**kw: Any) -> Reading:
    fields: dict[str, Any] = {"device_id": DEV, "metric": Metric.SPO2, "value": 97.0,
                              "measured_at": AT, "received_at": AT + timedelta(seconds=1),
                              "sequence": 7}
    fields.update(kw)
    return Reading.create(**fields)


def payload(readings: list[Reading], gateway: str = GW) -> bytes:
    # The size limit is ingest's first check (decode_message), before either path.
    batch = ReadingBatch.model_construct(gateway_id=gateway, sent_at=AT, readings=readings)
    return encode(batch, limit=1 << 30)


def body(readings: list[Reading]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(payload(readings))
    return data


def assert_same(fast: list[Reading], slow: list[Reading]) -> None:
    """Equal as models, and equal in every detail a caller could observe."""
    assert fast == slow
    for a, b in zip(fast, slow, strict=True):
        assert a.model_fields_set == b.model_fields_set
        assert a.__pydantic_extra__ == b.__pydantic_extra__
        assert a.__pydantic_private__ == b.__pydantic_private__
        for name in Reading.model_fields:
            x, y = getattr(a, name), getattr(b, name)
            assert type(x) is type(y), name
            if isinstance(x, datetime):
                assert x.tzinfo is y.tzinfo, name  # both UTC itself, or both naive
            if isinstance(x, tuple):
                assert [type(i) for i in x] == [type(i) for i in y]
        assert a.model_dump_json() == b.model_dump_json()


def check_agreement(raw: bytes, gateway: str = GW) -> bool:
    """Fast path vs contract on one payload; True when the fast path accepted it."""
    fast = fast_readings(gateway, raw)
    if fast is None:
        return False
    # Raises if the fast path accepted something invalid.
    batch = decode(ReadingBatch, raw, limit=len(raw))
    assert batch.gateway_id == gateway
    assert fast[0] == batch.sent_at and fast[0].utcoffset() == batch.sent_at.utcoffset()
    assert_same(fast[1], batch.readings)
    return True


ACCEPTED = [
    pytest.param([reading()], id="plain"),
    pytest.param([reading(measured_at=AT.replace(microsecond=0))], id="no-fraction"),
    pytest.param([reading(sequence=None)], id="no-sequence"),
    pytest.param([reading(sequence=0), reading(sequence=2**32 - 1)], id="sequence-bounds"),
    pytest.param([reading(device_time=datetime(2026, 3, 1, 13, 30, 15))], id="device-time"),
    pytest.param([reading(device_time=datetime(2026, 3, 1, 13, 30, 15, 1))],
                 id="device-time-fraction"),
    pytest.param([reading(quality=[QualityFlag.QUESTIONABLE, QualityFlag.BODY_MOVEMENT])],
                 id="quality"),
    pytest.param([reading(origin="stored"), reading(origin="late", sequence=8)], id="origins"),
    pytest.param([reading(device_id="aa:bb:cc:00:00:01")], id="device-normalised"),
    pytest.param([reading(metric=Metric.BODY_TEMPERATURE, value=36.6),
                  reading(metric=Metric.SYSTOLIC_BP, value=128)], id="other-metrics"),
    pytest.param([reading(value=1e9)], id="implausible-but-valid"),  # plausibility is later
    pytest.param([reading(sequence=i) for i in range(2000)], id="largest-batch"),
]


@pytest.mark.parametrize("readings", ACCEPTED)
def test_the_usual_messages_take_the_fast_path_with_the_contracts_values(
    readings: list[Reading],
) -> None:
    assert check_agreement(payload(readings))


@pytest.mark.parametrize(
    "change",
    [
        {"value": 97},  # an integer on the wire
        {"measured_at": "2026-03-01T12:30:15.250000+00:00"},  # isoformat's spelling of UTC
        {"device_time": None},
        {"quality": []},
        {"origin": "live"},
        {"device_id": "AA:BB:CC:00:00:01"},
    ],
)
def test_spellings_of_the_same_reading_agree(change: dict[str, Any]) -> None:
    data = body([reading()])
    data["readings"][0].update(change)
    assert check_agreement(json.dumps(data).encode())


def test_a_repeated_key_means_the_same_to_both() -> None:
    raw = payload([reading()]).replace(b'"value":97.0', b'"value":12.0,"value":97.0', 1)
    assert b'"value":12.0' in raw
    assert check_agreement(raw)


def test_envelope_without_defaults_agrees() -> None:
    data = body([reading()])
    del data["v"], data["kind"]
    assert check_agreement(json.dumps(data).encode())


def _mutated(change: dict[str, Any], envelope: bool = False) -> bytes:
    data = body([reading(), reading(sequence=8)])
    target = data if envelope else data["readings"][1]
    for key, value in change.items():
        if value is _DELETE:
            del target[key]
        else:
            target[key] = value
    return json.dumps(data).encode()


_DELETE = object()
_OTHER_ID = reading(sequence=99).id


@pytest.mark.parametrize(
    ("change", "envelope", "contract_accepts"),
    [
        # The contract accepts these, in spellings gateways do not use: it decides.
        ({"value": "97"}, False, True),
        ({"sequence": "8"}, False, True),
        ({"sequence": 8.0}, False, True),
        ({"measured_at": "2026-03-01T14:30:15.250000+02:00"}, False, True),
        ({"measured_at": "2026-03-01T12:30:15.25Z"}, False, True),
        ({"measured_at": "2026-03-01 12:30:15.250000Z"}, False, True),
        ({"received_at": "2026-03-01T12:30:16.000000Z"}, False, True),
        ({"v": 1.0}, True, True),
        ({"v": True}, True, True),
        ({"value": True}, False, True),
        ({"sent_at": "2026-03-01T13:30:15+01:00"}, True, True),
        # The contract rejects these.
        ({"id": _OTHER_ID}, False, False),
        ({"id": _OTHER_ID.upper()}, False, False),
        ({"unit": "mm[Hg]"}, False, False),
        ({"metric": "spo3"}, False, False),
        ({"value": None}, False, False),
        ({"sequence": -1}, False, False),
        ({"sequence": 2**32}, False, False),
        ({"quality": ["not-a-flag"]}, False, False),
        ({"quality": None}, False, False),
        ({"origin": "future"}, False, False),
        ({"device_time": "2026-03-01T12:30:15Z"}, False, False),
        ({"measured_at": "2026-03-01T12:30:15"}, False, False),
        ({"measured_at": "2026-02-30T12:30:15Z"}, False, False),
        ({"measured_at": "yesterday"}, False, False),
        ({"device_id": "AA BB"}, False, False),
        ({"device_id": DEV + "\n"}, False, False),
        ({"device_id": "A" * 65}, False, False),
        ({"extra": 1}, False, False),
        ({"unit": _DELETE}, False, False),
        ({"v": 2}, True, False),
        ({"kind": "status"}, True, False),
        ({"gateway_id": "someone-else"}, True, False),
        ({"readings": []}, True, False),
        ({"extra": 1}, True, False),
        ({"sent_at": "2026-03-01T13:30:15"}, True, False),
    ],
)
def test_everything_else_is_left_to_the_contract(
    change: dict[str, Any], envelope: bool, contract_accepts: bool
) -> None:
    raw = _mutated(change, envelope)
    assert fast_readings(GW, raw) is None
    try:
        batch = decode(ReadingBatch, raw)
    except ValidationError:
        accepted = False
    else:
        accepted = batch.gateway_id == GW
    assert accepted is contract_accepts


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b'{"readings": 1}', b"\xff",
                                 b'{"gateway_id": "gw-fast"} trailing'])
def test_not_json_objects_are_left_to_the_contract(raw: bytes) -> None:
    assert fast_readings(GW, raw) is None


def test_more_readings_than_a_batch_may_hold_are_left_to_the_contract() -> None:
    assert fast_readings(GW, payload([reading(sequence=i) for i in range(2001)])) is None


def test_gateway_id_with_a_trailing_newline_is_left_to_the_contract() -> None:
    raw = _mutated({"gateway_id": GW + "\n"}, envelope=True)
    assert fast_readings(GW + "\n", raw) is None


def test_decode_message_gives_the_same_result_either_way() -> None:
    readings = [reading(sequence=i, value=90 + i % 10) for i in range(20)]
    raw = payload(readings)
    decoded = decode_message(topic(GW, Channel.READINGS), raw, AT + timedelta(minutes=1))
    assert isinstance(decoded, ReadingsMessage)
    assert_same(decoded.readings, decode(ReadingBatch, raw).readings)
    assert decoded.positions == list(range(20)) and decoded.rejections == []


# -- hypothesis: payloads near the usual shape, valid and invalid ------------------------

_AWARE = TypeAdapter(datetime)
_TIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                      timezones=st.just(UTC))
_ODD_TIMES = st.sampled_from([
    "2026-03-01T12:30:15.000000Z", "2026-03-01T12:30:15.5Z", "2026-03-01T12:30:15+02:00",
    "2026-03-01T12:30:15-00:00", "2026-03-01T24:00:00Z", "2026-03-01T12:30:60Z",
    "0000-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-03-01T12:30:15.1234567Z",
    "2026-03-01t12:30:15z", "20260301T123015Z", "2026-03-01T12:30:15", "", "x",
])


def _spell(at: datetime, style: int) -> str:
    text = at.isoformat()
    return text.replace("+00:00", "Z") if style else text


_ODD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "device_id": st.from_regex(r"[A-Za-z0-9:._ \n-]{0,66}", fullmatch=True),
    "metric": st.sampled_from(["spo3", "SPO2", ""]),
    "value": st.one_of(st.integers(-(2**70), 2**70), st.sampled_from(["97", True, None])),
    "unit": st.sampled_from(["%", "/min", "", None]),
    "measured_at": _ODD_TIMES,
    "received_at": _ODD_TIMES,
    "device_time": st.one_of(_ODD_TIMES, _TIMES.map(lambda t: t.isoformat())),
    "sequence": st.one_of(st.integers(-2, 2**32 + 2), st.sampled_from(["1", 1.0, True])),
    "quality": st.one_of(st.lists(st.just("bogus"), min_size=1, max_size=2), st.none()),
    "origin": st.sampled_from(["LIVE", "", None]),
    "extra": st.integers(),
}


@st.composite
def _raw_reading(draw: st.DrawFn) -> dict[str, Any]:
    """A reading as a gateway writes it, often with one or two fields changed to something
    odd or invalid; its id is right for its fields unless the id itself was changed."""
    metric = draw(st.sampled_from(list(Metric)))
    data: dict[str, Any] = {
        "device_id": draw(st.one_of(st.just(DEV), st.just(DEV.lower()),
                                    st.from_regex(r"[A-Za-z0-9:._-]{1,64}", fullmatch=True))),
        "metric": metric.value,
        "value": draw(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                                st.integers(-1000, 1000))),
        "unit": CATALOGUE[metric].ucum,
        "measured_at": _spell(draw(_TIMES), draw(st.integers(0, 1))),
        "received_at": _spell(draw(_TIMES), draw(st.integers(0, 1))),
    }
    if draw(st.booleans()):
        data["device_time"] = draw(st.one_of(
            st.none(), _TIMES.map(lambda t: t.replace(tzinfo=None).isoformat())))
    if draw(st.booleans()):
        data["sequence"] = draw(st.one_of(st.none(), st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        data["quality"] = draw(st.lists(st.sampled_from([q.value for q in QualityFlag]),
                                        max_size=3))
    if draw(st.booleans()):
        data["origin"] = draw(st.sampled_from(["live", "stored", "late"]))
    if draw(st.integers(0, 2)) == 0:
        for name in draw(st.lists(st.sampled_from(sorted(_ODD_VALUES)), min_size=1,
                                  max_size=2)):
            data[name] = draw(_ODD_VALUES[name])
    data["id"] = _claimed_id(data) if draw(st.integers(0, 9)) else str(uuid.uuid4())
    return data


def _claimed_id(data: dict[str, Any]) -> str:
    """The id the contract expects for these fields, when it can be computed at all."""
    try:
        device_time = data.get("device_time")
        if device_time is not None:
            key_time = _AWARE.validate_python(device_time)
        else:
            key_time = _AWARE.validate_python(data["measured_at"]).astimezone(UTC)
        return reading_id(data["device_id"], data["metric"], key_time, data.get("sequence"))
    except (ValueError, TypeError, AttributeError, KeyError):
        return str(uuid.uuid4())


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(readings=st.lists(_raw_reading(), min_size=1, max_size=3),
       sent_at=st.one_of(*[_TIMES.map(lambda t: _spell(t, 1))] * 5, _ODD_TIMES),
       gateway=st.sampled_from([GW, GW, "other"]))
def test_whatever_the_fast_path_accepts_the_contract_accepts_identically(
    readings: list[dict[str, Any]], sent_at: str, gateway: str
) -> None:
    raw = json.dumps({"v": 1, "kind": "readings", "gateway_id": gateway, "sent_at": sent_at,
                      "readings": readings}).encode()
    check_agreement(raw)


@settings(max_examples=200, deadline=None)
@given(at=_TIMES, device_time=st.none() | _TIMES, sequence=st.none() | st.integers(0, 2**32 - 1),
       value=st.floats(0, 100), metric=st.sampled_from(list(Metric)),
       quality=st.lists(st.sampled_from(list(QualityFlag)), max_size=3),
       offset=st.integers(-14 * 60, 14 * 60))
def test_every_message_a_gateway_sends_takes_the_fast_path(
    at: datetime, device_time: datetime | None, sequence: int | None, value: float,
    metric: Metric, quality: list[QualityFlag], offset: int,
) -> None:
    zone = timezone(timedelta(minutes=offset))
    made = Reading.create(device_id=DEV, metric=metric, value=value,
                          measured_at=at.astimezone(zone), received_at=at,
                          device_time=None if device_time is None else
                          device_time.replace(tzinfo=None),
                          sequence=sequence, quality=quality)
    assert check_agreement(payload([made]))
