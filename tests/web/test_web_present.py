"""Presentation rules, especially staleness: never present stale data as current."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.web.present import (
    format_value,
    humanise_age,
    humanise_span,
    local_time,
    nhs_display,
    recorded,
    rule_label,
    shown,
    staleness,
    waiting_for,
)
from vigil.metrics import Metric

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("at", "allowed", "stale", "tag", "age_text"),
    [
        (None, HOUR, True, "NO DATA", "never"),
        (NOW, HOUR, False, "", "just now"),
        (NOW - HOUR, HOUR, False, "", "1 h ago"),  # exactly at the allowance: still fresh
        (NOW - HOUR - timedelta(seconds=1), HOUR, True, "STALE", "1 h ago"),
        (NOW - timedelta(minutes=14), timedelta(minutes=11), True, "STALE", "14 min ago"),
        (NOW - timedelta(days=3), timedelta(days=1), True, "STALE", "3 days ago"),
        (NOW + timedelta(seconds=30), HOUR, False, "", "just now"),  # device clock ahead
    ],
)
def test_stale_marking(at: datetime | None, allowed: timedelta, stale: bool, tag: str,
                       age_text: str) -> None:
    result = shown(staleness(at, NOW, allowed), NOW, LONDON)
    assert result.stale is stale
    assert result.tag == tag
    assert result.age_text == age_text
    # A stale or missing value always says so in words, not only in colour.
    assert (result.tag != "") is stale


@given(age=st.floats(min_value=0, max_value=30 * 86400),
       allowed=st.floats(min_value=1, max_value=7 * 86400))
def test_stale_exactly_when_older_than_allowed(age: float, allowed: float) -> None:
    fresh = staleness(NOW - timedelta(seconds=age), NOW, timedelta(seconds=allowed))
    assert fresh.stale is (age > allowed)
    view = shown(fresh, NOW, LONDON)
    assert view.time_text != "" and view.age_text != ""


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "never"), (0, "just now"), (59, "just now"), (60, "1 min ago"),
    (3599, "59 min ago"), (3600, "1 h ago"), (3660, "1 h 1 min ago"),
    (86399, "23 h 59 min ago"), (86400, "1 day ago"), (3 * 86400 + 5, "3 days ago"),
    (-5, "just now"),
])
def test_humanise_age(seconds: float | None, text: str) -> None:
    assert humanise_age(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "under 1 min"), (59, "under 1 min"), (420, "7 min"), (5 * 3600 + 180, "5 h 3 min"),
    (2 * 86400 + 7, "2 days"),
])
def test_waiting_for(seconds: float, text: str) -> None:
    assert waiting_for(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (30, "30 s"), (900, "15 min"), (90, "1 min 30 s"), (3600, "1 h"), (5400, "1 h 30 min"),
    (86400, "1 day"), (86400 + 6 * 3600, "1 day 6 h"), (2 * 86400, "2 days"),
])
def test_humanise_span(seconds: float, text: str) -> None:
    assert humanise_span(seconds) == text


@pytest.mark.parametrize(("at", "text"), [
    (NOW - timedelta(minutes=5), "12:55"),  # BST: UTC+1
    (NOW - timedelta(days=2), "Mon 13:00"),
    (NOW - timedelta(days=20), "11 Apr 13:00"),
    (datetime(2023, 12, 24, 9, 30, tzinfo=UTC), "24 Dec 2023 09:30"),  # GMT in winter
    (None, "—"),
])
def test_local_time(at: datetime | None, text: str) -> None:
    assert local_time(at, NOW, LONDON) == text


@pytest.mark.parametrize(("value", "metric", "text"), [
    (88.0, Metric.SPO2, "88 %"),
    (37.94, Metric.BODY_TEMPERATURE, "37.9 °C"),
    (142.0, Metric.SYSTOLIC_BP, "142 mmHg"),
    (84.7, Metric.BODY_WEIGHT, "84.7 kg"),
    (23.0, Metric.RESPIRATORY_RATE, "23 /min"),
    (None, Metric.SPO2, "—"),
    (3.5, None, "3.5"),
])
def test_format_value(value: float | None, metric: Metric | None, text: str) -> None:
    assert format_value(value, metric) == text


@pytest.mark.parametrize(("key", "text"), [
    ("threshold:spo2", "Threshold · SpO2"),
    ("missing:systolic_bp", "Missing data · Systolic BP"),
    ("trend:body_weight", "Trend · Body weight"),
    ("news2", "NEWS2"),
    ("bp_average", "Home BP average"),
    ("something_new:x", "Something new · x"),
])
def test_rule_label(key: str, text: str) -> None:
    assert rule_label(key) == text


def test_nhs_number_in_groups() -> None:
    assert nhs_display("9434765919") == "943 476 5919"
    assert nhs_display("123") == "123"


def test_recorded_times_carry_age_but_no_staleness() -> None:
    view = recorded(NOW - timedelta(days=2), NOW, LONDON)
    assert (view.time_text, view.age_text, view.stale, view.tag) == ("Mon 13:00", "2 days ago",
                                                                     False, "")
    assert recorded(None, NOW, LONDON).time_text == "—"
