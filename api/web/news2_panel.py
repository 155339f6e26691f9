"""The NEWS2 panel: the score from the latest fresh reading of each parameter, with its
inputs shown one by one. Pure: readings in, rows out.

Uses vigil.news2 exactly as the NEWS2 rule does (questionable readings excluded by the caller,
the rule's freshness window, SpO2 scale and recorded oxygen use). Consciousness (ACVPU) is not
a device reading and is not recorded by home monitoring, so the set is usually incomplete: it
is then shown as incomplete with what is missing, and never as a total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from api.web.present import format_value, humanise_age, humanise_span, local_time
from vigil.metrics import Metric
from vigil.news2 import METRIC_PARAMETER, PARAMETERS, News2Result, inputs_from_readings
from vigil.rules import News2Rule

LABELS = {
    "respiration_rate": "Respiration rate",
    "spo2": "SpO2",
    "air_or_oxygen": "Air or oxygen",
    "systolic_bp": "Systolic BP",
    "pulse": "Pulse",
    "consciousness": "Consciousness (ACVPU)",
    "temperature": "Temperature",
}


@dataclass(frozen=True, slots=True)
class News2Row:
    parameter: str
    label: str
    value_text: str
    # When the value was measured and its age; empty when there is none.
    time_text: str
    age_text: str
    score: int | None
    # "scored", "stale" (latest is older than the window: not used), "missing" (never
    # measured), "not_recorded" (not a device reading: oxygen use, consciousness).
    status: str
    note: str


@dataclass(frozen=True, slots=True)
class News2Panel:
    enabled: bool
    result: News2Result | None
    rows: list[News2Row]
    window_text: str
    spo2_scale: int
    missing_labels: list[str]


def news2_panel(
    latest: Sequence[tuple[Metric, float, datetime]],
    *,
    now: datetime,
    rule: News2Rule | None,
    zone: ZoneInfo,
) -> News2Panel:
    """`latest`: the newest trusted (not questionable) reading of each NEWS2 metric."""
    if rule is None:
        return News2Panel(False, None, [], "", 1, [])
    inputs = inputs_from_readings(latest, now=now, window=rule.window,
                                  spo2_scale=rule.spo2_scale, on_oxygen=rule.on_oxygen)
    result = inputs.score()
    newest: dict[str, tuple[Metric, float, datetime]] = {}
    for metric, value, at in latest:
        parameter = METRIC_PARAMETER.get(metric)
        if parameter is not None and (parameter not in newest or at >= newest[parameter][2]):
            newest[parameter] = (metric, value, at)
    rows: list[News2Row] = []
    for parameter in PARAMETERS:
        score = result.scores.get(parameter)
        label = LABELS[parameter]
        if parameter == "air_or_oxygen":
            if rule.on_oxygen is None:
                rows.append(News2Row(parameter, label, "unknown", "", "", None, "not_recorded",
                                     "oxygen use not recorded in the patient's rules"))
            else:
                text = "oxygen" if rule.on_oxygen else "air"
                rows.append(News2Row(parameter, label, text, "", "", score, "scored",
                                     "from the patient's rules"))
            continue
        if parameter == "consciousness":
            rows.append(News2Row(parameter, label, "not recorded", "", "", None, "not_recorded",
                                 "not measured by home devices"))
            continue
        found = newest.get(parameter)
        if found is None:
            rows.append(News2Row(parameter, label, "—", "", "", None, "missing",
                                 "no reading"))
            continue
        metric, value, at = found
        age = max(0.0, (now - at).total_seconds())
        stale = parameter in inputs.stale
        note = f"older than {humanise_span(rule.window.total_seconds())}: not used" \
            if stale else ""
        if metric is Metric.HEART_RATE:
            note = (note + "; " if note else "") + "heart rate"
        rows.append(News2Row(parameter, label, format_value(value, metric),
                             local_time(at, now, zone), humanise_age(age),
                             None if stale else score, "stale" if stale else "scored", note))
    missing_labels = [LABELS[name] for name in result.missing]
    return News2Panel(True, result, rows, humanise_span(rule.window.total_seconds()),
                      rule.spo2_scale, missing_labels)


def news2_window(rule: News2Rule | None) -> timedelta:
    return rule.window if rule is not None else timedelta(hours=1)
