"""Decoding is pure: each kind of bad input becomes a typed rejection with the right bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from ingest_helpers import batch_payload, make_reading

from ingest.decoding import (
    EventMessage,
    Limits,
    ReadingsMessage,
    RejectedMessage,
    StatusMessage,
    decode_message,
)
from ingest.reasons import RejectReason
from vigil.messages import DeviceEvent, DeviceEventKind, GatewayState, GatewayStatus, encode
from vigil.metrics import Metric
from vigil.topics import Channel, topic

GW = "gw-decode"
DEV = "AA:BB:CC:00:00:01"
NOW = datetime.now(UTC)


def readings_topic(gateway: str = GW) -> str:
    return topic(gateway, Channel.READINGS)


def test_good_batch_fast_path() -> None:
    readings = [make_reading(DEV), make_reading(DEV, Metric.PULSE_RATE, 70)]
    decoded = decode_message(readings_topic(), batch_payload(GW, readings), NOW)
    assert isinstance(decoded, ReadingsMessage)
    assert [r.id for r in decoded.readings] == [r.id for r in readings]
    assert decoded.positions == [0, 1] and decoded.rejections == []


@pytest.mark.parametrize(
    ("topic_name", "payload", "reason"),
    [
        ("vigil/v1/gw/99/" + GW + "/readings", b"{}", RejectReason.BAD_TOPIC),  # wrong bucket
        ("elsewhere/x", b"{}", RejectReason.BAD_TOPIC),
        (topic(GW, Channel.ACK), b"{}", RejectReason.BAD_TOPIC),
        (readings_topic(), b"{not json", RejectReason.MALFORMED_JSON),
        (readings_topic(), b"\xff\xfe", RejectReason.MALFORMED_JSON),
        (readings_topic(), b"[]", RejectReason.SCHEMA_VIOLATION),
        (readings_topic(), b'{"v": 2, "kind": "readings"}', RejectReason.SCHEMA_VIOLATION),
        (readings_topic(), b"x" * (256 * 1024 + 1), RejectReason.OVERSIZED),
        (topic(GW, Channel.STATUS), b'{"v":1}', RejectReason.SCHEMA_VIOLATION),
        (topic(GW, Channel.EVENTS), b"nope", RejectReason.MALFORMED_JSON),
    ],
)
def test_whole_message_rejections_keep_the_raw_payload(
    topic_name: str, payload: bytes, reason: RejectReason
) -> None:
    decoded = decode_message(topic_name, payload, NOW)
    assert isinstance(decoded, RejectedMessage)
    assert decoded.rejection.reason is reason
    assert decoded.rejection.raw == payload


def test_envelope_violation_rejects_the_message_and_reports_reading_ids() -> None:
    reading = make_reading(DEV)
    body = json.loads(batch_payload(GW, [reading]))
    body["sent_at"] = "yesterday"
    decoded = decode_message(readings_topic(), json.dumps(body).encode(), NOW)
    assert isinstance(decoded, RejectedMessage)
    assert decoded.rejection.reason is RejectReason.SCHEMA_VIOLATION
    assert decoded.reading_ids == (reading.id,)


def test_payload_naming_another_gateway_is_rejected() -> None:
    reading = make_reading(DEV)
    payload = batch_payload("someone-else", [reading])
    decoded = decode_message(readings_topic(), payload, NOW)
    assert isinstance(decoded, RejectedMessage)
    assert decoded.rejection.reason is RejectReason.PAYLOAD_GATEWAY_MISMATCH
    assert decoded.reading_ids == (reading.id,) and decoded.rejection.raw == payload


def _with_bad(index: int, change: dict[str, object], count: int = 3) -> tuple[bytes, list[str]]:
    readings = [make_reading(DEV, value=90 + i) for i in range(count)]
    body = json.loads(batch_payload(GW, readings))
    body["readings"][index].update(change)
    return json.dumps(body, indent=1).encode(), [r.id for r in readings]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"value": "high"}, RejectReason.SCHEMA_VIOLATION),
        ({"value": 250.0}, RejectReason.IMPLAUSIBLE_VALUE),  # SpO2 above 100 %
        ({"unit": "mmHg"}, RejectReason.SCHEMA_VIOLATION),
        ({"id": "00000000-0000-0000-0000-000000000000"}, RejectReason.SCHEMA_VIOLATION),
        ({"patient_id": 7}, RejectReason.SCHEMA_VIOLATION),  # payloads never name a patient
        ({"metric": "mood"}, RejectReason.SCHEMA_VIOLATION),
    ],
)
def test_one_bad_reading_is_rejected_alone_with_its_own_json(
    change: dict[str, object], reason: RejectReason
) -> None:
    payload, ids = _with_bad(1, change)
    decoded = decode_message(readings_topic(), payload, NOW)
    assert isinstance(decoded, ReadingsMessage)
    assert [r.id for r in decoded.readings] == [ids[0], ids[2]]
    assert decoded.positions == [0, 2]
    [rejection] = decoded.rejections
    assert rejection.reason is reason
    raw = json.loads(rejection.raw)
    assert raw == json.loads(payload)["readings"][1]
    assert rejection.raw in payload  # the exact bytes, not a re-serialisation


def test_implausible_value_and_future_timestamp() -> None:
    good = make_reading(DEV)
    implausible = make_reading(DEV, Metric.SPO2, value=0.0)  # plausible: 0..100 -> allowed
    too_high = make_reading(DEV, Metric.PULSE_RATE, value=301.0)
    future = make_reading(DEV, measured_at=NOW + timedelta(minutes=11))
    near_future = make_reading(DEV, measured_at=NOW + timedelta(minutes=9))
    payload = batch_payload(GW, [good, implausible, too_high, future, near_future])
    decoded = decode_message(readings_topic(), payload, NOW, Limits())
    assert isinstance(decoded, ReadingsMessage)
    assert [r.id for r in decoded.readings] == [good.id, implausible.id, near_future.id]
    assert [(r.reading_id, r.reason) for r in decoded.rejections] == [
        (too_high.id, RejectReason.IMPLAUSIBLE_VALUE),
        (future.id, RejectReason.FUTURE_TIMESTAMP),
    ]
    for rejection in decoded.rejections:
        assert json.loads(rejection.raw)["id"] == rejection.reading_id


def test_future_limit_is_configurable() -> None:
    reading = make_reading(DEV, measured_at=NOW + timedelta(minutes=2))
    payload = batch_payload(GW, [reading])
    strict = decode_message(readings_topic(), payload, NOW, Limits(max_future=timedelta(minutes=1)))
    assert isinstance(strict, ReadingsMessage) and strict.readings == []
    assert strict.rejections[0].reason is RejectReason.FUTURE_TIMESTAMP


def test_status_and_event_messages() -> None:
    status = GatewayStatus(gateway_id=GW, state=GatewayState.ONLINE, at=NOW, outbox_depth=3)
    decoded = decode_message(topic(GW, Channel.STATUS), encode(status), NOW, retained=True)
    assert isinstance(decoded, StatusMessage) and decoded.retained and decoded.status == status
    event = DeviceEvent.new(gateway_id=GW, device_id=DEV, event=DeviceEventKind.BATTERY,
                            at=NOW, battery_level=40)
    decoded_event = decode_message(topic(GW, Channel.EVENTS), encode(event), NOW)
    assert isinstance(decoded_event, EventMessage) and decoded_event.event == event
    forged = decode_message(topic("other-gw", Channel.STATUS), encode(status), NOW)
    assert isinstance(forged, RejectedMessage)
    assert forged.rejection.reason is RejectReason.PAYLOAD_GATEWAY_MISMATCH
