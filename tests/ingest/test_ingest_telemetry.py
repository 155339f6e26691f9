"""The garbage collector's pauses are timed into the consumer's metrics."""

from __future__ import annotations

import gc

from ingest.telemetry import GcTimer, IngestMetrics


def _collections(metrics: IngestMetrics, generation: str) -> float:
    value = metrics.registry.get_sample_value("vigil_ingest_gc_seconds_count",
                                              {"generation": generation})
    return value or 0.0


def test_gc_pauses_are_counted_per_generation_until_removed() -> None:
    metrics = IngestMetrics()
    timer = GcTimer(metrics)
    timer.install()
    try:
        gc.collect()
        gc.collect(0)
    finally:
        timer.remove()
    assert _collections(metrics, "2") >= 1
    assert _collections(metrics, "0") >= 1
    counted = _collections(metrics, "2")
    gc.collect()
    assert _collections(metrics, "2") == counted
    timer.remove()  # removing twice is harmless
