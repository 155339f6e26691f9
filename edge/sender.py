"""Moves due items from the outbox to the uplink: readings in contract-sized batches, events one
per message. Only publishes while connected; what it publishes stays in the outbox, scheduled
for a resend, until ingest acknowledges it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import ValidationError

from edge.outbox import Outbox, Pending, for_sending
from edge.recorder import Counters
from edge.uplink import Uplink
from vigil.messages import Reading, batch_readings
from vigil.topics import Channel

log = logging.getLogger("edge.sender")

# Items taken from the outbox per round; a backlog goes out in rounds of this size.
ROUND = 2000
# Re-check the outbox at least this often even when nothing woke the sender.
IDLE_POLL_S = 5.0
# After a wake, gather what else arrives this long so a burst goes out as one batch.
LINGER_S = 0.05


class Sender:
    def __init__(
        self,
        outbox: Outbox,
        uplink: Uplink,
        *,
        late_after_s: float,
        counters: Counters,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._outbox = outbox
        self._uplink = uplink
        self._late_after_s = late_after_s
        self._counters = counters
        self._clock = clock
        self.wake = asyncio.Event()

    def send_due(self) -> int:
        """Publish one round of due items; returns how many were taken from the outbox."""
        if not self._uplink.connected:
            return 0
        now = self._clock()
        pending = self._outbox.due(now, ROUND)
        readings: list[Reading] = []
        reading_items: list[Pending] = []
        sent: list[Pending] = []
        for item in pending:
            if item.channel is Channel.EVENTS:
                if self._uplink.publish_event(item.payload):
                    sent.append(item)
                continue
            try:
                reading = Reading.model_validate_json(item.payload)
            except ValidationError as exc:  # cannot happen unless the disk corrupted the row
                log.error("unreadable reading in the outbox", extra={"id": item.id,
                                                                     "error": str(exc)})
                sent.append(item)  # keep it, but on the resend schedule, not every round
                continue
            readings.append(for_sending(reading, now, self._late_after_s))
            reading_items.append(item)
        offset = 0
        for batch in batch_readings(self._uplink.gateway_id, readings, datetime.fromtimestamp(
                now, UTC)):
            items = reading_items[offset:offset + len(batch.readings)]
            offset += len(batch.readings)
            if not self._uplink.publish_batch(batch):
                break  # the connection went; the rest waits for the reconnect
            self._counters.batches_published += 1
            sent.extend(items)
        self._outbox.mark_sent(sent, now)
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
