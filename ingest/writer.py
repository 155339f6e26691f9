"""The one writer of readings: resolve, stage with binary COPY, dedupe, insert, commit.

One flush is one transaction holding everything a batch of MQTT messages carried: new
readings, dead letters, gateway status, device events. Only after it commits may the consumer
acknowledge those messages, so a crash anywhere before the commit loses nothing (the broker
redelivers) and a crash after it stores nothing twice (reading_ids rejects the redelivery).

Trust (ARCHITECTURE.md decision 4): the patient of a reading is the enrolment of the topic's
gateway and the reading's device at its measurement time, read inside the same transaction.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg

from ingest.decoding import (
    Decoded,
    EventMessage,
    ReadingsMessage,
    RejectedMessage,
    Rejection,
    StatusMessage,
)
from ingest.reasons import RejectReason
from ingest.upkeep import Statement, Upkeep
from vigil.messages import GatewayState, Reading
from vigil.metrics import CATALOGUE

STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS ingest_staging (
    reading_id  text NOT NULL,
    measured_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    patient_id  integer NOT NULL,
    device_id   integer NOT NULL,
    metric      smallint NOT NULL,
    value       double precision NOT NULL,
    quality     text[] NOT NULL,
    origin      text NOT NULL,
    sequence    bigint,
    device_time timestamp
) ON COMMIT DELETE ROWS
"""
STAGING_COPY = (
    "COPY ingest_staging (reading_id, measured_at, received_at, patient_id, device_id, metric,"
    " value, quality, origin, sequence, device_time) FROM STDIN (FORMAT BINARY)"
)
STAGING_TYPES = ["text", "timestamptz", "timestamptz", "int4", "int4", "int2", "float8",
                 "text[]", "text", "int8", "timestamp"]
# The dedupe key is the plain reading_ids table (see migration 0003 for why): only ids it did
# not have yet reach the readings table.
INSERT_NEW = """
WITH fresh AS (
    INSERT INTO reading_ids (reading_id, measured_at)
    SELECT reading_id::uuid, measured_at FROM ingest_staging
    ON CONFLICT (reading_id) DO NOTHING
    RETURNING reading_id
)
INSERT INTO readings (measured_at, received_at, patient_id, device_id, metric, value, quality,
                      origin, reading_id, sequence, device_time)
SELECT s.measured_at, s.received_at, s.patient_id, s.device_id, s.metric, s.value, s.quality,
       s.origin, f.reading_id, s.sequence, s.device_time
FROM ingest_staging s JOIN fresh f ON f.reading_id = s.reading_id::uuid
"""
ENROLMENTS = """
SELECT d.address, d.id, e.gateway_id, e.patient_id, lower(e.period), upper(e.period)
FROM devices d LEFT JOIN enrolments e ON e.device_id = d.id
WHERE d.address = ANY(%s)
"""
_NO_QUALITY: list[str] = []
_METRIC_NUMBER = {metric: spec.number for metric, spec in CATALOGUE.items()}


@dataclass(frozen=True, slots=True)
class NewReading:
    """A reading that this transaction inserted (never a duplicate), with whom it is for."""

    reading: Reading
    patient_id: int
    device_id: int  # devices.id
    gateway_id: str


class InsertHook(Protocol):
    """Runs inside the write transaction, after the readings are inserted and before commit,
    with only the readings that were new. Whatever it writes commits (or rolls back) with
    them: the alerting engine plugs in here so an alert exists iff its readings do. Raising
    aborts the whole batch, which is then retried like any database failure."""

    def on_inserted(self, cursor: psycopg.Cursor[Any], rows: Sequence[NewReading]) -> None: ...


@dataclass(slots=True)
class Incoming:
    """One MQTT message as the writer sees it."""

    topic: str
    decoded: Decoded
    received_at: datetime  # by ingest's clock


@dataclass
class FlushResult:
    stored: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rejected: dict[str, list[tuple[str, RejectReason]]] = field(
        default_factory=lambda: defaultdict(list))
    inserted: int = 0
    duplicates: int = 0
    # Device event ids acked in `stored` alongside reading ids (not readings, not duplicates).
    events: int = 0
    dead_letters: Counter[RejectReason] = field(default_factory=Counter)
    committed_at: datetime | None = None
    commit_seconds: float = 0.0


