"""The one path from a device supervisor into the outbox: commit, count, wake the sender.

Everything a device produces -- readings and events alike -- is committed here before anything
else happens to it (the sender reads it back from the outbox), so a power cut after this call
loses nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from edge.outbox import Outbox
from vigil.messages import DeviceEvent, DeviceEventKind, Reading

log = logging.getLogger("edge.recorder")


@dataclass
class Counters:
    readings_committed: int = 0
    duplicate_readings: int = 0
    events_committed: int = 0
    batches_published: int = 0
    acked: int = 0
    rejected: int = 0


class Recorder:
    def __init__(
        self,
        outbox: Outbox,
        gateway_id: str,
        wake_sender: Callable[[], None],
        counters: Counters | None = None,
        clock: Callable[[], float] = time.time,
        on_committed: Callable[[Sequence[Reading]], None] | None = None,
    ) -> None:
        self.outbox = outbox
        # Told of readings once committed, exactly as stored (the sender keeps them rather
        # than parsing their JSON back from the outbox).
        self._on_committed = on_committed
        self.gateway_id = gateway_id
        self.counters = counters if counters is not None else Counters()
        self._wake = wake_sender
        self._clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def readings(
        self,
        readings: Sequence[Reading],
        *,
        continuous: bool,
        sequence: tuple[str, int] | None = None,
    ) -> None:
        added = self.outbox.add_readings(
            readings, continuous=continuous, now=self._clock(), sequence=sequence
        )
        self.counters.readings_committed += added
        self.counters.duplicate_readings += len(readings) - added
        if added:
            if added == len(readings) and self._on_committed is not None:
                self._on_committed(readings)  # with duplicates, the stored copies may differ
            self._wake()

    def event(
        self, kind: DeviceEventKind, device_id: str | None = None, **fields: object
    ) -> DeviceEvent:
        event = DeviceEvent.new(
            gateway_id=self.gateway_id, device_id=device_id, event=kind, at=self.now(), **fields
        )
        self.outbox.add_event(event, now=self._clock())
        self.counters.events_committed += 1
        log.info("device event", extra={"event": kind.value, "device": device_id,
                                        "detail": fields.get("detail")})
        self._wake()
        return event

