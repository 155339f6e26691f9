"""How values, times, ages and staleness are shown: pure functions used by every template.

Clinical safety rule: never present stale data as current. Every value on screen carries its
measurement time and age, and a value older than its allowance is labelled STALE in words (not
only greyed), so it reads as old even in print or to a screen reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from api.models.common import Freshness, freshness
from vigil.metrics import CATALOGUE, Metric

UCUM_DISPLAY = {"Cel": "°C", "mm[Hg]": "mmHg", "/min": "/min", "%": "%", "kg": "kg",
                "kg/m2": "kg/m²", "mmol/L": "mmol/L"}

SEVERITY_LABEL = {"high": "High", "medium": "Medium", "low": "Low"}

RULE_KIND = {"threshold": "Threshold", "trend": "Trend", "missing": "Missing data",
             "news2": "NEWS2", "bp_average": "Home BP average"}

CAUSE_LABEL = {"gateway_offline": "gateway offline", "device_not_seen": "device not seen",
               "low_battery": "low battery",
               "patient_did_not_measure": "patient did not measure"}


def unit_label(ucum: str | None) -> str:
    return "" if ucum is None else UCUM_DISPLAY.get(ucum, ucum)


def metric_unit(metric: Metric | str) -> str:
    return unit_label(CATALOGUE[Metric(metric)].ucum)


def metric_label(metric: Metric | str) -> str:
    try:
        return CATALOGUE[Metric(metric)].display
    except ValueError:
        return str(metric)


def format_value(value: float | None, metric: Metric | str | None) -> str:
    """A value at its metric's chart resolution, with its unit ("88 %", "37.9 °C")."""
    if value is None:
        return "—"
    if metric is None:
        return f"{value:g}"
    spec = CATALOGUE[Metric(metric)]
    unit = unit_label(spec.ucum)
    number = f"{value:.{spec.decimals}f}"
    return f"{number} {unit}" if unit else number


def rule_label(rule_key: str) -> str:
    """'threshold:spo2' -> 'Threshold · SpO2'; 'news2' -> 'NEWS2'."""
    kind, _, metric = rule_key.partition(":")
    label = RULE_KIND.get(kind, kind.replace("_", " ").capitalize())
    return f"{label} · {metric_label(metric)}" if metric else label


def humanise_age(seconds: float | None) -> str:
    """'just now', '4 min ago', '3 h 5 min ago', '2 days ago'."""
    if seconds is None:
        return "never"
    s = max(0, int(seconds))
    if s < 60:
        return "just now"
    if s < 3600:
        return f"{s // 60} min ago"
    if s < 86400:
        hours, minutes = divmod(s // 60, 60)
        return f"{hours} h {minutes} min ago" if minutes else f"{hours} h ago"
    days = s // 86400
    return "1 day ago" if days == 1 else f"{days} days ago"


def waiting_for(seconds: float) -> str:
    """How long something has waited: 'under 1 min', '7 min', '5 h 3 min', '2 days'."""
    s = max(0, int(seconds))
    if s < 60:
        return "under 1 min"
    return humanise_age(s).removesuffix(" ago")


def humanise_span(seconds: float) -> str:
    """A duration: '45 s', '15 min', '3 h', '1 day 6 h'."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" if s % 60 == 0 else f"{s // 60} min {s % 60} s"
    if s < 86400:
        hours, minutes = divmod(s // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, rest = divmod(s, 86400)
    day_text = "1 day" if days == 1 else f"{days} days"
    return f"{day_text} {rest // 3600} h" if rest >= 3600 else day_text


def local_time(at: datetime | None, now: datetime, zone: ZoneInfo) -> str:
    """'14:02' today, 'Tue 14:02' within the week, '3 Mar 14:02' before, '3 Mar 2023 ...'."""
    if at is None:
        return "—"
    here, today = at.astimezone(zone), now.astimezone(zone)
    if here.date() == today.date():
        return here.strftime("%H:%M")
    if timedelta(0) <= today - here < timedelta(days=6):
        return here.strftime("%a %H:%M")
    if here.year == today.year:
        return f"{here.day} {here.strftime('%b %H:%M')}"
    return f"{here.day} {here.strftime('%b %Y %H:%M')}"


@dataclass(frozen=True, slots=True)
class Shown:
    """A time as shown: absolute time, age, and whether it is stale (with a word for it)."""

    time_text: str
    age_text: str
    stale: bool
    # "stale" or "fresh" (a CSS class), "none" when there is no value at all.
    state: str
    # The words shown beside the value: "STALE" / "NO DATA" / "" for fresh.
    tag: str
    iso: str | None


def shown(fresh: Freshness, now: datetime, zone: ZoneInfo) -> Shown:
    """Presentation of an API Freshness: stale and missing values say so in words."""
    if fresh.at is None:
        return Shown("—", "never", True, "none", "NO DATA", None)
    age = fresh.age_seconds if fresh.age_seconds is not None else 0.0
    state = "stale" if fresh.stale else "fresh"
    return Shown(local_time(fresh.at, now, zone), humanise_age(age), fresh.stale, state,
                 "STALE" if fresh.stale else "", fresh.at.isoformat())


def recorded(at: datetime | None, now: datetime, zone: ZoneInfo) -> Shown:
    """A time that records an event (an alert opened, its evidence measured): shown with its
    age, with no staleness of its own -- it is history, not a current value."""
    if at is None:
        return Shown("—", "never", False, "none", "", None)
    age = max(0.0, (now - at).total_seconds())
    return Shown(local_time(at, now, zone), humanise_age(age), False, "fresh", "",
                 at.isoformat())


def staleness(at: datetime | None, now: datetime, allowed: timedelta) -> Freshness:
    """Whether a value measured `at` is stale at `now` given its allowance: missing is stale;
    older than allowed is stale; exactly at the allowance is still fresh; a clock slightly
    ahead (future `at`) counts as age 0. The API's own rule (api.models.common), so the
    dashboard and the status endpoint never disagree."""
    return freshness(at, now, allowed)


def nhs_display(nhs_number: str) -> str:
    """NHS numbers are read and written in 3-3-4 groups (NHS Digital guidance)."""
    digits = nhs_number.strip()
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if len(digits) == 10 else digits
