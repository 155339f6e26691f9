"""The NEWS2 panel: an incomplete set is shown as incomplete, never as a score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from api.web.news2_panel import News2Panel, News2Row, news2_panel
from vigil.metrics import Metric
from vigil.rules import News2Rule

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("UTC")
FRESH = NOW - timedelta(minutes=5)

VITALS = [(Metric.RESPIRATORY_RATE, 23.0, FRESH), (Metric.SPO2, 95.0, FRESH),
          (Metric.SYSTOLIC_BP, 120.0, FRESH), (Metric.PULSE_RATE, 95.0, FRESH),
          (Metric.BODY_TEMPERATURE, 38.4, FRESH)]


def rows_by_parameter(panel: News2Panel) -> dict[str, News2Row]:
    return {row.parameter: row for row in panel.rows}


def test_home_readings_alone_are_incomplete() -> None:
    panel = news2_panel(VITALS, now=NOW, rule=News2Rule(on_oxygen=False), zone=ZONE)
    assert panel.enabled and panel.result is not None
    assert panel.result.total is None and not panel.result.complete
    assert panel.missing_labels == ["Consciousness (ACVPU)"]
    rows = rows_by_parameter(panel)
    assert rows["respiration_rate"].score == 2
    assert rows["consciousness"].status == "not_recorded"
    assert rows["spo2"].time_text == "11:55"


def test_stale_values_are_not_used_and_say_so() -> None:
    old = NOW - timedelta(hours=3)
    readings = [*VITALS[:4], (Metric.BODY_TEMPERATURE, 39.5, old)]
    panel = news2_panel(readings, now=NOW, rule=News2Rule(on_oxygen=False), zone=ZONE)
    row = rows_by_parameter(panel)["temperature"]
    assert row.status == "stale" and row.score is None
    assert "Temperature" in panel.missing_labels
    assert "not used" in row.note


def test_unknown_oxygen_is_missing_too() -> None:
    panel = news2_panel(VITALS, now=NOW, rule=News2Rule(), zone=ZONE)
    assert "Air or oxygen" in panel.missing_labels
    assert rows_by_parameter(panel)["air_or_oxygen"].status == "not_recorded"


def test_latest_of_pulse_and_heart_rate_is_used() -> None:
    readings = [(Metric.PULSE_RATE, 70.0, NOW - timedelta(minutes=30)),
                (Metric.HEART_RATE, 120.0, FRESH)]
    panel = news2_panel(readings, now=NOW, rule=News2Rule(), zone=ZONE)
    row = rows_by_parameter(panel)["pulse"]
    assert row.value_text == "120 /min" and row.score == 2
    assert "heart rate" in row.note


def test_news2_off_for_the_condition() -> None:
    panel = news2_panel(VITALS, now=NOW, rule=None, zone=ZONE)
    assert not panel.enabled and panel.result is None