@dataclass
class _DeadLetter:
    topic: str
    gateway_id: str | None
    rejection: Rejection
    received_at: datetime


@dataclass(frozen=True, slots=True)
class _Enrolment:
    device_id: int
    gateway_id: str | None
    patient_id: int | None
    start: datetime | None
    end: datetime | None


class BatchWriter:
    def __init__(self, hook: InsertHook | None = None, dead_letter_max_bytes: int = 1 << 20):
        self.hook = hook
        self.dead_letter_max_bytes = dead_letter_max_bytes

    @staticmethod
    def prepare(conn: psycopg.Connection) -> None:
        """Once per connection: the session's staging table."""
        conn.execute(STAGING_DDL)
        conn.commit()

    def write(self, conn: psycopg.Connection, items: Sequence[Incoming]) -> FlushResult:
        """Store a batch in one transaction and commit it. Raises psycopg errors unchanged
        (nothing is committed then)."""
        result = FlushResult()
        dead: list[_DeadLetter] = []
        try:
            with conn.cursor() as cur:
                self._write(cur, items, result, dead)
                self._dead_letters(cur, dead, result)
            started = time.perf_counter()
            conn.commit()
            result.commit_seconds = time.perf_counter() - started
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise
        result.committed_at = datetime.now(UTC)
        return result

    def dead_letter_all(
        self, conn: psycopg.Connection, items: Sequence[Incoming], reason: RejectReason,
        detail: str,
    ) -> FlushResult:
        """Keep messages the database refused as dead letters, so they cannot wedge ingest."""
        result = FlushResult()
        dead = [
            _DeadLetter(i.topic, _gateway_of(i.decoded),
                        Rejection(reason, detail, _payload_of(i.decoded)), i.received_at)
            for i in items
        ]
        with conn.cursor() as cur:
            self._dead_letters(cur, dead, result)
        conn.commit()
        result.committed_at = datetime.now(UTC)
        return result

    # -- one transaction ---------------------------------------------------------------

    def _write(self, cur: psycopg.Cursor[Any], items: Sequence[Incoming], result: FlushResult,
               dead: list[_DeadLetter]) -> None:
        gateway_ids = {g for g in (_gateway_of(i.decoded) for i in items) if g is not None}
        known = {row[0] for row in cur.execute(
            "SELECT id FROM gateways WHERE id = ANY(%s)", (list(gateway_ids),))}
        addresses = {r.device_id for i in items if isinstance(i.decoded, ReadingsMessage)
                     and i.decoded.gateway_id in known for r in i.decoded.readings}
        enrolments = self._enrolments(cur, addresses) if addresses else {}
        windows = _single_windows(enrolments)

        staged: dict[str, tuple[object, ...]] = {}
        new_candidates: dict[str, NewReading] = {}
        device_seen: dict[int, datetime] = {}
        seen_gateways: dict[str, datetime] = {}
        # Statuses and events, as a few set-based statements sent together after the loop
        # (ingest.upkeep). Nothing in the loop reads what they write, and they still run before
        # the readings and the insert hook, as when they ran inline.
        upkeep = Upkeep()
        for item in items:
            message = item.decoded
            gateway = _gateway_of(message)
            if isinstance(message, RejectedMessage):
                dead.append(_DeadLetter(item.topic, gateway, message.rejection,
                                        item.received_at))
                for reading_id in message.reading_ids:
                    result.rejected[str(gateway)].append((reading_id, message.rejection.reason))
                continue
            assert gateway is not None
            if gateway not in known:
                self._unknown_gateway(item, gateway, dead, result)
                continue
            if isinstance(message, StatusMessage):
                upkeep.status(message, item.received_at)
                if message.status.state is GatewayState.ONLINE and not message.retained:
                    seen_gateways[gateway] = item.received_at
                continue
            seen_gateways[gateway] = item.received_at
            if isinstance(message, EventMessage):
                upkeep.event(message, item.received_at)
                # The gateway keeps events in its outbox too, until this ack names them.
                result.stored[gateway].append(message.event.event_id)
                result.events += 1
                continue
            for rejection in message.rejections:
                dead.append(_DeadLetter(item.topic, gateway, rejection, item.received_at))
                if rejection.reading_id is not None:
                    result.rejected[gateway].append((rejection.reading_id, rejection.reason))
            for reading, position in zip(message.readings, message.positions, strict=True):
                # The usual case, one enrolment through this gateway covering the reading,
                # without the general search (_resolve was ~5 % of ingest's py-spy samples).
                window = windows.get(reading.device_id)
                at = reading.measured_at
                if (window is not None and window[0] <= at
                        and (window[1] is None or at < window[1]) and window[2] == gateway):
                    found: tuple[int, int] | Rejection = window[3]
                else:
                    found = _resolve(enrolments.get(reading.device_id), gateway, reading)
                if isinstance(found, Rejection):
                    rejection = Rejection(found.reason, found.detail,
                                          message.raw_reading(position), reading.id)
                    dead.append(_DeadLetter(item.topic, gateway, rejection, item.received_at))
                    result.rejected[gateway].append((reading.id, found.reason))
                    continue
                result.stored[gateway].append(reading.id)
                if reading.id in staged:
                    continue  # the same reading twice in one batch: stage it once
                patient_id, device_id = found
                staged[reading.id] = (
                    reading.id, reading.measured_at, reading.received_at, patient_id,
                    device_id, _METRIC_NUMBER[reading.metric], reading.value,
                    # StrEnum members are str: the text dumper takes them as they are,
                    # without the Python-level `.value` property per row.
                    list(reading.quality) if reading.quality else _NO_QUALITY,
                    reading.origin, reading.sequence, reading.device_time,
                )
                if self.hook is not None:
                    new_candidates[reading.id] = NewReading(reading, patient_id, device_id,
                                                            gateway)
                if device_seen.get(device_id, reading.received_at) <= reading.received_at:
                    device_seen[device_id] = reading.received_at
        _run_all(cur, upkeep.statements())
        if staged:
            self._insert(cur, staged, new_candidates, result)
        self._touch(cur, seen_gateways, device_seen)

    def _enrolments(self, cur: psycopg.Cursor[Any], addresses: set[str]
                    ) -> dict[str, list[_Enrolment]]:
        found: dict[str, list[_Enrolment]] = defaultdict(list)
        for address, device_id, gateway_id, patient_id, start, end in cur.execute(
            ENROLMENTS, (list(addresses),)
        ):
            # In UTC like every reading's measured_at: aware datetimes sharing one tzinfo
            # compare without a utcoffset() call each (measured: 5 % of ingest CPU otherwise).
            found[address].append(_Enrolment(
                device_id, gateway_id, patient_id,
                None if start is None else start.astimezone(UTC),
                None if end is None else end.astimezone(UTC)))
        return found

    def _insert(self, cur: psycopg.Cursor[Any], staged: dict[str, tuple[object, ...]],
                candidates: dict[str, NewReading], result: FlushResult) -> None:
        with cur.copy(STAGING_COPY) as copy:
            copy.set_types(STAGING_TYPES)
            for row in staged.values():
                copy.write_row(row)
        if self.hook is None:
            cur.execute(INSERT_NEW)
            result.inserted = cur.rowcount
        else:
            cur.execute(INSERT_NEW + " RETURNING reading_id::text")
            new_ids = {row[0] for row in cur.fetchall()}
            result.inserted = len(new_ids)
            # In arrival order, which is the gateway's order within each message.
            self.hook.on_inserted(cur, [c for i, c in candidates.items() if i in new_ids])
        result.duplicates = (sum(len(ids) for ids in result.stored.values()) - result.inserted
                             - result.events)

    def _unknown_gateway(self, item: Incoming, gateway: str, dead: list[_DeadLetter],
                         result: FlushResult) -> None:
        message = item.decoded
        detail = f"gateway {gateway!r} is not registered"
        dead.append(_DeadLetter(item.topic, gateway,
                                Rejection(RejectReason.UNKNOWN_GATEWAY, detail,
                                          _payload_of(message)), item.received_at))
        if isinstance(message, ReadingsMessage):
            ids = [r.id for r in message.readings]
            ids += [r.reading_id for r in message.rejections if r.reading_id is not None]
            result.rejected[gateway] += [(i, RejectReason.UNKNOWN_GATEWAY) for i in ids]

    def _touch(self, cur: psycopg.Cursor[Any], gateways: dict[str, datetime],
               devices: dict[int, datetime]) -> None:
        # Sorted, so concurrent writers (ingest.consumer) meet shared rows in the same order.
        if gateways:
            ids = sorted(gateways)
            cur.execute(
                "UPDATE gateways g SET last_seen = greatest(g.last_seen, v.seen) "
                "FROM unnest(%s::text[], %s::timestamptz[]) AS v(id, seen) WHERE g.id = v.id",
                (ids, [gateways[i] for i in ids]))
        if devices:
            keys = sorted(devices)
            cur.execute(
                "UPDATE devices d SET last_seen = greatest(d.last_seen, v.seen) "
                "FROM unnest(%s::int[], %s::timestamptz[]) AS v(id, seen) WHERE d.id = v.id",
                (keys, [devices[k] for k in keys]))

    def _dead_letters(self, cur: psycopg.Cursor[Any], dead: list[_DeadLetter],
                      result: FlushResult) -> None:
        if not dead:
            return
        cap = self.dead_letter_max_bytes
        cur.executemany(
            "INSERT INTO dead_letters (received_at, topic, gateway_id, reason, detail, "
            "reading_id, payload, payload_size) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(d.received_at, d.topic, d.gateway_id, d.rejection.reason.value,
              d.rejection.detail, d.rejection.reading_id, d.rejection.raw[:cap],
              len(d.rejection.raw)) for d in dead],
        )
        result.dead_letters.update(d.rejection.reason for d in dead)


