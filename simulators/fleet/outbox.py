"""Each simulated gateway's in-memory outbox: readings wait here from the moment they are
measured until ingest acknowledges them end to end, and are resent with backoff meanwhile.

The real agent keeps this in SQLite so it survives power cuts; the fleet simulates gateways that
stay up, so memory is enough -- what matters here is the same resend behaviour on the wire
(ARCHITECTURE.md decision 1). Pure: the caller passes the monotonic time in.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from edge.backoff import jittered_delay
from simulators.fleet.readings import WireReading


@dataclass(slots=True)
class Pending:
    reading: WireReading
    first_sent: float  # monotonic time of the first publish
    next_due: float  # resend when no ack by then
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class AckOutcome:
    """What one ack meant for this outbox."""

    acked: int  # readings confirmed for the first time
    duplicates: int  # confirmations of readings already confirmed
    unknown: int  # ids this gateway never sent
    latencies: tuple[float, ...]  # publish -> ack seconds of the first confirmations
    sent: tuple[float, ...] = ()  # their first publishes (monotonic), in the same order


@dataclass
class GatewayOutbox:
    ack_timeout_s: float
    resend_max_s: float
    rng: random.Random
    # Measured but not yet published (waiting for a flush or for the connection).
    unsent: list[WireReading] = field(default_factory=list)
    unsent_since: float = math.inf
    inflight: dict[str, Pending] = field(default_factory=dict)
    # Resend timers, (due, order, ids), soonest first: one per publish (its readings share the
    # first timer), then one per reading as each backs off. An id goes stale when its reading
    # is acknowledged or re-timed, and is skipped when it comes up: finding what is due costs
    # what is due, not a scan of everything in flight -- an overloaded ingest leaves tens of
    # thousands in flight, and scanning them four times a second starved the generator.
    timers: list[tuple[float, int, tuple[str, ...]]] = field(default_factory=list)
    order: Iterator[int] = field(default_factory=itertools.count)
    # Every id confirmed so far, to tell duplicate acks from unknown ones.
    confirmed: set[str] = field(default_factory=set)
    rejected: dict[str, str] = field(default_factory=dict)
    earliest_due: float = math.inf

    def add(self, reading: WireReading, now: float) -> None:
        if not self.unsent:
            self.unsent_since = now
        self.unsent.append(reading)

    @property
    def depth(self) -> int:
        return len(self.unsent) + len(self.inflight)

    def should_flush(self, now: float, batch_size: int, flush_interval_s: float) -> bool:
        return bool(self.unsent) and (
            len(self.unsent) >= batch_size or now - self.unsent_since >= flush_interval_s
        )

    def take_unsent(self) -> list[WireReading]:
        taken, self.unsent, self.unsent_since = self.unsent, [], math.inf
        return taken

    def mark_sent(self, readings: list[WireReading], now: float) -> None:
        """Readings just published for the first time. Like the edge agent (edge.outbox
        mark_sent), the first resend is already jittered, between half and all of the ack
        timeout: gateways whose acks are late together do not all resend in the same instant.
        One draw per publish, not per reading: the readings of one message share a fate."""
        due = now + jittered_delay(1, self.ack_timeout_s, self.resend_max_s, self.rng)
        inflight = self.inflight
        ids = []
        for reading in readings:
            if reading.id not in inflight:
                inflight[reading.id] = Pending(reading, first_sent=now, next_due=due)
                ids.append(reading.id)
        if ids:
            heapq.heappush(self.timers, (due, next(self.order), tuple(ids)))
        self.earliest_due = min(self.earliest_due, due)

    def due_for_resend(self, now: float) -> list[WireReading]:
        """Unacknowledged readings whose timer ran out; their next timer backs off."""
        if now < self.earliest_due:
            return []
        due: list[WireReading] = []
        timers = self.timers
        while timers and timers[0][0] <= now:
            when, _, ids = heapq.heappop(timers)
            for reading_id in ids:
                pending = self.inflight.get(reading_id)
                if pending is None or pending.next_due != when:
                    continue  # acknowledged since, or re-timed (a newer entry stands for it)
                pending.attempts += 1
                # After the n-th send wait ack_timeout * 2^(n-1), at most resend_max, jittered
                # so that gateways that lost the broker together do not come back in step
                # (the edge agent's schedule, edge.backoff).
                pending.next_due = now + jittered_delay(
                    pending.attempts, self.ack_timeout_s, self.resend_max_s, self.rng
                )
                heapq.heappush(timers, (pending.next_due, next(self.order), (reading_id,)))
                due.append(pending.reading)
        self.earliest_due = timers[0][0] if timers else math.inf
        return due

    def resend_all_soon(self, now: float) -> None:
        """After a reconnect: everything unconfirmed goes out at the next resend scan."""
        for reading_id, pending in self.inflight.items():
            if pending.next_due > now:
                pending.next_due = now
                heapq.heappush(self.timers, (now, next(self.order), (reading_id,)))
        if self.inflight:
            self.earliest_due = now

    def ack(self, stored: Sequence[str], rejected: dict[str, str], now: float) -> AckOutcome:
        acked = duplicates = unknown = 0
        latencies: list[float] = []
        sent: list[float] = []
        inflight, confirmed = self.inflight, self.confirmed
        for reading_id, reason in itertools.chain(zip(stored, itertools.repeat("")),
                                                  rejected.items()):
            pending = inflight.pop(reading_id, None)
            if pending is not None:
                acked += 1
                latencies.append(now - pending.first_sent)
                sent.append(pending.first_sent)
                confirmed.add(reading_id)
                if reason:
                    self.rejected[reading_id] = reason
            elif reading_id in confirmed:
                duplicates += 1
            else:
                unknown += 1
        return AckOutcome(acked, duplicates, unknown, tuple(latencies), tuple(sent))
