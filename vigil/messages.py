"""Wire messages between gateway, ingest and back: versioned pydantic models, JSON on the wire.

Every reading carries a deterministic id derived from its natural key (device identity, metric,
the measurement time as the device reported it -- or the gateway's receipt time when the device
reports none -- and the device's record sequence number when present). Resends, redeliveries and
re-fetches of the same stored record therefore carry the same id, and the database's unique key
makes them harmless (ARCHITECTURE.md decisions 1 and 2).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from vigil.metrics import CATALOGUE, Metric
from vigil.quality import QualityFlag

SCHEMA_VERSION: Literal[1] = 1
# The sender splits batches to stay under this; ingest dead-letters anything larger unread.
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_READINGS_PER_BATCH = 2000

# Namespace for reading ids (uuid5); changing it would change every id, so it is fixed forever.
READING_ID_NAMESPACE = uuid.UUID("8f4b6a52-3c1e-5d7a-9b0e-2f6c1d4e7a90")

# Identifiers end up in MQTT topics and broker ACLs: no wildcards, slashes or spaces.
GatewayId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
DeviceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9:._-]{1,64}$")]
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ReadingId = Annotated[str, StringConstraints(pattern=_UUID)]


class PayloadTooLarge(ValueError):
    """A message would exceed MAX_PAYLOAD_BYTES on the wire."""

    def __init__(self, size: int, limit: int = MAX_PAYLOAD_BYTES) -> None:
        super().__init__(f"payload of {size} bytes exceeds the {limit}-byte limit")
        self.size = size
        self.limit = limit


class Origin(StrEnum):
    LIVE = "live"  # measured and sent as it happened
    STORED = "stored"  # a record the device kept in its memory (RACP, stored BP indications)
    LATE = "late"  # reached the gateway on time but left it long after (outage backfill)


def normalise_device_id(device_id: str) -> str:
    return device_id.strip().upper()


_NAMESPACE_BYTES = READING_ID_NAMESPACE.bytes


def reading_id(
    device_id: str, metric: Metric | str, key_time: datetime, sequence: int | None
) -> str:
    """The deterministic id of a reading from its natural key: uuid5 (RFC 9562) of the key in
    READING_ID_NAMESPACE, computed without building uuid.UUID objects -- ingest validates every
    reading's id and profiling showed the UUID construction dominating contract validation."""
    seq = "" if sequence is None else str(sequence)
    key = f"{normalise_device_id(device_id)}|{Metric(metric).value}|{key_time.isoformat()}|{seq}"
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + key.encode(), usedforsecurity=False)
                       .digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reading(_Message):
    id: ReadingId
    device_id: DeviceId
    metric: Metric
    value: float
    unit: str
    # Best estimate of when it was measured, in UTC (device clock corrected by the gateway).
    measured_at: AwareDatetime
    # The timestamp exactly as the device reported it (devices have no time zone), if any.
    device_time: datetime | None = None
    received_at: AwareDatetime
    sequence: Annotated[int, Field(ge=0, lt=2**32)] | None = None
    quality: tuple[QualityFlag, ...] = ()
    origin: Origin = Origin.LIVE

    @field_validator("measured_at", "received_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @field_validator("device_time")
    @classmethod
    def _naive_device_time(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError("device_time is the device's own clock reading and has no zone")
        return value

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value

    @model_validator(mode="after")
    def _unit_and_id(self) -> Reading:
        expected_unit = CATALOGUE[self.metric].ucum
        if self.unit != expected_unit:
            raise ValueError(
                f"{self.metric.value} is carried in {expected_unit!r}, not {self.unit!r}"
            )
        if self.id != self.expected_id():
            raise ValueError("id does not match the reading's natural key")
        return self

    @property
    def key_time(self) -> datetime:
        return self.device_time if self.device_time is not None else self.measured_at

    def expected_id(self) -> str:
        return reading_id(self.device_id, self.metric, self.key_time, self.sequence)

    @classmethod
    def create(
        cls,
        *,
        device_id: str,
        metric: Metric,
        value: float,
        measured_at: datetime,
        received_at: datetime,
        device_time: datetime | None = None,
        sequence: int | None = None,
        quality: Iterable[QualityFlag] = (),
        origin: Origin = Origin.LIVE,
    ) -> Reading:
        """Build a reading in the catalogue unit with its deterministic id."""
        device_id = normalise_device_id(device_id)
        measured_at = _utc(measured_at)
        key_time = device_time if device_time is not None else measured_at
        return cls(
            id=reading_id(device_id, metric, key_time, sequence),
            device_id=device_id,
            metric=metric,
            value=value,
            unit=CATALOGUE[metric].ucum,
            measured_at=measured_at,
            device_time=device_time,
            received_at=_utc(received_at),
            sequence=sequence,
            quality=tuple(sorted(set(quality))),
            origin=origin,
        )


class ReadingBatch(_Message):
    v: Literal[1] = SCHEMA_VERSION
    kind: Literal["readings"] = "readings"
    gateway_id: GatewayId
    sent_at: AwareDatetime
    readings: Annotated[list[Reading], Field(min_length=1, max_length=MAX_READINGS_PER_BATCH)]


class GatewayState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class DeviceState(_Message):
    device_id: DeviceId
    connected: bool
    last_seen: AwareDatetime | None = None
    battery_level: Annotated[int, Field(ge=0, le=100)] | None = None
    rssi: int | None = None


class GatewayStatus(_Message):
    """Retained on the status topic: "online" on connect and in heartbeats; "offline" as the
    last will (its `at` is the connect time, so receivers use their own receipt time)."""

    v: Literal[1] = SCHEMA_VERSION
    kind: Literal["status"] = "status"
    gateway_id: GatewayId
    state: GatewayState
    at: AwareDatetime
    reason: Annotated[str, Field(max_length=200)] | None = None
    software_version: Annotated[str, Field(max_length=64)] | None = None
    outbox_depth: Annotated[int, Field(ge=0)] = 0
    oldest_pending_at: AwareDatetime | None = None
    heartbeat_interval_s: Annotated[float, Field(gt=0)] | None = None
    devices: list[DeviceState] = []


class DeviceEventKind(StrEnum):
    PAIRED = "paired"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    BATTERY = "battery"
    ERROR = "error"
    MALFORMED_PACKET = "malformed_packet"
    SILENT = "silent"  # not heard from for longer than its expected interval
    CLOCK_SET = "clock_set"
    CLOCK_SKEW = "clock_skew"
    EVICTED = "evicted"  # the outbox was full and dropped readings (count says how many)


class DeviceEvent(_Message):
    v: Literal[1] = SCHEMA_VERSION
    kind: Literal["event"] = "event"
    # Random per event; lets receivers ignore redelivered copies.
    event_id: ReadingId
    gateway_id: GatewayId
    device_id: DeviceId | None = None
    event: DeviceEventKind
    at: AwareDatetime
    battery_level: Annotated[int, Field(ge=0, le=100)] | None = None
    count: Annotated[int, Field(ge=0)] | None = None
    detail: Annotated[str, Field(max_length=1000)] | None = None
    # Raw bytes of a packet that could not be decoded, hex, for the record.
    raw_hex: Annotated[str, Field(max_length=2048, pattern=r"^[0-9a-f]*$")] | None = None

    @classmethod
    def new(cls, **fields: object) -> DeviceEvent:
        return cls.model_validate({"event_id": str(uuid.uuid4()), **fields})


class RejectedReading(_Message):
    id: ReadingId
    reason: Annotated[str, Field(max_length=200)]


class Ack(_Message):
    """Ingest's end-to-end acknowledgement, sent after commit. `stored` lists readings now in
    the database (new or already there) -- and the `event_id`s of device events committed, which
    the gateway's outbox keeps until acknowledged just like readings; `rejected` lists readings
    dead-lettered with their reason -- they are kept centrally too, so the gateway may also let
    them go."""

    v: Literal[1] = SCHEMA_VERSION
    kind: Literal["ack"] = "ack"
    gateway_id: GatewayId
    committed_at: AwareDatetime
    stored: list[ReadingId] = []
    rejected: list[RejectedReading] = []


AnyMessage = ReadingBatch | GatewayStatus | DeviceEvent | Ack
M = TypeVar("M", bound=_Message)


def encode(message: _Message, limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    """Serialise for the wire; the sender enforces the size limit."""
    data = message.model_dump_json(exclude_none=True).encode()
    if len(data) > limit:
        raise PayloadTooLarge(len(data), limit)
    return data


def decode(kind: type[M], payload: bytes, limit: int = MAX_PAYLOAD_BYTES) -> M:
    """Parse a wire message; raises PayloadTooLarge before reading an oversized payload, and
    pydantic.ValidationError for anything that is not a valid message of that kind."""
    if len(payload) > limit:
        raise PayloadTooLarge(len(payload), limit)
    return kind.model_validate_json(payload)


def batch_readings(
    gateway_id: str,
    readings: Sequence[Reading],
    sent_at: datetime,
    limit: int = MAX_PAYLOAD_BYTES,
) -> list[ReadingBatch]:
    """Split readings into batches that each encode within `limit` bytes, keeping order."""
    envelope = len(
        ReadingBatch.model_construct(gateway_id=gateway_id, sent_at=sent_at, readings=[])
        .model_dump_json()
        .encode()
    )
    batches: list[ReadingBatch] = []
    current: list[Reading] = []
    size = envelope
    for reading in readings:
        item = len(reading.model_dump_json(exclude_none=True).encode()) + 1  # comma
        if item + envelope > limit:
            raise PayloadTooLarge(item + envelope, limit)
        if current and (size + item > limit or len(current) >= MAX_READINGS_PER_BATCH):
            batches.append(ReadingBatch(gateway_id=gateway_id, sent_at=sent_at, readings=current))
            current, size = [], envelope
        current.append(reading)
        size += item
    if current:
        batches.append(ReadingBatch(gateway_id=gateway_id, sent_at=sent_at, readings=current))
    return batches
