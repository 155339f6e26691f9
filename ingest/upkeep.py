"""Gateway statuses and device events of one flush, as a few set-based statements.

A virtual ward's gateways send a heartbeat status every minute or so, and events as devices
come and go: dozens a second at fleet scale. One statement per message was the writer's
costliest statement after the reading insert (bench/system.py --pg-statements: ~0.2 ms of
server CPU each, half of it planning a custom plan every call), against ~0.04 ms a message as
rows of one statement.

Order is what one statement each would give. Each gateway's n-th status-or-event message of the
flush goes into wave n, and the waves run in order; within a wave every gateway appears once,
and the rows a message touches (its gateway, the devices enrolled through it) belong to its
gateway alone, so the statements of one wave commute.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest.decoding import EventMessage, StatusMessage
from vigil.messages import GatewayState

# The last will ("offline") was composed at connect time: its `at` and its outbox figures are
# stale, so the time is our receipt time and the figures stay as they were. A retained status
# replayed on a fresh subscription is applied only to a gateway we know nothing about yet.
GATEWAY_STATUS = """
UPDATE gateways g SET
    status = v.state,
    status_at = CASE WHEN g.status = v.state AND g.status_at IS NOT NULL
                     THEN g.status_at ELSE v.at END,
    status_reason = v.reason,
    software_version = coalesce(v.software, g.software_version),
    outbox_depth = CASE WHEN v.online THEN v.depth ELSE g.outbox_depth END,
    oldest_pending_at = CASE WHEN v.online THEN v.oldest ELSE g.oldest_pending_at END,
    heartbeat_interval_s = coalesce(v.heartbeat, g.heartbeat_interval_s)
FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::bool[],
            %s::int[], %s::timestamptz[], %s::float8[], %s::bool[])
     AS v(id, state, at, reason, software, online, depth, oldest, heartbeat, retained)
WHERE g.id = v.id AND (NOT v.retained OR g.status_at IS NULL)
"""
# Only devices enrolled through the reporting gateway right now: a gateway may not speak for
# another patient's device.
DEVICE_UPKEEP = """
UPDATE devices d SET
    battery_level = coalesce(v.battery, d.battery_level),
    last_seen = greatest(d.last_seen, v.seen)
FROM unnest(%s::text[], %s::smallint[], %s::timestamptz[], %s::text[])
     AS v(address, battery, seen, gateway)
WHERE d.address = v.address AND EXISTS (
    SELECT 1 FROM enrolments e WHERE e.device_id = d.id
    AND e.gateway_id = v.gateway AND e.period @> now())
"""
DEVICE_EVENTS = """
INSERT INTO device_events (event_id, gateway_id, device_address, device_id, event, at,
                           received_at, battery_level, count, detail, raw_hex)
SELECT v.event_id, v.gateway_id, v.address, (SELECT id FROM devices WHERE address = v.address),
       v.event, v.at, v.received_at, v.battery, v.count, v.detail, v.raw_hex
FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::timestamptz[],
            %s::timestamptz[], %s::smallint[], %s::int[], %s::text[], %s::text[])
     AS v(event_id, gateway_id, address, event, at, received_at, battery, count, detail,
          raw_hex)
ON CONFLICT (event_id) DO NOTHING
"""

Statement = tuple[str, Any]  # SQL and its parameters


@dataclass
class _Wave:
    # Columns of GATEWAY_STATUS, DEVICE_UPKEEP and DEVICE_EVENTS, in their order.
    statuses: list[list[Any]] = field(default_factory=lambda: [[] for _ in range(10)])
    devices: list[list[Any]] = field(default_factory=lambda: [[] for _ in range(4)])
    events: list[list[Any]] = field(default_factory=lambda: [[] for _ in range(10)])

    @staticmethod
    def add(columns: list[list[Any]], *values: Any) -> None:
        for column, value in zip(columns, values, strict=True):
            column.append(value)


class Upkeep:
    def __init__(self) -> None:
        self._waves: list[_Wave] = []
        self._sent: Counter[str] = Counter()  # messages per gateway so far

    def _wave(self, gateway: str) -> _Wave:
        n = self._sent[gateway]
        self._sent[gateway] = n + 1
        if n == len(self._waves):
            self._waves.append(_Wave())
        return self._waves[n]

    def status(self, message: StatusMessage, received_at: datetime) -> None:
        status = message.status
        online = status.state is GatewayState.ONLINE
        at = status.at if message.retained else (status.at if online else received_at)
        wave = self._wave(message.gateway_id)
        wave.add(wave.statuses, message.gateway_id, status.state.value, at, status.reason,
                 status.software_version, online, status.outbox_depth,
                 status.oldest_pending_at, status.heartbeat_interval_s, message.retained)
        if online:
            for device in status.devices:
                wave.add(wave.devices, device.device_id, device.battery_level,
                         device.last_seen, message.gateway_id)

    def event(self, message: EventMessage, received_at: datetime) -> None:
        event = message.event
        wave = self._wave(event.gateway_id)
        wave.add(wave.events, event.event_id, event.gateway_id, event.device_id,
                 event.event.value, event.at, received_at, event.battery_level, event.count,
                 event.detail, event.raw_hex)
        if event.device_id is not None:
            wave.add(wave.devices, event.device_id, event.battery_level, event.at,
                     event.gateway_id)

    def statements(self) -> list[Statement]:
        out: list[Statement] = []
        for wave in self._waves:
            for sql, columns in ((GATEWAY_STATUS, wave.statuses), (DEVICE_EVENTS, wave.events),
                                 (DEVICE_UPKEEP, wave.devices)):
                if columns[0]:
                    out.append((sql, columns))
        return out
