"""Building contract readings fast enough for a load generator.

A fleet reading is kept as what goes on the wire: its deterministic id (the contract's own
`reading_id`) and its JSON object, byte for byte what `encode()` renders for the `Reading` that
`Reading.create` returns with the same fields. Building a pydantic model per reading and
serialising it per batch was most of the generator's cost (profiled at 2,000 readings/s: a
quarter of its CPU in model construction and dumping); rendering the JSON once from the fields
is several times cheaper. tests/simulators/fleet checks, with hypothesis, that the rendered
JSON and the batches built from it equal the contract's encoding, and that `to_reading()`
gives back exactly `Reading.create(...)` -- validated, id check included.

Inputs are what the fleet already keeps canonical: `device_id` normalised (upper case, no
JSON escapes: the contract's DeviceId pattern), times aware UTC, `value` finite and in the
catalogue unit, naive `device_time`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from pydantic_core import to_json

from vigil.messages import (
    MAX_PAYLOAD_BYTES,
    READING_ID_NAMESPACE,
    Origin,
    PayloadTooLarge,
    Reading,
)
from vigil.metrics import CATALOGUE, Metric
from vigil.quality import QualityFlag

_NAMESPACE = READING_ID_NAMESPACE.bytes
_UNITS = {metric: json.dumps(spec.ucum) for metric, spec in CATALOGUE.items()}
_LIVE_TAIL = ',"origin":"live"}'
_LATE_TAIL = ',"origin":"late"}'
_TAILS = {origin: f'],"origin":"{origin.value}"}}' for origin in Origin}


def json_time(value: datetime) -> str:
    """A datetime as pydantic renders it: ISO 8601, UTC as "Z", naive as is."""
    return _json_iso(value.isoformat())


def _json_iso(text: str) -> str:
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _json_float(value: float) -> str:
    """A float as pydantic renders it: repr() except in exponent notation, where pydantic
    writes 6.1e-5 for repr's 6.1e-05 (device values are never that small; exact anyway)."""
    text = repr(float(value))
    return to_json(value).decode() if "e" in text else text


class _LastIso:
    """isoformat() of the last datetime asked for, and its JSON form: a measurement's readings
    share one time object (the id's key time and the rendered times), so it is formatted once,
    not four times."""

    __slots__ = ("json", "text", "value")

    def __init__(self) -> None:
        self.value: datetime | None = None
        self.text = self.json = ""

    def __call__(self, value: datetime) -> str:
        if value is not self.value:
            self.value, self.text = value, value.isoformat()
            self.json = _json_iso(self.text)
        return self.text


_iso = _LastIso()
# The RFC 4122 variant bits applied to the 17th hex digit of the digest.
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


@dataclass(frozen=True, slots=True)
class _Stream:
    """What every reading of one device's metric shares: the constant start of the id's sha1
    input (namespace, device, metric) and the JSON between the id and the value."""

    id_prefix: bytes
    head: str  # ","device_id":...,"value":
    unit: str  # ,"unit":"...","measured_at":"


# A fleet has a few streams per device; enum .value lookups cost more than the dict.
_STREAMS: dict[tuple[str, Metric], _Stream] = {}


def _stream(device_id: str, metric: Metric) -> _Stream:
    stream = _STREAMS.get((device_id, metric))
    if stream is None:
        stream = _Stream(
            _NAMESPACE + f"{device_id}|{metric.value}|".encode(),
            f'","device_id":"{device_id}","metric":"{metric.value}","value":',
            f',"unit":{_UNITS[metric]},"measured_at":"',
        )
        _STREAMS[(device_id, metric)] = stream
    return stream


def _id_from(prefix: bytes, key_iso: str, sequence: int | None) -> str:
    tail = key_iso + "|" if sequence is None else f"{key_iso}|{sequence}"
    h = hashlib.sha1(prefix + tail.encode(), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def fast_reading_id(device_id: str, metric: Metric, key_iso: str, sequence: int | None) -> str:
    """The contract's `reading_id` (vigil.messages) for a normalised device id and the key
    time's isoformat(), with the constant part of the hash input kept per device stream and
    the uuid5 version/variant set on the hex digest. Tests hold it equal to `reading_id`."""
    return _id_from(_stream(device_id, metric).id_prefix, key_iso, sequence)


class WireReading(NamedTuple):
    """One reading as a simulated gateway holds it until ingest acknowledges it. (A named
    tuple: immutable like a frozen dataclass, and several times cheaper to build -- one is
    made per reading.)"""

    id: str
    json: str  # the reading's JSON object, exactly as the contract encodes it
    received_at: datetime  # when the gateway got it (it is late if it leaves long after)
    origin: Origin

    def to_reading(self) -> Reading:
        """The contract model, validated (id check included)."""
        return Reading.model_validate_json(self.json)

    def as_late(self) -> WireReading:
        """The same reading marked as backfill (origin "late"); only live readings become
        late, and origin is the last field the contract renders."""
        if self.origin is not Origin.LIVE:
            return self
        return WireReading(self.id, self.json[:-len(_LIVE_TAIL)] + _LATE_TAIL,
                           self.received_at, Origin.LATE)


def make_reading(
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
) -> WireReading:
    """Like `Reading.create`, rendered for the wire (see the module docstring for the inputs
    it trusts)."""
    stream = _stream(device_id, metric)
    iso = _iso
    if device_time is not None:
        key_iso = iso(device_time)
        device_part = f',"device_time":"{iso.json}"'
        iso(measured_at)
    else:
        key_iso = iso(measured_at)
        device_part = ""
    measured = iso.json
    rid = _id_from(stream.id_prefix, key_iso, sequence)
    if received_at is not measured_at:
        iso(received_at)
    flags = ",".join(f'"{flag.value}"' for flag in sorted(set(quality))) if quality else ""
    text = "".join((
        '{"id":"', rid, stream.head, _json_float(value), stream.unit, measured, '"',
        device_part, ',"received_at":"', iso.json,
        '"' if sequence is None else f'","sequence":{sequence}',
        ',"quality":[', flags, _TAILS[origin],
    ))
    return WireReading(rid, text, received_at, origin)


def encode_batch(gateway_id: str, readings: Sequence[WireReading], sent_at: datetime,
                 limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    """A ReadingBatch on the wire, as `encode(ReadingBatch(...))` renders it; raises
    PayloadTooLarge like `encode` does. `gateway_id` is a contract GatewayId (no escapes)."""
    body = ",".join(r.json for r in readings)
    data = (f'{{"v":1,"kind":"readings","gateway_id":"{gateway_id}",'
            f'"sent_at":"{json_time(sent_at)}","readings":[{body}]}}').encode()
    if len(data) > limit:
        raise PayloadTooLarge(len(data), limit)
    return data
