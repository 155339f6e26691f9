"""Moves due items from the outbox to the uplink: readings in contract-sized batches, events one
per message. Only publishes while connected; what it publishes stays in the outbox, scheduled
for a resend, until ingest acknowledges it.

Flow control: at most WINDOW items are in flight (published, not yet acknowledged) at a time,
so a week of backlog after an outage drains at the pace ingest confirms it instead of piling
up in paho's memory queue. An item unacknowledged for longer than the resend schedule's
ceiling no longer counts (its acknowledgement is presumed lost; the resend covers it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from edge.outbox import Outbox, Pending, for_sending
from edge.recorder import Counters
from edge.uplink import Uplink
from vigil.messages import (
    MAX_PAYLOAD_BYTES,
    MAX_READINGS_PER_BATCH,
    Reading,
    ReadingBatch,
    batch_readings,
)
from vigil.topics import Channel

log = logging.getLogger("edge.sender")

# Items taken from the outbox per round; a backlog goes out in rounds of this size.
ROUND = 2000
# Items published and not yet acknowledged, at most (~2.5 MB of readings).
WINDOW = 10_000
# Re-check the outbox at least this often even when nothing woke the sender.
IDLE_POLL_S = 5.0
# After a wake, gather what else arrives this long, so readings go out in batches rather than
# one message (and one outbox round) each. A send round (outbox query and bookkeeping commit,
# publish, broker and ingest acks) costs more CPU than the readings in it: at a 1 Hz stream,
# 2 s lets a few samples share one (bench/edge_agent.py at 1 Hz: about 8% less agent CPU than
# 1 s), and fewer, fuller messages are cheaper for ingest too. Two seconds is nothing next to
# clinical time (observations are scored over minutes).
LINGER_S = 2.0
# Readings just committed, kept as objects for their first send (parsing them back from the
# outbox's JSON re-validated every one); past this many, the cache starts again.
FRESH_MAX = 2000




def batches(
    gateway_id: str, readings: Sequence[Reading], sizes: Sequence[int], sent_at: datetime
) -> list[ReadingBatch]:
    """The contract's batch_readings, short-cut for the common round that plainly fits one
    message: `sizes` are the readings' stored JSON lengths (the wire copy differs at most by
    origin "live" -> "late", the same length), and under half the size limit one batch is
    assembled from the already-validated readings without serialising each one to measure it
    and validating it again (which recomputed every reading's id)."""
    if 0 < len(readings) <= MAX_READINGS_PER_BATCH and \
            sum(sizes) + len(sizes) <= MAX_PAYLOAD_BYTES // 2:
        return [ReadingBatch.model_construct(gateway_id=gateway_id, sent_at=sent_at,
                                             readings=list(readings))]
    return batch_readings(gateway_id, readings, sent_at)


class Sender:
    def __init__(
        self,
        outbox: Outbox,
        uplink: Uplink,
        *,
        late_after_s: float,
        counters: Counters,
        clock: Callable[[], float] = time.time,
        window: int = WINDOW,
    ) -> None:
        self._outbox = outbox
        self._uplink = uplink
        self._late_after_s = late_after_s
        self._counters = counters
        self._clock = clock
        self._window = window
        self._stale_after_s = outbox.limits.resend_max_s
        # id -> monotonic time published
        self._in_flight: dict[str, float] = {}
        # id -> the reading exactly as committed, until its first send
        self._fresh: dict[str, Reading] = {}
        self.wake = asyncio.Event()

    def committed(self, readings: Iterable[Reading]) -> None:
        """Readings the recorder just committed (their stored JSON is their own dump)."""
        for reading in readings:
            if len(self._fresh) >= FRESH_MAX:
                # An outage backlog, or items evicted unsent: start afresh (what is dropped
                # here is read back from the outbox instead).
                self._fresh.clear()
            self._fresh[reading.id] = reading

    # --- flow control -------------------------------------------------------------------------

    def acknowledged(self, ids: Iterable[str]) -> None:
        was_full = len(self._in_flight) >= self._window
        for item_id in ids:
            self._in_flight.pop(item_id, None)
        if was_full:
            self.wake.set()  # room in the window again

    def reconnected(self) -> None:
        """A new connection: nothing from the last one is in flight any more."""
        self._in_flight.clear()
        self.wake.set()

    def _room(self) -> int:
        if len(self._in_flight) >= self._window:
            cutoff = time.monotonic() - self._stale_after_s
            for item_id in [i for i, at in self._in_flight.items() if at < cutoff]:
                del self._in_flight[item_id]
        return max(0, self._window - len(self._in_flight))

    # --- sending ------------------------------------------------------------------------------

    def send_due(self) -> int:
        """Publish one round of due items; returns how many were taken from the outbox."""
        if not self._uplink.connected:
            return 0
        room = min(ROUND, self._room())
        if room == 0:
            return 0
        now = self._clock()
        pending = self._outbox.due(now, room)
        readings: list[Reading] = []
        reading_items: list[Pending] = []
        sent: list[Pending] = []
        for item in pending:
            if item.channel is Channel.EVENTS:
                if self._uplink.publish_event(item.payload):
                    sent.append(item)
                continue
            fresh = self._fresh.pop(item.id, None)
            try:
                reading = fresh if fresh is not None else \
                    Reading.model_validate_json(item.payload)
            except ValidationError as exc:  # cannot happen unless the disk corrupted the row
                log.error("unreadable reading in the outbox", extra={"id": item.id,
                                                                     "error": str(exc)})
                sent.append(item)  # keep it, but on the resend schedule, not every round
                continue
            readings.append(for_sending(reading, now, self._late_after_s))
            reading_items.append(item)
        offset = 0
        for batch in batches(self._uplink.gateway_id, readings,
                             [len(p.payload) for p in reading_items],
                             datetime.fromtimestamp(now, UTC)):
            items = reading_items[offset:offset + len(batch.readings)]
            offset += len(batch.readings)
            if not self._uplink.publish_batch(batch):
                break  # the connection went; the rest waits for the reconnect
            self._counters.batches_published += 1
            sent.extend(items)
        self._outbox.mark_sent(sent, now)
        published_at = time.monotonic()
        self._in_flight.update((p.id, published_at) for p in sent)
        return len(pending)

    async def run(self) -> None:
        while True:
            self.wake.clear()
            taken = self.send_due()
            if taken >= ROUND:
                await asyncio.sleep(0)  # more is due: go again, but let devices be heard
                continue
            next_due = self._outbox.next_due_at()
            wait = IDLE_POLL_S if next_due is None else next_due - self._clock()
            wait = min(max(wait, 0.05), IDLE_POLL_S)
            if not self._uplink.connected:
                wait = IDLE_POLL_S  # the reconnect wakes us
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the event fires, and the agent would never stop.
            try:
                async with asyncio.timeout(wait):
                    await self.wake.wait()
            except TimeoutError:
                continue
            await asyncio.sleep(LINGER_S)
