"""Trend charts as server-side SVG: a pure function from a series to markup.

Why SVG on the server rather than a JavaScript charting library: the thresholds, quality flags
and late markers are all known here already; the chart needs no client code, no JSON endpoint
and no build step; it prints, scales to any width, and its title/description give screen
readers a summary. A chart is a few kilobytes.

Marks: raw readings are a line with dots; bucketed series (too many readings to draw) are a
min-max band with the mean line. Questionable readings (a QUESTIONABLE quality flag) are left
out of the line and drawn as hollow circles with "?"; late (backfilled) readings as hollow
diamonds. Threshold limits from the patient's rules are dashed lines labelled with their
operator, value and severity in words. Gaps longer than expected break the line rather than
join across a time without data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from itertools import pairwise
from statistics import median
from zoneinfo import ZoneInfo

from api.web.present import SEVERITY_LABEL, format_value, metric_label, unit_label
from vigil.metrics import CATALOGUE, Metric

WIDTH, HEIGHT = 1000, 210
LEFT, RIGHT, TOP, BOTTOM = 52, 118, 12, 28
MAX_DOTS = 200
LABEL_GAP = 12


@dataclass(frozen=True, slots=True)
class Reading:
    at: datetime
    value: float
    late: bool = False
    questionable: bool = False
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    width: timedelta
    low: float
    high: float
    mean: float
    count: int


@dataclass(frozen=True, slots=True)
class Threshold:
    op: str
    value: float
    severity: str


@dataclass(frozen=True, slots=True)
class Series:
    metric: Metric
    since: datetime
    until: datetime
    readings: list[Reading] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)
    # Questionable or late readings drawn over a bucketed series.
    marks: list[Reading] = field(default_factory=list)
    thresholds: list[Threshold] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Chart:
    svg: str
    summary: str
    questionable: int
    late: int
    count: int


def nice_step(span: float, target_ticks: int = 5) -> float:
    """A 1-2-5 step giving about `target_ticks` ticks over `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target_ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if multiple * magnitude >= raw:
            return multiple * magnitude
    return 10.0 * magnitude  # pragma: no cover


def value_domain(values: list[float], limits: list[float], metric: Metric) -> tuple[float, float]:
    """The y range: the data and the limits (so a line is seen against its thresholds),
    padded, and never beyond the metric's plausible range."""
    spec = CATALOGUE[metric]
    everything = values + limits
    if not everything:
        return spec.plausible_min, spec.plausible_max
    low, high = min(everything), max(everything)
    pad = max((high - low) * 0.08, 10 ** -spec.decimals, abs(high) * 0.01)
    low, high = low - pad, high + pad
    return max(low, spec.plausible_min), min(high, spec.plausible_max)


def time_ticks(since: datetime, until: datetime, zone: ZoneInfo) -> list[tuple[datetime, str]]:
    """Local-time ticks: every 3 h over a day, at midnights over a week, every few days
    beyond."""
    span = until - since
    ticks: list[tuple[datetime, str]] = []
    if span <= timedelta(hours=36):
        every = 3 if span > timedelta(hours=12) else 1
        t = since.replace(minute=0, second=0, microsecond=0)
        while t <= until:
            local = t.astimezone(zone)
            if t >= since and local.minute == 0 and local.hour % every == 0:
                ticks.append((t, local.strftime("%H:%M")))
            t += timedelta(hours=1)
        return ticks
    step_days = max(1, math.ceil(span.days / 8))
    day = since.astimezone(zone).date()
    end_day = until.astimezone(zone).date()
    index = 0
    while day <= end_day:
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        if since <= midnight <= until and index % step_days == 0:
            label = f"{midnight.strftime('%a')} {day.day}" if span <= timedelta(days=10) \
                else f"{day.day} {midnight.strftime('%b')}"
            ticks.append((midnight, label))
        if since <= midnight:
            index += 1
        day += timedelta(days=1)
    return ticks


def _fmt(x: float) -> str:
    return f"{x:.1f}"


class _Frame:
    def __init__(self, since: datetime, until: datetime, low: float, high: float) -> None:
        self.since, self.span = since, max((until - since).total_seconds(), 1.0)
        self.low, self.high = low, high if high > low else low + 1
        self.width, self.height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(self, at: datetime) -> float:
        fraction = (at - self.since).total_seconds() / self.span
        return LEFT + min(max(fraction, 0.0), 1.0) * self.width

    def y(self, value: float) -> float:
        fraction = (value - self.low) / (self.high - self.low)
        return TOP + (1 - min(max(fraction, 0.0), 1.0)) * self.height


def _segments(readings: list[Reading], span: timedelta) -> list[list[Reading]]:
    """Split where the gap is far longer than usual: a line must not bridge missing data.
    "Usual" is three times the median interval, but never less than a fortieth of the chart
    (so a sparser stretch, e.g. hourly history before minute-by-minute data, still joins)."""
    if len(readings) < 2:
        return [readings] if readings else []
    gaps = [(b.at - a.at).total_seconds() for a, b in pairwise(readings)]
    allowed = max(3 * median(gaps), span.total_seconds() / 40, 600.0)
    segments: list[list[Reading]] = [[readings[0]]]
    for gap, reading in zip(gaps, readings[1:], strict=True):
        if gap > allowed:
            segments.append([])
        segments[-1].append(reading)
    return segments


def _bucket_runs(buckets: list[Bucket]) -> list[list[Bucket]]:
    runs: list[list[Bucket]] = []
    for bucket in buckets:
        if runs and bucket.start - runs[-1][-1].start <= bucket.width * 1.5:
            runs[-1].append(bucket)
        else:
            runs.append([bucket])
    return runs


def _threshold_labels(frame: _Frame, thresholds: list[Threshold]) -> list[str]:
    out: list[str] = []
    placed: list[float] = []
    inside = [t for t in thresholds if frame.low <= t.value <= frame.high]
    for t in sorted(inside, key=lambda t: frame.y(t.value)):
        y = frame.y(t.value)
        label_y = max([y, *(p + LABEL_GAP for p in placed if p + LABEL_GAP > y)])
        placed.append(label_y)
        severity = t.severity if t.severity in SEVERITY_LABEL else "low"
        text = f"{t.op} {t.value:g} {SEVERITY_LABEL.get(t.severity, t.severity)}"
        out.append(
            f'<line class="ch-th ch-th-{severity}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{_fmt(y)}" y2="{_fmt(y)}"/>'
            f'<text class="ch-th-label ch-th-{severity}" x="{WIDTH - RIGHT + 6}" '
            f'y="{_fmt(label_y + 4)}">{escape(text)}</text>')
    return out


def _mark(frame: _Frame, reading: Reading, zone: ZoneInfo, metric: Metric) -> str:
    x, y = frame.x(reading.at), frame.y(reading.value)
    when = reading.at.astimezone(zone).strftime("%d %b %H:%M")
    notes = []
    if reading.questionable:
        notes.append("questionable" + (f" ({', '.join(reading.flags)})" if reading.flags else ""))
    if reading.late:
        notes.append("late (delivered after an outage)")
    title = f"<title>{escape(format_value(reading.value, metric))} at {when}: " \
            f"{escape('; '.join(notes))}</title>"
    if reading.questionable:
        return (f'<g class="ch-q">{title}<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="6"/>'
                f'<text x="{_fmt(x)}" y="{_fmt(y + 3.5)}">?</text></g>')
    d = f"M{_fmt(x)} {_fmt(y - 4.5)} L{_fmt(x + 4.5)} {_fmt(y)} L{_fmt(x)} {_fmt(y + 4.5)} " \
        f"L{_fmt(x - 4.5)} {_fmt(y)} Z"
    return f'<g class="ch-late">{title}<path d="{d}"/></g>'


def render(series: Series, zone: ZoneInfo, chart_id: str) -> Chart:
    metric = series.metric
    line = [r for r in series.readings if not r.questionable]
    marks = [r for r in series.readings if r.questionable or r.late] + series.marks
    values = [r.value for r in series.readings] + [m.value for m in series.marks]
    values += [b.low for b in series.buckets] + [b.high for b in series.buckets]
    low, high = value_domain(values, [t.value for t in series.thresholds], metric)
    frame = _Frame(series.since, series.until, low, high)
    parts: list[str] = []

    step = nice_step(high - low)
    tick = math.ceil(low / step) * step
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    while tick <= high + 1e-9:
        y = frame.y(tick)
        parts.append(f'<line class="ch-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_fmt(y)}" '
                     f'y2="{_fmt(y)}"/><text class="ch-ylabel" x="{LEFT - 6}" '
                     f'y="{_fmt(y + 4)}">{tick:.{decimals}f}</text>')
        tick += step
    for at, label in time_ticks(series.since, series.until, zone):
        x = frame.x(at)
        parts.append(f'<line class="ch-grid ch-vgrid" x1="{_fmt(x)}" x2="{_fmt(x)}" y1="{TOP}" '
                     f'y2="{HEIGHT - BOTTOM}"/><text class="ch-xlabel" x="{_fmt(x)}" '
                     f'y="{HEIGHT - BOTTOM + 16}">{escape(label)}</text>')
    parts.append(f'<rect class="ch-frame" x="{LEFT}" y="{TOP}" width="{frame.width}" '
                 f'height="{frame.height}"/>')
    parts += _threshold_labels(frame, series.thresholds)

    for run in _bucket_runs(series.buckets):
        top = [(frame.x(b.start + b.width / 2), frame.y(b.high)) for b in run]
        bottom = [(frame.x(b.start + b.width / 2), frame.y(b.low)) for b in reversed(run)]
        if len(run) == 1:
            x = top[0][0]
            parts.append(f'<line class="ch-range" x1="{_fmt(x)}" x2="{_fmt(x)}" '
                         f'y1="{_fmt(top[0][1])}" y2="{_fmt(bottom[0][1])}"/>')
        else:
            pts = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in top + bottom)
            parts.append(f'<polygon class="ch-band" points="{pts}"/>')
        means = " ".join(f"{_fmt(frame.x(b.start + b.width / 2))},{_fmt(frame.y(b.mean))}"
                         for b in run)
        parts.append(f'<polyline class="ch-line" points="{means}"/>')

    segments = _segments(line, series.until - series.since)
    for segment in segments:
        pts = " ".join(f"{_fmt(frame.x(r.at))},{_fmt(frame.y(r.value))}" for r in segment)
        if len(segment) > 1:
            parts.append(f'<polyline class="ch-line" points="{pts}"/>')
    # Dots for every reading when few; otherwise only for readings standing alone between
    # gaps, which no line would show.
    dots = line if len(line) <= MAX_DOTS else [seg[0] for seg in segments if len(seg) == 1]
    parts += [f'<circle class="ch-dot" cx="{_fmt(frame.x(r.at))}" '
              f'cy="{_fmt(frame.y(r.value))}" r="2.6"/>' for r in dots]
    parts += [_mark(frame, r, zone, metric) for r in marks]

    count = len(series.readings) + sum(b.count for b in series.buckets)
    questionable = sum(1 for r in marks if r.questionable)
    late = sum(1 for r in marks if r.late)
    summary = _summary(series, count, questionable, late, zone)
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    svg = (f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-labelledby="{title_id} {desc_id}">'
           f'<title id="{title_id}">{escape(metric_label(metric))}</title>'
           f'<desc id="{desc_id}">{escape(summary)}</desc>{"".join(parts)}</svg>')
    return Chart(svg=svg, summary=summary, questionable=questionable, late=late, count=count)


def _summary(series: Series, count: int, questionable: int, late: int, zone: ZoneInfo) -> str:
    unit = unit_label(CATALOGUE[series.metric].ucum)
    name = metric_label(series.metric)
    if count == 0:
        return f"{name}: no readings in this period."
    values = [r.value for r in series.readings if not r.questionable]
    values += [b.low for b in series.buckets] + [b.high for b in series.buckets]
    text = f"{name}: {count} readings"
    if values:
        text += f", from {min(values):g} to {max(values):g} {unit}".rstrip()
    if questionable:
        text += f"; {questionable} questionable"
    if late:
        text += f"; {late} late"
    limits = ", ".join(f"{t.op} {t.value:g} ({t.severity})" for t in series.thresholds)
    if limits:
        text += f"; limits {limits}"
    return text + "."
