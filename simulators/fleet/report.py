"""The fleet's final report: what was sent, what came back, what the database holds, and which
alerts fired against which were expected. A pydantic model (for `--json` and benchmarks) with a
plain-text table for people."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

# Noise and missing-data rules fire for generated patients too; the table shows a few.
TABLE_UNEXPECTED = 10


class Latency(BaseModel):
    """Publish -> end-to-end ack, in milliseconds, over first confirmations only."""

    model_config = ConfigDict(frozen=True)

    count: int = 0
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        if not seconds:
            return cls()
        ordered = sorted(seconds)
        return cls(
            count=len(ordered),
            p50_ms=percentile(ordered, 50) * 1000.0,
            p90_ms=percentile(ordered, 90) * 1000.0,
            p99_ms=percentile(ordered, 99) * 1000.0,
            max_ms=ordered[-1] * 1000.0,
        )


class WindowLatency(BaseModel):
    """Latency of the readings first published in [start_s, end_s) of the generating phase."""

    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float
    latency: Latency


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (no interpolation: a real sample)."""
    if not ordered:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class DatabaseCheck(BaseModel):
    """The oracle: reading ids sent versus rows stored for the fleet's devices."""

    model_config = ConfigDict(frozen=True)

    rows: int  # rows for the fleet's devices
    distinct_ids: int
    duplicates: int  # rows - distinct ids: must be 0 (unique key)
    missing: int  # acked as stored but not in the database: must be 0
    unexpected: int  # in the database for our devices but never sent by this run
    dead_letters: int | None = None  # dead-lettered messages naming our gateways


class AlertCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    patient: str
    rule: str
    count: int


class AlertCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    raised: list[AlertCount]
    expected: list[AlertCount]
    # Expected (patient, rule) pairs with no alert raised, and raised ones nobody expected.
    missing: list[AlertCount]
    unexpected: list[AlertCount]


class FleetReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    gateways: int
    devices: int
    connections: int
    mix: str
    seed: int
    generating_s: float
    draining_s: float
    simulated_s: float
    readings_generated: int
    readings_sent: int  # distinct readings published at least once
    readings_acked: int  # confirmed end to end (stored or rejected) for the first time
    readings_stored: int
    readings_rejected: int
    rejected_reasons: dict[str, int]
    readings_lost: int  # generated and never confirmed by the end of the drain: must be 0
    readings_unsent: int  # of the lost, never even published (connection never came back)
    records_on_devices: int = 0  # measured but still in a device's memory at the end
    resent_readings: int
    messages_published: int
    publishes_denied: int  # the broker refused (ACL) -- per-gateway connections only
    duplicate_acks: int  # acks for ids already confirmed (after resends)
    unknown_acks: int  # acks for ids this fleet never sent
    statuses_published: int
    events_published: int
    reconnects: int
    generated_per_s: float
    acked_per_s: float
    latency: Latency
    # The same by when readings were first published: a start-up transient or a climb.
    latency_windows: list[WindowLatency] = []
    # The fleet process's own CPU seconds while generating and draining (not its start-up,
    # enrolment or database check): what the load generator costs the machine it loads.
    cpu_s: float | None = None
    # Unix time when generation began (then generating_s + draining_s of traffic).
    started_unix: float | None = None
    database: DatabaseCheck | None = None
    alerts: AlertCheck | None = None

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing doubled, the database agrees, the expected alerts fired."""
        db_ok = self.database is None or (
            self.database.duplicates == 0 and self.database.missing == 0
        )
        alerts_ok = self.alerts is None or not self.alerts.missing
        return self.readings_lost == 0 and db_ok and alerts_ok

    def table(self) -> str:
        lat = self.latency

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} ms"

        rows: list[tuple[str, str]] = [
            ("fleet", f"{self.gateways} gateways, {self.devices} devices, "
                      f"{self.connections} connections, mix {self.mix}, seed {self.seed}"),
            ("time", f"{self.generating_s:.1f} s generating + {self.draining_s:.1f} s draining "
                     f"({self.simulated_s:.0f} s simulated)"),
            ("generated", f"{self.readings_generated} readings ({self.generated_per_s:.0f}/s)"),
            ("sent", f"{self.readings_sent} readings in {self.messages_published} messages, "
                     f"{self.resent_readings} resent"),
            ("acked", f"{self.readings_acked} ({self.readings_stored} stored, "
                      f"{self.readings_rejected} rejected; {self.acked_per_s:.0f}/s)"),
            ("lost", f"{self.readings_lost} ({self.readings_unsent} never sent)"),
            ("duplicate acks", f"{self.duplicate_acks} (unknown {self.unknown_acks})"),
            ("denied by broker", str(self.publishes_denied)),
            ("latency", f"p50 {ms(lat.p50_ms)}, p90 {ms(lat.p90_ms)}, p99 {ms(lat.p99_ms)}, "
                        f"max {ms(lat.max_ms)}"),
            *((f"  {w.start_s:.0f}-{w.end_s:.0f} s", f"p50 {ms(w.latency.p50_ms)}, "
               f"p99 {ms(w.latency.p99_ms)} ({w.latency.count} readings)")
              for w in self.latency_windows),
            ("status / events", f"{self.statuses_published} / {self.events_published}"),
            ("generator CPU", "-" if self.cpu_s is None else
             f"{self.cpu_s:.2f} s ({self.cpu_s / max(1, self.readings_generated) * 1e6:.1f} us "
             "a reading)"),
            ("reconnects", str(self.reconnects)),
        ]
        for reason, count in sorted(self.rejected_reasons.items()):
            rows.append(("  rejected", f"{count} x {reason}"))
        if self.database is not None:
            db = self.database
            rows.append(("database", f"{db.rows} rows, {db.distinct_ids} ids, {db.duplicates} "
                                     f"duplicates, {db.missing} missing, {db.unexpected} "
                                     f"unexpected"
                                     + ("" if db.dead_letters is None
                                        else f", {db.dead_letters} dead letters")))
        if self.alerts is not None:
            al = self.alerts
            rows.append(("alerts", f"{sum(a.count for a in al.raised)} raised; "
                                   f"{len(al.expected)} expected, {len(al.missing)} missing, "
                                   f"{len(al.unexpected)} unexpected"))
            rows += [("  missing", f"{a.patient} {a.rule}") for a in al.missing]
            rows += [("  unexpected", f"{a.patient} {a.rule} x{a.count}")
                     for a in al.unexpected[:TABLE_UNEXPECTED]]
            if len(al.unexpected) > TABLE_UNEXPECTED:
                rows.append(("  unexpected", f"... {len(al.unexpected) - TABLE_UNEXPECTED} "
                                             "more (see --json)"))
        rows.append(("result", "OK" if self.ok else "FAILED"))
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