_Window = tuple[datetime, datetime | None, str | None, tuple[int, int]]


def _run_all(cur: psycopg.Cursor[Any], ops: list[Statement]) -> None:
    """The statements in order, in one pipeline (one round trip) when there are several. An
    error surfaces when the pipeline ends, failing the transaction as an inline one would."""
    if len(ops) > 1 and psycopg.Pipeline.is_supported():
        with cur.connection.pipeline():
            for sql, params in ops:
                cur.execute(sql, params)
    else:
        for sql, params in ops:
            cur.execute(sql, params)


def _single_windows(enrolments: dict[str, list[_Enrolment]]) -> dict[str, _Window]:
    """Devices whose only usable enrolment is one period: (start, end, gateway, resolved).
    For them _resolve's answer inside that period is fixed, so it is computed once."""
    windows: dict[str, _Window] = {}
    for address, found in enrolments.items():
        usable = [e for e in found if e.patient_id is not None and e.start is not None]
        if len(usable) == 1:
            e = usable[0]
            assert e.start is not None and e.patient_id is not None
            windows[address] = (e.start, e.end, e.gateway_id, (e.patient_id, e.device_id))
    return windows


def _resolve(
    enrolments: list[_Enrolment] | None, gateway: str, reading: Reading
) -> tuple[int, int] | Rejection:
    """(patient_id, device_id) from the enrolment at the reading's measurement time."""
    if not enrolments:
        return Rejection(RejectReason.UNKNOWN_DEVICE,
                         f"device {reading.device_id!r} is not registered", b"")
    at = reading.measured_at
    for e in enrolments:
        if e.patient_id is None or e.start is None or at < e.start:
            continue
        if e.end is not None and at >= e.end:
            continue
        if e.gateway_id != gateway:
            return Rejection(
                RejectReason.ENROLLED_TO_OTHER_PATIENT,
                f"device {reading.device_id!r} is enrolled through gateway {e.gateway_id!r} "
                f"at {at.isoformat()}, not {gateway!r}", b"")
        return e.patient_id, e.device_id
    return Rejection(RejectReason.NOT_ENROLLED,
                     f"device {reading.device_id!r} has no enrolment at {at.isoformat()}", b"")


def _gateway_of(message: Decoded) -> str | None:
    return message.gateway_id


def _payload_of(message: Decoded) -> bytes:
    if isinstance(message, RejectedMessage):
        return message.rejection.raw
    return message.payload
