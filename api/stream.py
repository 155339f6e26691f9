"""The live stream of alert changes: PostgreSQL LISTEN/NOTIFY fanned out to SSE clients.

Every INSERT/UPDATE of `alerts` sends `NOTIFY vigil_alerts, '<alert id>'` at commit (trigger,
migration 0100). One `AlertHub` per API process holds one dedicated LISTEN connection, batches
the ids that arrive together, reads those alerts once (with the ids of the users allowed to see
each one, from the same `patient_access` rule as every other query) and hands each change only
to the subscribers allowed to see it. No polling; the pool is touched once per batch, not once
per subscriber.

NOTIFY is not durable: changes committed while the LISTEN connection is down are not
delivered. After a reconnect the hub therefore sends every subscriber a `resync` event (the
client re-reads the queue), and a client reconnecting with Last-Event-ID gets the alerts
changed since then replayed from the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from api.alerts import ALERT_COLUMNS, alert_out
from api.db import Connection
from api.models.alerts import AlertOut
from api.scope import viewers_of

CHANNEL = "vigil_alerts"
QUEUE_SIZE = 1000
log = logging.getLogger("vigil.api.stream")


@dataclass(frozen=True, slots=True)
class Resync:
    """Changes may have been missed: re-read the queue."""

    reason: str


Event = AlertOut | Resync


@dataclass(eq=False)
class Subscription:
    viewer_id: int
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False

    def offer(self, event: Event) -> None:
        """Never block the hub on one slow client: drop, and tell it to resync later."""
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True


class AlertHub:
    def __init__(self, database_url: str, pool: AsyncConnectionPool[Connection]) -> None:
        self._url = database_url
        self._pool = pool
        self._subscribers: set[Subscription] = set()
        self._ids: asyncio.Queue[int] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = asyncio.Event()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="alert-hub-listen"),
                       asyncio.create_task(self._dispatch(), name="alert-hub-dispatch")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def subscribe(self, viewer_id: int) -> Subscription:
        subscription = Subscription(viewer_id)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def _listen(self) -> None:
        delay = 0.5
        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    if not first:
                        self._broadcast(Resync("live stream reconnected to the database"))
                    first, delay = False, 0.5
                    async for note in conn.notifies():
                        with contextlib.suppress(ValueError):
                            self._ids.put_nowait(int(note.payload))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any database failure: retry, clients get a resync
                self.listening.clear()
                log.warning("alert stream listener lost its connection: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _broadcast(self, event: Event) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(event)

    async def _dispatch(self) -> None:
        while True:
            ids = {await self._ids.get()}
            while not self._ids.empty():
                ids.add(self._ids.get_nowait())
            if not self._subscribers:
                continue
            try:
                changes = await self._read(sorted(ids))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("alert stream could not read changed alerts: %s", exc)
                self._broadcast(Resync("changed alerts could not be read"))
                continue
            for alert, viewers in changes:
                for subscription in list(self._subscribers):
                    if subscription.viewer_id in viewers:
                        subscription.offer(alert)

    async def _read(self, ids: list[int]) -> list[tuple[AlertOut, frozenset[int]]]:
        query = sql.SQL(
            "SELECT {columns}, {viewers} AS viewers FROM alerts a "
            "JOIN patients p ON p.id = a.patient_id WHERE a.id = ANY(%s) "
            "ORDER BY a.updated_at, a.id"
        ).format(columns=ALERT_COLUMNS, viewers=viewers_of("a.patient_id"))
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, (ids,))
            rows: list[dict[str, Any]] = await cur.fetchall()
        return [(alert_out({k: v for k, v in row.items() if k != "viewers"}),
                 frozenset(row["viewers"])) for row in rows]
