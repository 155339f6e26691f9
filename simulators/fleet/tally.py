"""Running counts of what the fleet did, kept on the engine thread."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field


@dataclass
class Tally:
    generated: int = 0
    sent_first: int = 0  # distinct readings published at least once
    resent: int = 0
    messages: int = 0
    acked: int = 0
    duplicate_acks: int = 0
    unknown_acks: int = 0
    malformed_acks: int = 0
    denied: int = 0
    statuses: int = 0
    events: int = 0
    reconnects: int = 0
    # Publish -> ack seconds of first confirmations; a compact array for millions of them.
    latencies: array[float] = field(default_factory=lambda: array("d"))
