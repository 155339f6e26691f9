"""From (topic, payload) to a typed message or a typed rejection: pure, no I/O.

The contract decides (vigil.messages.decode); this module only sorts what it says. A batch is
validated in one call on the fast path. When that fails, the error locations tell whether the
envelope is broken (the whole message is rejected) or only some readings are (those readings
are rejected one by one, each with its own raw JSON, and the rest go on). Trust checks that
need the database (gateway known, device enrolled) happen in the writer.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from ingest.fastpath import fast_readings
from ingest.rawjson import NotAnObject, array_items
from ingest.reasons import RejectReason
from vigil.messages import (
    MAX_PAYLOAD_BYTES,
    DeviceEvent,
    GatewayStatus,
    PayloadTooLarge,
    Reading,
    ReadingBatch,
    decode,
)
from vigil.metrics import CATALOGUE
from vigil.topics import Channel, InvalidTopic, Topic, parse

_DETAIL_LIMIT = 1000
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_AWARE = TypeAdapter(AwareDatetime)
# Topics repeat (one per gateway and channel) and parsing one costs ~3 us, a tenth of a small
# message's decoding: remember the valid ones (errors are not cached, they raise each time).
_parse_topic: functools._lru_cache_wrapper[Topic] = functools.lru_cache(maxsize=1 << 16)(parse)


@dataclass(frozen=True)
class Limits:
    # Clocks drift and gateways correct them; ten minutes ahead is already wrong.
    max_future: timedelta = timedelta(minutes=10)
    max_payload: int = MAX_PAYLOAD_BYTES


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    detail: str
    raw: bytes  # the whole payload, or one reading's own JSON
    reading_id: str | None = None


@dataclass(slots=True)
class ReadingsMessage:
    gateway_id: str
    sent_at: datetime
    payload: bytes
    readings: list[Reading]  # passed the contract and the pure checks
    positions: list[int]  # index of each accepted reading in the payload's array
    rejections: list[Rejection] = field(default_factory=list)
    _items: list[bytes] | None = None

    def raw_reading(self, position: int) -> bytes:
        """One reading's own JSON bytes (the payload itself if it cannot be sliced)."""
        if self._items is None:
            try:
                self._items = array_items(self.payload)
            except NotAnObject:
                self._items = []
        return self._items[position] if position < len(self._items) else self.payload


@dataclass(frozen=True, slots=True)
class StatusMessage:
    gateway_id: str
    status: GatewayStatus
    retained: bool
    payload: bytes


@dataclass(frozen=True, slots=True)
class EventMessage:
    gateway_id: str
    event: DeviceEvent
    payload: bytes


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    gateway_id: str | None  # from the topic, when the topic parsed
    rejection: Rejection
    # Reading ids found in a rejected batch, to report back in the Ack (best effort).
    reading_ids: tuple[str, ...] = ()


_Other = TypeVar("_Other", GatewayStatus, DeviceEvent)
Decoded = ReadingsMessage | StatusMessage | EventMessage | RejectedMessage


