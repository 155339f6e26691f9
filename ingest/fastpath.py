"""The fast path for a readings batch: the contract's decisions for the usual message, at a
fraction of the cost. Pure, no I/O.

Validating a batch with the contract (ReadingBatch.model_validate_json) spent ~15 us a reading,
mostly in its Python-level validators (UTC conversion, unit and id checks). This path decodes
the payload with msgspec into plain typed structs, checks every rule of the contract itself,
and builds the same Reading objects without validating them twice.

It only ever *accepts*: it handles the exact shape gateways send (vigil.messages.encode: JSON,
timestamps in UTC as `...Z` or `...+00:00`, microseconds as six digits) and returns None for
anything else -- other timestamp spellings, lax coercions pydantic allows (numbers in strings),
any violation -- and the caller then asks the contract, which decides and explains. So a batch
this path accepts is one the contract accepts, with equal values (tests/ingest/
test_ingest_fastpath.py checks both on tables and hypothesis-generated payloads); its rejections
are always the contract's own. One difference is by design: the batch's sent_at (which the
contract does not convert to UTC) carries datetime.UTC here and pydantic's own UTC zone there --
equal instants, equal offsets.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime

import msgspec
from msgspec import UNSET, UnsetType

from vigil.messages import (
    MAX_READINGS_PER_BATCH,
    READING_ID_NAMESPACE,
    Origin,
    Reading,
)
from vigil.metrics import CATALOGUE, Metric
from vigil.quality import QualityFlag


class _RawReading(msgspec.Struct, forbid_unknown_fields=True):
    # Strict JSON types: anything pydantic would only accept by coercion fails here and goes
    # to the contract. UNSET tells an absent field from an explicit null (pydantic's
    # fields_set records the difference, so the Readings built here do too).
    id: str
    device_id: str
    metric: str
    value: float
    unit: str
    measured_at: str
    received_at: str
    device_time: str | UnsetType | None = UNSET
    sequence: int | UnsetType | None = UNSET
    quality: list[str] | UnsetType = UNSET
    origin: str | UnsetType = UNSET


class _RawBatch(msgspec.Struct, forbid_unknown_fields=True):
    gateway_id: str
    sent_at: str
    readings: list[_RawReading]
    v: int | UnsetType = UNSET
    kind: str | UnsetType = UNSET


_DECODER = msgspec.json.Decoder(_RawBatch)
_NAMESPACE = READING_ID_NAMESPACE.bytes

# The contract's identifier patterns (vigil.messages), matched whole: Python's `$` would also
# accept a trailing newline, which pydantic's Rust regex does not.
_GATEWAY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DEVICE = re.compile(r"[A-Za-z0-9:._-]{1,64}")
# Timestamps exactly as datetime.isoformat() writes them (pydantic writes `Z` for +00:00):
# for these the text *is* the isoformat of the parsed value, so the reading id's key can be
# taken from the text. A zero fraction is written without digits by isoformat, hence the
# lookahead. Everything else (other offsets, other precisions) goes to the contract.
_DATE_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.(?!000000)[0-9]{6})?"
_UTC_TIME = re.compile(_DATE_TIME + r"(?:Z|\+00:00)")
_NAIVE_TIME = re.compile(_DATE_TIME)

_METRICS = {m.value: (m, CATALOGUE[m].ucum) for m in Metric}
_QUALITY = {q.value: q for q in QualityFlag}
_ORIGINS = {o.value: o for o in Origin}
_REQUIRED = frozenset(
    name for name, info in Reading.model_fields.items() if info.is_required())
_SEQUENCE_LIMIT = 2**32

_new = object.__new__
_set = object.__setattr__
_parse_time = datetime.fromisoformat
_sha1 = hashlib.sha1


class _NotOurs(Exception):
    """Not a message this path vouches for; the contract decides."""


def fast_readings(gateway: str, payload: bytes) -> tuple[datetime, list[Reading]] | None:
    """(sent_at, readings) of a batch from `gateway` that fully satisfies the contract, or None
    when the contract must decide (any doubt, any violation, another gateway's name)."""
    try:
        batch = _DECODER.decode(payload)
        if (batch.v is not UNSET and (batch.v != 1 or type(batch.v) is not int)) or (
                batch.kind is not UNSET and batch.kind != "readings"):
            return None
        if batch.gateway_id != gateway or not _GATEWAY.fullmatch(gateway):
            return None
        if not 1 <= len(batch.readings) <= MAX_READINGS_PER_BATCH:
            return None
        sent_at = _utc_time(batch.sent_at)
        return sent_at, [_reading(raw) for raw in batch.readings]
    except (msgspec.DecodeError, _NotOurs, ValueError, LookupError):
        return None  # LookupError: not a quality flag or origin of the contract


def _utc_time(text: str) -> datetime:
    if _UTC_TIME.fullmatch(text) is None:
        raise _NotOurs
    return _parse_time(text)  # tzinfo is datetime.UTC itself for Z and +00:00


def _reading(raw: _RawReading) -> Reading:
    """One reading checked rule by rule as vigil.messages.Reading does, then built as the
    contract would have built it."""
    found = _METRICS.get(raw.metric)
    if found is None:
        raise _NotOurs
    metric, unit = found
    value = raw.value
    if raw.unit != unit or not math.isfinite(value):
        raise _NotOurs
    device_id = raw.device_id
    if _DEVICE.fullmatch(device_id) is None:
        raise _NotOurs
    measured_text = raw.measured_at
    measured_at = _utc_time(measured_text)
    received_at = _utc_time(raw.received_at)
    fields_set = set(_REQUIRED)

    device_text = raw.device_time
    device_time: datetime | None = None
    if device_text is not UNSET:
        fields_set.add("device_time")
        if device_text is not None:
            if _NAIVE_TIME.fullmatch(device_text) is None:
                raise _NotOurs
            device_time = _parse_time(device_text)
            key_time = device_text
    if device_time is None:
        # isoformat() of a UTC datetime ends in +00:00, where pydantic writes Z.
        key_time = measured_text[:-1] + "+00:00" if measured_text[-1] == "Z" else measured_text

    sequence = raw.sequence
    if sequence is UNSET:
        sequence = None
    else:
        fields_set.add("sequence")
        if sequence is not None and not 0 <= sequence < _SEQUENCE_LIMIT:
            raise _NotOurs

    quality: tuple[QualityFlag, ...] = ()
    if raw.quality is not UNSET:
        fields_set.add("quality")
        if raw.quality:
            quality = tuple(_QUALITY[q] for q in raw.quality)  # KeyError: not a flag

    origin = Origin.LIVE
    if raw.origin is not UNSET:
        fields_set.add("origin")
        origin = _ORIGINS[raw.origin]

    # vigil.messages.reading_id, inlined on the text already in hand (the device id pattern
    # has no whitespace, so normalising it is upper() alone).
    seq = "" if sequence is None else str(sequence)
    key = f"{device_id.upper()}|{raw.metric}|{key_time}|{seq}"
    digest = bytearray(_sha1(_NAMESPACE + key.encode(), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    if raw.id != f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}":
        raise _NotOurs

    # What pydantic's validation would leave in the instance, set directly: every value above
    # already has the exact type and form the contract's validators produce.
    reading: Reading = _new(Reading)
    _set(reading, "__dict__", {
        "id": raw.id, "device_id": device_id, "metric": metric, "value": value,
        "unit": unit, "measured_at": measured_at, "device_time": device_time,
        "received_at": received_at, "sequence": sequence, "quality": quality,
        "origin": origin,
    })
    _set(reading, "__pydantic_fields_set__", fields_set)
    _set(reading, "__pydantic_extra__", None)
    _set(reading, "__pydantic_private__", None)
    return reading


__all__ = ["fast_readings"]
