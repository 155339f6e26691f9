"""The durable outbox: every reading and device event the gateway produces is committed here
(SQLite, WAL, synchronous=FULL) before anything else happens to it, and leaves only when
ingest's end-to-end Ack names it (ARCHITECTURE.md decision 1). Unacknowledged items are resent
on an exponential schedule with jitter (edge.backoff). Events are acknowledged the same way:
ingest lists committed event ids in Ack.stored.

The outbox is bounded by item count, payload bytes and age; edge.eviction states the policy.
The database also keeps per-device state: the highest stored-record sequence number committed,
written in the same transaction as the readings it came with.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from edge.backoff import jittered_delay
from edge.eviction import Candidate, ItemClass, Tally, choose_victims, describe, tally
from vigil.messages import DeviceEvent, DeviceEventKind, Origin, Reading
from vigil.topics import Channel

__all__ = ["ItemClass", "Outbox", "OutboxError", "OutboxLimits", "Pending", "for_sending"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,              -- reading id or event id
    rank INTEGER NOT NULL,            -- eviction class (edge.eviction.ItemClass)
    channel TEXT NOT NULL,            -- readings | events
    device_id TEXT,
    created_at REAL NOT NULL,         -- unix seconds when committed here
    payload BLOB NOT NULL,            -- the message as JSON, exactly as stored
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS items_due ON items (next_attempt_at);
CREATE INDEX IF NOT EXISTS items_eviction ON items (rank, created_at);
CREATE INDEX IF NOT EXISTS items_age ON items (created_at);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    last_sequence INTEGER             -- highest stored-record sequence number committed
);
-- The running totals of the EVICTED report not yet sent, per device ('' = gateway-level).
CREATE TABLE IF NOT EXISTS eviction_reports (
    device_key TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    continuous INTEGER NOT NULL,
    spot INTEGER NOT NULL,
    events INTEGER NOT NULL,
    since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# id, rank, channel, device_id, created_at, payload, next_attempt_at
_Row = tuple[str, int, str, str | None, float, bytes, float]
_BOUNDED = f"rank < {int(ItemClass.REPORT)}"
_DELETE_CHUNK = 500


@dataclass(frozen=True, slots=True)
class OutboxLimits:
    max_items: int = 1_200_000
    max_bytes: int = 512 * 1024 * 1024
    max_age_s: float = 30 * 24 * 3600.0
    resend_initial_s: float = 10.0
    resend_max_s: float = 600.0


@dataclass(frozen=True, slots=True)
class Pending:
    id: str
    channel: Channel
    payload: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int  # everything waiting for an ack, reports included
    bytes: int  # payload bytes under the bound
    oldest_created_at: float | None
    reports: int = 0  # EVICTED reports among `depth` (outside the bound)

    @property
    def bounded(self) -> int:
        return self.depth - self.reports


class OutboxError(RuntimeError):
    """The outbox database cannot be opened or is not a Vigil outbox."""


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def for_sending(reading: Reading, sent_at: float, late_after_s: float) -> Reading:
    """The reading as it goes on the wire: a live reading leaving the gateway more than
    `late_after_s` after it reached it is late backfill. Only the origin changes; the id comes
    from the natural key, so a late resend still deduplicates against an earlier copy."""
    if reading.origin is Origin.LIVE and sent_at - reading.received_at.timestamp() > late_after_s:
        return reading.model_copy(update={"origin": Origin.LATE})
    return reading


class Outbox:
    def __init__(
        self,
        path: Path,
        gateway_id: str,
        limits: OutboxLimits | None = None,
        rng: random.Random | None = None,
        on_acked: Callable[[int], object] | None = None,
    ) -> None:
        self.path = path
        self.gateway_id = gateway_id
        self.limits = limits or OutboxLimits()
        self._rng = rng or random.Random()
        # Ids acknowledged but not yet deleted (see acknowledge_later), and who is told how
        # many items acknowledgements removed once that is committed.
        self._acked: set[str] = set()
        self._on_acked = on_acked
        self._removed_by_acks = 0  # by the last transaction's acknowledgements
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk when it returns, even if power fails right after.
            self._db.execute("PRAGMA synchronous=FULL")
            self._full_sync = True  # the level set last (see _transaction)
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            self._check_schema()
            self._recount()
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open outbox {path}: {exc}") from exc

    def _check_schema(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            raise OutboxError(f"outbox {self.path} has schema {row[0]}, expected {SCHEMA_VERSION}")

    def close(self) -> None:
        self.flush_acks()
        self._db.close()

    # --- adding -----------------------------------------------------------------------------

    def add_readings(
        self,
        readings: Sequence[Reading],
        *,
        continuous: bool,
        now: float,
        sequence: tuple[str, int] | None = None,
    ) -> int:
        """Commit readings (and, atomically with them, the device's highest stored-record
        sequence seen). Returns how many were new; a reading already here is kept as it was."""
        rank = int(ItemClass.CONTINUOUS if continuous else ItemClass.SPOT)
        rows: list[_Row] = [
            (r.id, rank, Channel.READINGS.value, r.device_id, now,
             r.model_dump_json(exclude_none=True).encode(), now)
            for r in readings
        ]
        with self._transaction():
            added = self._insert(rows)
            if sequence is not None:
                self._db.execute(
                    "INSERT INTO devices (device_id, last_sequence) VALUES (?, ?) "
                    "ON CONFLICT (device_id) DO UPDATE SET last_sequence = "
                    "MAX(COALESCE(last_sequence, -1), excluded.last_sequence)",
                    sequence,
                )
            self._enforce_bounds(now)
        return added

    def add_event(self, event: DeviceEvent, *, now: float) -> None:
        with self._transaction():
            self._insert([self._event_row(event, now)])
            self._enforce_bounds(now)

    def _event_row(self, event: DeviceEvent, now: float) -> _Row:
        payload = event.model_dump_json(exclude_none=True).encode()
        rank = ItemClass.REPORT if event.event is DeviceEventKind.EVICTED else ItemClass.EVENT
        return (event.event_id, int(rank), Channel.EVENTS.value, event.device_id, now, payload,
                now)

    def _insert(self, rows: list[_Row]) -> int:
        before = self._db.total_changes
        self._db.executemany(
            "INSERT OR IGNORE INTO items (id, rank, channel, device_id, created_at, payload, "
            "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        added = self._db.total_changes - before
        if added == len(rows):
            bounded = [row for row in rows if row[1] != ItemClass.REPORT]
            self._count += len(bounded)
            self._bytes += sum(len(row[5]) for row in bounded)
        else:  # some were duplicates: recount exactly rather than guess which
            self._recount()
        return added

    def _recount(self) -> None:
        count, size = self._db.execute(
            f"SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM items WHERE {_BOUNDED}"
        ).fetchone()
        self._count, self._bytes = int(count), int(size)

    # --- bounds -------------------------------------------------------------------------------

    def _enforce_bounds(self, now: float) -> None:
        over_items = self._count - self.limits.max_items
        over_bytes = self._bytes - self.limits.max_bytes
        if over_items <= 0 and over_bytes <= 0:
            return
        cursor = self._db.execute(
            f"SELECT id, rank, device_id, LENGTH(payload) FROM items WHERE {_BOUNDED} "
            "ORDER BY rank, created_at"
        )
        candidates = (Candidate(r[0], ItemClass(r[1]), r[2], r[3]) for r in cursor)
        victims = choose_victims(
            candidates, max(over_items, 0), max(over_bytes, 0),
            self.limits.max_items // 100 if over_items > 0 else 0,
            self.limits.max_bytes // 100 if over_bytes > 0 else 0,
        )
        cursor.close()
        self._delete(v.id for v in victims)
        self._report(victims, now, "outbox full")

    def expire(self, now: float) -> int:
        """Drop items older than max_age_s (and report them); returns how many."""
        cutoff = now - self.limits.max_age_s
        with self._transaction():
            victims = [
                Candidate(r[0], ItemClass(r[1]), r[2], 0)
                for r in self._db.execute(
                    "SELECT id, rank, device_id FROM items WHERE created_at < ?", (cutoff,)
                )
            ]
            if not victims:
                return 0
            self._delete(v.id for v in victims)
            self._report(victims, now, f"unacknowledged for over {self.limits.max_age_s:g} s")
        return len(victims)

    def _delete(self, ids: Iterable[str]) -> int:
        removed = 0
        pending = list(ids)
        # One statement per chunk rather than per id (acks arrive a few ids at a time, several
        # acks per commit); chunks stay far below SQLite's bound on statement parameters.
        for start in range(0, len(pending), _DELETE_CHUNK):
            chunk = pending[start:start + _DELETE_CHUNK]
            rows = self._db.execute(
                f"DELETE FROM items WHERE id IN ({','.join('?' * len(chunk))}) "
                "RETURNING rank, LENGTH(payload)", chunk
            ).fetchall()
            removed += len(rows)
            for rank, size in rows:
                if rank != ItemClass.REPORT:
                    self._count -= 1
                    self._bytes -= int(size)
        return removed

    def _report(self, victims: list[Candidate], now: float, why: str) -> None:
        """Record the eviction: fold it into the device's unsent report, or start one."""
        for device_id, counts in tally(victims).items():
            key = device_id or ""
            since = now
            row = self._db.execute(
                "SELECT r.event_id, r.continuous, r.spot, r.events, r.since FROM "
                "eviction_reports r JOIN items i ON i.id = r.event_id AND i.attempts = 0 "
                "WHERE r.device_key = ? AND r.reason = ?", (key, why)
            ).fetchone()
            if row is not None:
                self._delete([row[0]])
                counts = counts + Tally(row[1], row[2], row[3])
                since = row[4]
            report = DeviceEvent.new(
                gateway_id=self.gateway_id, device_id=device_id, event=DeviceEventKind.EVICTED,
                at=_at(now), count=counts.total,
                detail=describe(why, counts, _at(since).isoformat(timespec="seconds")))
            self._insert([self._event_row(report, now)])
            self._db.execute(
                "INSERT OR REPLACE INTO eviction_reports VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, report.event_id, why, counts.continuous, counts.spot, counts.events, since),
            )

    # --- sending and acknowledgement ----------------------------------------------------------

    def due(self, now: float, limit: int = 5000) -> list[Pending]:
        rows = self._query_due(now, limit)
        if self._acked and any(r[0] in self._acked for r in rows):
            # An acknowledged item came due before its deletion was applied: apply it now
            # rather than resend what ingest already has (rare: acks are applied within a
            # commit or two, resends come seconds later).
            self.flush_acks()
            rows = self._query_due(now, limit)
        return [Pending(r[0], Channel(r[1]), bytes(r[2]), r[3]) for r in rows]

    def _query_due(self, now: float, limit: int) -> list[tuple[str, str, bytes, int]]:
        return self._db.execute(
            "SELECT id, channel, payload, attempts FROM items WHERE next_attempt_at <= ? "
            "ORDER BY next_attempt_at, created_at LIMIT ?",
            (now, limit),
        ).fetchall()

    def mark_sent(self, items: Iterable[Pending], now: float) -> None:
        """Schedule the next resend of items just published, unless acknowledged first."""
        lim = self.limits
        with self._transaction(durable=False):
            self._db.executemany(
                "UPDATE items SET attempts = ?, next_attempt_at = ? WHERE id = ?",
                (
                    (p.attempts + 1,
                     now + jittered_delay(p.attempts + 1, lim.resend_initial_s,
                                          lim.resend_max_s, self._rng),
                     p.id)
                    for p in items
                ),
            )

    def acknowledge(self, ids: Iterable[str]) -> int:
        """Remove acknowledged items now; unknown ids (already removed, or never here) are
        ignored. Returns how many were removed (with any acknowledged earlier and not yet
        applied)."""
        self._acked.update(ids)
        return self.flush_acks()

    def acknowledge_later(self, ids: Iterable[str]) -> None:
        """Remove acknowledged items with the next write transaction, whatever it is (a
        reading's commit, a send round's bookkeeping), instead of a commit of their own: at
        1 Hz an ack per message was a commit per message. An ack is thus applied late, never
        early; lost in a power cut, it costs a resend that ingest deduplicates. Until it is
        applied, `due` never returns the item. `flush_acks` applies them now."""
        self._acked.update(ids)

    def flush_acks(self) -> int:
        """Apply acknowledgements not yet applied; returns how many items they removed."""
        if not self._acked:
            return 0
        with self._transaction(durable=False):
            pass  # every write transaction applies them first
        return self._removed_by_acks

    def make_all_due(self, now: float) -> None:
        """After the uplink reconnects: everything unacknowledged may go now, rather than
        waiting out a backoff that was growing while there was no connection."""
        with self._transaction(durable=False):
            self._db.execute(
                "UPDATE items SET next_attempt_at = ? WHERE next_attempt_at > ?", (now, now)
            )

    def next_due_at(self) -> float | None:
        row = self._db.execute("SELECT MIN(next_attempt_at) FROM items").fetchone()
        return None if row[0] is None else float(row[0])

    def stats(self) -> OutboxStats:
        self.flush_acks()  # depth counts what awaits an ack, not what awaits its deletion
        reports, oldest = self._db.execute(
            f"SELECT (SELECT COUNT(*) FROM items WHERE rank = {int(ItemClass.REPORT)}), "
            "(SELECT MIN(created_at) FROM items)"
        ).fetchone()
        return OutboxStats(self._count + int(reports), self._bytes,
                           None if oldest is None else float(oldest), int(reports))

    # --- per-device state -----------------------------------------------------------------

    def last_sequence(self, device_id: str) -> int | None:
        row = self._db.execute(
            "SELECT last_sequence FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def known_devices(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT device_id FROM devices")}

    def remember_device(self, device_id: str) -> None:
        with self._transaction():
            self._db.execute("INSERT OR IGNORE INTO devices (device_id) VALUES (?)", (device_id,))

    # --- plumbing -------------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, durable: bool = True) -> Iterator[None]:
        """durable=False for bookkeeping whose loss in a power cut only causes a resend
        (attempt counts, acknowledgements): its commit skips the fsync; the next durable commit
        syncs it along (WAL appends in order), and what is added is always durable."""
        # The level is switched only when it differs from the last one set (two statements
        # fewer per ack and per send round at 1 Hz); a durable commit always runs under FULL.
        if durable != self._full_sync:
            self._db.execute("PRAGMA synchronous=" + ("FULL" if durable else "NORMAL"))
            self._full_sync = durable
        self._db.execute("BEGIN IMMEDIATE")
        # Acknowledgements waiting to be applied go first, in the same commit.
        acked, self._acked = self._acked, set()
        try:
            removed = self._delete(acked) if acked else 0
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            self._acked |= acked  # not applied after all: still to do
            self._recount()
            raise
        self._db.execute("COMMIT")
        self._removed_by_acks = removed
        if removed and self._on_acked is not None:
            self._on_acked(removed)