def _detail(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


def decode_message(
    topic: str, payload: bytes, now: datetime, limits: Limits = Limits(), retained: bool = False
) -> Decoded:
    try:
        where = _parse_topic(topic)
    except InvalidTopic as exc:
        return RejectedMessage(None, Rejection(RejectReason.BAD_TOPIC, _detail(exc), payload))
    gateway = where.gateway_id
    if len(payload) > limits.max_payload:
        detail = _detail(PayloadTooLarge(len(payload), limits.max_payload))
        return RejectedMessage(gateway, Rejection(RejectReason.OVERSIZED, detail, payload))
    if where.channel is Channel.READINGS:
        return decode_readings(gateway, payload, now, limits)
    if where.channel is Channel.STATUS:
        status = _decode_other(GatewayStatus, gateway, payload, limits)
        if isinstance(status, RejectedMessage):
            return status
        return StatusMessage(gateway, status, retained, payload)
    if where.channel is Channel.EVENTS:
        event = _decode_other(DeviceEvent, gateway, payload, limits)
        if isinstance(event, RejectedMessage):
            return event
        return EventMessage(gateway, event, payload)
    detail = f"ingest does not consume the {where.channel.value} channel"
    return RejectedMessage(gateway, Rejection(RejectReason.BAD_TOPIC, detail, payload))


def _decode_other(
    kind: type[_Other], gateway: str, payload: bytes, limits: Limits
) -> _Other | RejectedMessage:
    try:
        message = decode(kind, payload, limits.max_payload)
    except ValidationError as exc:
        return RejectedMessage(gateway, Rejection(_schema_reason(exc), _detail(exc), payload))
    if message.gateway_id != gateway:
        detail = f"payload names gateway {message.gateway_id!r} on {gateway!r}'s topic"
        return RejectedMessage(
            gateway, Rejection(RejectReason.PAYLOAD_GATEWAY_MISMATCH, detail, payload)
        )
    return message


def _schema_reason(exc: ValidationError) -> RejectReason:
    if any(error["type"] == "json_invalid" for error in exc.errors()):
        return RejectReason.MALFORMED_JSON
    return RejectReason.SCHEMA_VIOLATION


def decode_readings(
    gateway: str, payload: bytes, now: datetime, limits: Limits = Limits()
) -> ReadingsMessage | RejectedMessage:
    # The usual message, as gateways send it: the fast path vouches for it (ingest.fastpath);
    # for anything else the contract decides and explains.
    fast = fast_readings(gateway, payload) if len(payload) <= limits.max_payload else None
    if fast is not None:
        sent_at, readings = fast
    else:
        try:
            batch = decode(ReadingBatch, payload, limits.max_payload)
        except ValidationError as exc:
            return _decode_readings_slowly(gateway, payload, now, limits, exc)
        if batch.gateway_id != gateway:
            detail = f"payload names gateway {batch.gateway_id!r} on {gateway!r}'s topic"
            return RejectedMessage(
                gateway,
                Rejection(RejectReason.PAYLOAD_GATEWAY_MISMATCH, detail, payload),
                tuple(r.id for r in batch.readings),
            )
        sent_at, readings = batch.sent_at, batch.readings
    message = ReadingsMessage(gateway, sent_at, payload, [], [])
    horizon = now + limits.max_future
    # The usual batch is all good: check it in one tight loop and keep the validated list as
    # it is, rather than a call and two appends per reading; only a batch with a failure goes
    # through _check_reading reading by reading.
    catalogue = CATALOGUE
    for reading in readings:
        spec = catalogue[reading.metric]
        if not (spec.plausible_min <= reading.value <= spec.plausible_max
                and reading.measured_at <= horizon and reading.received_at <= horizon):
            break
    else:
        message.readings = readings
        message.positions = list(range(len(readings)))
        return message
    for position, reading in enumerate(readings):
        _check_reading(message, position, reading, horizon, limits)
    return message


def _check_reading(
    message: ReadingsMessage, position: int, reading: Reading, horizon: datetime, limits: Limits
) -> None:
    """The contract-independent checks on one valid reading: plausible, and not later than
    `horizon` (now plus the allowed clock error)."""
    spec = CATALOGUE[reading.metric]
    if not spec.plausible_min <= reading.value <= spec.plausible_max:
        detail = (f"{reading.metric.value} {reading.value} {reading.unit} is outside "
                  f"{spec.plausible_min}..{spec.plausible_max}")
        reason = RejectReason.IMPLAUSIBLE_VALUE
    elif reading.measured_at > horizon or reading.received_at > horizon:
        latest = max(reading.measured_at, reading.received_at)
        detail = f"timestamp {latest.isoformat()} is more than {limits.max_future} ahead"
        reason = RejectReason.FUTURE_TIMESTAMP
    else:
        message.readings.append(reading)
        message.positions.append(position)
        return
    message.rejections.append(
        Rejection(reason, detail, message.raw_reading(position), reading.id)
    )


def _decode_readings_slowly(
    gateway: str, payload: bytes, now: datetime, limits: Limits, exc: ValidationError
) -> ReadingsMessage | RejectedMessage:
    """The batch failed validation: reject the whole message if its envelope is at fault,
    else reject just the readings at fault, each with its own raw JSON."""
    errors = exc.errors()
    bad: dict[int, list[str]] = {}
    envelope_ok = True
    for error in errors:
        loc = error["loc"]
        if len(loc) >= 2 and loc[0] == "readings" and isinstance(loc[1], int):
            bad.setdefault(loc[1], []).append(f"{'.'.join(map(str, loc[2:]))}: {error['msg']}")
        else:
            envelope_ok = False
    try:
        items = array_items(payload)
    except NotAnObject:
        items = []
    if not envelope_ok or not items:
        reason = _schema_reason(exc)
        return RejectedMessage(
            gateway, Rejection(reason, _detail(exc), payload), _ids_of(items)
        )
    envelope = json.loads(payload)
    if envelope.get("gateway_id") != gateway:
        detail = f"payload names gateway {envelope.get('gateway_id')!r} on {gateway!r}'s topic"
        return RejectedMessage(
            gateway, Rejection(RejectReason.PAYLOAD_GATEWAY_MISMATCH, detail, payload),
            _ids_of(items),
        )
    message = ReadingsMessage(gateway, _AWARE.validate_python(envelope["sent_at"]), payload,
                              [], [], _items=items)
    for position, raw in enumerate(items):
        if position in bad:
            detail = "; ".join(bad[position])[:_DETAIL_LIMIT]
            message.rejections.append(
                Rejection(RejectReason.SCHEMA_VIOLATION, detail, raw, _id_of(raw))
            )
            continue
        _check_reading(message, position, Reading.model_validate_json(raw),
                       now + limits.max_future, limits)
    return message


def _id_of(raw: bytes) -> str | None:
    """A reading's claimed id, if it looks like one (for the Ack of a rejected reading)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    claimed = value.get("id") if isinstance(value, dict) else None
    return claimed if isinstance(claimed, str) and _UUID.match(claimed) else None


def _ids_of(items: list[bytes]) -> tuple[str, ...]:
    return tuple(i for i in (_id_of(raw) for raw in items) if i is not None)
