"""Running counts of what the fleet did, kept on the engine thread."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from simulators.fleet.report import FleetReport, Latency, WindowLatency

# The generating phase's latency is also reported in this many equal windows.
LATENCY_WINDOWS = 3

if TYPE_CHECKING:
    from simulators.fleet.engine import FleetRun


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
    # When each of those readings was first published (monotonic), for latency over time.
    latency_sent: array[float] = field(default_factory=lambda: array("d"))


def summarise(run: FleetRun, generating_s: float, draining_s: float,
              started: float | None = None) -> FleetReport:
    """The final report from the counts and what is still in the outboxes; `started`
    (monotonic) is when generation began, for latency by publish time."""
    tally = run.tally
    unsent = sum(len(g.outbox.unsent) for g in run.gateways)
    lost = sum(g.outbox.depth for g in run.gateways)
    reasons: dict[str, int] = {}
    for gateway in run.gateways:
        for reason in gateway.outbox.rejected.values():
            reasons[reason] = reasons.get(reason, 0) + 1
    rejected = sum(reasons.values())
    elapsed = max(generating_s, 1e-9)
    return FleetReport(
        gateways=len(run.gateways),
        devices=sum(len(g.devices) for g in run.gateways),
        connections=len(run.links),
        mix=run.config.mix.value,
        seed=run.config.seed,
        generating_s=generating_s,
        draining_s=draining_s,
        simulated_s=run.generated_to,
        readings_generated=tally.generated,
        readings_sent=tally.sent_first,
        readings_acked=tally.acked,
        readings_stored=tally.acked - rejected,
        readings_rejected=rejected,
        rejected_reasons=reasons,
        readings_lost=lost,
        readings_unsent=unsent,
        records_on_devices=sum(len(d.memory) for g in run.gateways for d in g.devices),
        resent_readings=tally.resent,
        messages_published=tally.messages,
        publishes_denied=tally.denied,
        duplicate_acks=tally.duplicate_acks,
        unknown_acks=tally.unknown_acks,
        statuses_published=tally.statuses,
        events_published=tally.events,
        reconnects=tally.reconnects,
        generated_per_s=tally.generated / elapsed,
        acked_per_s=tally.acked / max(generating_s + draining_s, 1e-9),
        latency=Latency.of(tally.latencies),
        latency_windows=[] if started is None else latency_windows(
            tally.latencies, tally.latency_sent, started, generating_s),
    )


def latency_windows(latencies: Sequence[float], sent: Sequence[float], started: float,
                    generating_s: float, parts: int = LATENCY_WINDOWS) -> list[WindowLatency]:
    """Latency of the readings first published in each of `parts` equal windows of the
    generating phase (resends of late readings count in the last): whether latency settles
    after a start-up transient or climbs, which one percentile over the run cannot tell."""
    width = max(generating_s, 1e-9) / parts
    buckets: list[list[float]] = [[] for _ in range(parts)]
    for latency, at in zip(latencies, sent, strict=True):
        buckets[min(parts - 1, max(0, int((at - started) / width)))].append(latency)
    return [WindowLatency(start_s=i * width, end_s=(i + 1) * width, latency=Latency.of(b))
            for i, b in enumerate(buckets)]
