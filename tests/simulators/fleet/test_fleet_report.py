"""Report arithmetic: nearest-rank percentiles, the pass/fail verdict, the human table."""

from __future__ import annotations

import pytest

from simulators.fleet.report import (
    AlertCheck,
    AlertCount,
    DatabaseCheck,
    FleetReport,
    Latency,
    percentile,
)
from simulators.fleet.tally import latency_windows


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [([1.0], 50, 1.0), ([1.0, 2.0], 50, 1.0), ([1.0, 2.0], 51, 2.0),
     ([float(i) for i in range(1, 101)], 90, 90.0), ([float(i) for i in range(1, 101)], 99, 99.0),
     ([float(i) for i in range(1, 101)], 100, 100.0), ([3.0, 5.0, 9.0], 0, 3.0)],
)
def test_percentile_is_nearest_rank(values: list[float], pct: float, expected: float) -> None:
    assert percentile(values, pct) == expected


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)


def test_latency_in_milliseconds() -> None:
    latency = Latency.of([0.3, 0.1, 0.2, 0.4])
    assert latency.count == 4
    assert latency.p50_ms == pytest.approx(200.0) and latency.max_ms == pytest.approx(400.0)
    assert Latency.of([]).p50_ms is None


def report(**changes: object) -> FleetReport:
    base: dict[str, object] = dict(
        gateways=2, devices=4, connections=1, mix="virtual-ward", seed=0, generating_s=1.0,
        draining_s=0.5, simulated_s=1.0, readings_generated=10, readings_sent=10,
        readings_acked=10, readings_stored=9, readings_rejected=1,
        rejected_reasons={"implausible_value": 1}, readings_lost=0, readings_unsent=0,
        resent_readings=0, messages_published=5, publishes_denied=0, duplicate_acks=0,
        unknown_acks=0, statuses_published=2, events_published=0, reconnects=0,
        generated_per_s=10.0, acked_per_s=6.7, latency=Latency.of([0.01, 0.02]),
    )
    base.update(changes)
    return FleetReport.model_validate(base)


def missing_alert() -> AlertCheck:
    one = AlertCount(patient="p1", rule="news2", count=1)
    return AlertCheck(raised=[], expected=[one], missing=[one], unexpected=[])


@pytest.mark.parametrize(
    ("changes", "ok"),
    [
        ({}, True),
        ({"readings_lost": 1}, False),
        ({"database": DatabaseCheck(rows=9, distinct_ids=9, duplicates=0, missing=0,
                                    unexpected=0)}, True),
        ({"database": DatabaseCheck(rows=10, distinct_ids=9, duplicates=1, missing=0,
                                    unexpected=0)}, False),
        ({"database": DatabaseCheck(rows=8, distinct_ids=8, duplicates=0, missing=1,
                                    unexpected=0)}, False),
        ({"alerts": missing_alert()}, False),
        ({"duplicate_acks": 3}, True),  # resends after a lost ack are expected and harmless
    ],
)
def test_verdict(changes: dict[str, object], ok: bool) -> None:
    assert report(**changes).ok is ok


def test_table_names_every_figure() -> None:
    text = report(alerts=missing_alert()).table()
    for word in ("generated", "acked", "lost", "latency", "implausible_value", "missing",
                 "p1 news2", "FAILED"):
        assert word in text
    assert FleetReport.model_validate_json(report().model_dump_json()) == report()


def test_latency_windows_split_by_first_publish() -> None:
    # Generation began at t=100 and lasted 9 s: windows [0, 3), [3, 6), [6, 9). A reading
    # first published after generation ended (a resend of a late one) counts in the last.
    latencies = [0.1, 0.2, 1.0, 2.0, 3.0, 0.5]
    sent = [100.0, 102.9, 103.0, 105.0, 108.0, 111.0]
    windows = latency_windows(latencies, sent, started=100.0, generating_s=9.0)
    assert [(w.start_s, w.end_s) for w in windows] == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0)]
    assert [w.latency.count for w in windows] == [2, 2, 2]
    assert [w.latency.max_ms for w in windows] == pytest.approx([200.0, 2000.0, 3000.0])
    assert latency_windows([], [], started=0.0, generating_s=0.0)[0].latency.count == 0


def test_table_shows_latency_windows() -> None:
    windows = latency_windows([0.1, 0.9], [0.0, 5.0], started=0.0, generating_s=6.0, parts=2)
    text = report(latency_windows=windows).table()
    assert "0-3 s" in text and "3-6 s" in text and "p99 900.0 ms (1 readings)" in text
