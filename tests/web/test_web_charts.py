"""Server-side SVG charts (pure)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.web.charts import (
    Bucket,
    Reading,
    Series,
    Threshold,
    nice_step,
    render,
    time_ticks,
    value_domain,
)
from vigil.metrics import Metric

UTC_ZONE = ZoneInfo("UTC")
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def readings(n: int, every: timedelta, value: float = 95.0) -> list[Reading]:
    return [Reading(NOW - every * (n - i), value + (i % 3)) for i in range(n)]


@given(span=st.floats(min_value=1e-3, max_value=1e6))
def test_nice_step_is_1_2_5(span: float) -> None:
    step = nice_step(span)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 5, 10)
    assert span / step <= 5.0001


def test_domain_includes_limits_but_stays_plausible() -> None:
    low, high = value_domain([92, 97], [94, 92, 88, 85], Metric.SPO2)
    assert low < 85 and 97 < high <= 100
    assert value_domain([], [], Metric.SPO2) == (0.0, 100.0)


def test_time_ticks_over_a_day_every_three_hours_in_local_time() -> None:
    ticks = time_ticks(NOW - DAY, NOW, LONDON)
    labels = [label for _, label in ticks]
    assert len(ticks) == 8
    assert all(int(label[:2]) % 3 == 0 and label.endswith(":00") for label in labels)


def test_time_ticks_over_a_month_are_days() -> None:
    ticks = time_ticks(NOW - 30 * DAY, NOW, UTC_ZONE)
    assert 5 <= len(ticks) <= 10
    assert all(at.hour == 0 for at, _ in ticks)


def test_chart_draws_thresholds_with_words_and_is_valid_svg() -> None:
    chart = render(Series(Metric.SPO2, NOW - DAY, NOW, readings(50, timedelta(minutes=20)),
                          thresholds=[Threshold("<", 92, "medium"), Threshold("<", 88, "high")]),
                   UTC_ZONE, "c1")
    root = ElementTree.fromstring(chart.svg)
    texts = ["".join(t.itertext()) for t in root.iter("text")]
    assert "< 92 Medium" in texts and "< 88 High" in texts
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-title c1-desc"
    assert chart.count == 50
    assert "limits < 92 (medium), < 88 (high)" in chart.summary


def test_questionable_readings_are_marked_and_left_out_of_the_line() -> None:
    series = readings(10, timedelta(minutes=10))
    series[4] = Reading(series[4].at, 70.0, questionable=True, flags=("signal_inadequate",))
    series[6] = Reading(series[6].at, 96.0, late=True)
    chart = render(Series(Metric.SPO2, NOW - timedelta(hours=2), NOW, series), UTC_ZONE, "c2")
    root = ElementTree.fromstring(chart.svg)
    assert chart.questionable == 1 and chart.late == 1
    titles = ["".join(t.itertext()) for t in root.iter("title")]
    assert any("questionable (signal_inadequate)" in t and "70 %" in t for t in titles)
    assert any("late" in t for t in titles)
    # The line never visits the questionable value: no polyline point sits at its height.
    q_y = next(float(c.get("cy", "0")) for g in root.iter("g") if g.get("class") == "ch-q"
               for c in g.iter("circle"))
    for line in root.iter("polyline"):
        ys = [float(p.split(",")[1]) for p in (line.get("points") or "").split()]
        assert all(abs(y - q_y) > 1 for y in ys)


def test_a_long_gap_breaks_the_line() -> None:
    before = [Reading(NOW - DAY + timedelta(minutes=5 * i), 95) for i in range(24)]
    after = [Reading(NOW - timedelta(hours=2) + timedelta(minutes=5 * i), 95) for i in range(24)]
    chart = render(Series(Metric.SPO2, NOW - DAY, NOW, before + after), UTC_ZONE, "c3")
    assert chart.svg.count("<polyline") == 2


def test_sparse_history_joins_and_lone_points_still_show() -> None:
    hourly = [Reading(NOW - 7 * DAY + timedelta(hours=2 * i), 95) for i in range(72)]
    dense = [Reading(NOW - DAY + timedelta(minutes=10 * i), 96) for i in range(144)]
    chart = render(Series(Metric.SPO2, NOW - 7 * DAY, NOW, hourly + dense), UTC_ZONE, "c4")
    assert chart.svg.count("<polyline") == 1
    lone = [Reading(NOW - 5 * DAY, 94.0)] + dense * 2
    chart = render(Series(Metric.SPO2, NOW - 7 * DAY, NOW, sorted(lone, key=lambda r: r.at)),
                   UTC_ZONE, "c5")
    assert 'class="ch-dot"' in chart.svg


def test_buckets_draw_a_band_and_marks() -> None:
    width = timedelta(hours=1)
    buckets = [Bucket(NOW - DAY + width * i, width, 90, 97, 94, 60) for i in range(24)]
    marks = [Reading(NOW - timedelta(hours=3), 80, questionable=True, flags=("poor_signal",))]
    chart = render(Series(Metric.SPO2, NOW - DAY, NOW, buckets=buckets, marks=marks),
                   UTC_ZONE, "c6")
    assert 'class="ch-band"' in chart.svg and chart.count == 24 * 60
    assert chart.questionable == 1


def test_empty_series_says_so() -> None:
    chart = render(Series(Metric.BODY_WEIGHT, NOW - DAY, NOW), UTC_ZONE, "c7")
    assert chart.count == 0 and "no readings" in chart.summary
    ElementTree.fromstring(chart.svg)


@pytest.mark.parametrize("label", ['<script>alert(1)</script>', '"><x'])
def test_text_is_escaped(label: str) -> None:
    chart = render(Series(Metric.SPO2, NOW - DAY, NOW, readings(3, timedelta(hours=1)),
                          thresholds=[Threshold("<", 90, label)]), UTC_ZONE, "c8")
    assert "<script>" not in chart.svg
    ElementTree.fromstring(chart.svg)
    assert re.search(r"&lt;script&gt;|&quot;&gt;", chart.svg)
