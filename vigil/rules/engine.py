"""One patient's rules over a batch of readings (ingest) or over the clock (the sweeper).

Ingest, inside the transaction that inserted the readings:
1. load the patient's RuleSet and RuleState (JSONB), and the trusted readings each metric's
   stateless rules look back over -- `required_history(ruleset)` says how far, counted back
   from the earliest reading in the batch (the batch itself may be included; readings are
   deduplicated by id);
2. `evaluate_readings(...)` -> evaluations and the new RuleState (store it back);
3. `lifecycle.decide_all(open alerts by rule key, evaluations, now=...)` -> transitions to
   apply to the alerts table (and page when `transition.page`).
On the data path ingest calls `vigil.rules.stream.evaluate_stream` instead, which returns the
same transitions (after `collapse_updates`) and rule state without building what would be
dropped; this module stays the reference it is tested against.
The sweeper runs `sweep(...)` for missing data and silent breach runs, then
`lifecycle.sweep_alert` on each live alert for snooze expiry and escalation.

Only threshold rules keep state (breach runs, raised bands). Trends, averages and NEWS2 are
recomputed from the readings in the database each time, so late backfill is naturally part
of their history. Only inserted readings are evaluated (duplicates never reach here), so a
resent reading never raises an alert twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vigil.metrics import Metric
from vigil.rules.bp_average import BP_METRICS, evaluate_bp_average
from vigil.rules.config import RuleSet
from vigil.rules.evaluation import Evaluation
from vigil.rules.history import History
from vigil.rules.missing import DevicePresence, GatewayPresence, evaluate_missing
from vigil.rules.news2_rule import NEWS2_METRICS, evaluate_news2
from vigil.rules.observation import Observation, require_aware
from vigil.rules.threshold import (
    BandState,
    ThresholdState,
    evaluate_threshold,
    sweep_threshold,
)
from vigil.rules.trend import evaluate_trend


class RuleState(BaseModel):
    """Rule evaluation state that must survive between readings, per patient (JSONB)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    # By rule key ("threshold:spo2").
    thresholds: dict[str, ThresholdState] = Field(default_factory=dict)


def equivalent(a: RuleState, b: RuleState) -> bool:
    """Equal but for quiet bands, which a stored state may leave out (a band missing from a
    ThresholdState is a quiet one wherever states are read): nothing to store."""
    if a == b:
        return True
    if a.thresholds.keys() != b.thresholds.keys():
        return False
    quiet = BandState()
    for key, x in a.thresholds.items():
        y = b.thresholds[key]
        if (x.last_at, x.last_value) != (y.last_at, y.last_value):
            return False
        if {k: v for k, v in x.bands.items() if v != quiet} != {
                k: v for k, v in y.bands.items() if v != quiet}:
            return False
    return True


@dataclass(frozen=True, slots=True)
class HistoryNeed:
    """Trusted readings of one metric to pass as history: those measured within `window`
    before the earliest reading of the batch -- or, when `latest_only`, just the newest one
    measured in that window (NEWS2 only ever looks at the latest value)."""

    window: timedelta
    latest_only: bool


@dataclass(frozen=True, slots=True)
class EngineResult:
    evaluations: list[Evaluation]
    state: RuleState


def required_history(ruleset: RuleSet) -> dict[Metric, HistoryNeed]:
    """Which stored trusted readings, per metric, the stateless rules need as `history`."""
    needs: dict[Metric, HistoryNeed] = {}

    def need(metric: Metric, span: timedelta, latest_only: bool) -> None:
        old = needs.get(metric)
        if old is None:
            needs[metric] = HistoryNeed(span, latest_only)
        else:
            needs[metric] = HistoryNeed(max(span, old.window), latest_only and old.latest_only)

    for rule in ruleset.trends.values():
        need(rule.metric, rule.longest_window, False)
    if ruleset.bp_average is not None:
        # Whole calendar days in the patient's zone, plus one for zone offsets.
        for metric in BP_METRICS:
            need(metric, timedelta(days=ruleset.bp_average.window_days + 1), False)
    if ruleset.news2 is not None:
        for metric in NEWS2_METRICS:
            need(metric, ruleset.news2.window, True)
    return needs


def _late(evaluation: Evaluation, now: datetime, late_after: timedelta) -> Evaluation:
    if evaluation.late or now - evaluation.at <= late_after:
        return evaluation
    return evaluation.model_copy(update={"late": True})


def evaluate_readings(
    ruleset: RuleSet,
    readings: Iterable[Observation],
    *,
    state: RuleState | None,
    history: Iterable[Observation] = (),
    now: datetime,
    consciousness: str | None = None,
    on_oxygen: bool | None = None,
) -> EngineResult:
    """Evaluate newly stored readings of one patient, in measurement order.

    `now` is the evaluation clock: evidence measured more than `ruleset.late_after` before it
    is late (recorded, never paged), as is anything with origin "late". `consciousness` and
    `on_oxygen` are the latest recorded ACVPU and oxygen use, for NEWS2.
    """
    require_aware("now", now)
    batch = sorted(readings, key=lambda r: r.measured_at)
    # The whole batch joins the history first, so a reading is judged alongside everything
    # measured up to its time -- whether or not the caller's history already held the batch.
    past = History(history)
    for obs in batch:
        past.add(obs)
    thresholds = dict((state or RuleState()).thresholds)
    evaluations: list[Evaluation] = []
    for obs in batch:
        t = obs.measured_at
        found: list[Evaluation] = []
        threshold = ruleset.thresholds.get(obs.metric)
        if threshold is not None:
            step = evaluate_threshold(threshold, thresholds.get(threshold.rule_key), obs)
            thresholds[threshold.rule_key] = step.state
            found += step.evaluations
        trend = ruleset.trends.get(obs.metric)
        if trend is not None:
            window = past.between(obs.metric, t - trend.longest_window, t)
            found.append(evaluate_trend(trend, window, obs))
        if ruleset.bp_average is not None and obs.metric in BP_METRICS:
            span = timedelta(days=ruleset.bp_average.window_days + 1)
            window = [r for m in BP_METRICS for r in past.between(m, t - span, t)]
            found.append(evaluate_bp_average(ruleset.bp_average, window, obs))
        if ruleset.news2 is not None and obs.metric in NEWS2_METRICS:
            latest = [past.latest(m, t) for m in NEWS2_METRICS]
            found.append(evaluate_news2(
                ruleset.news2, [r for r in latest if r is not None], obs,
                consciousness=consciousness, on_oxygen=on_oxygen,
            ))
        evaluations += [_late(ev, now, ruleset.late_after) for ev in found]
    # Forget the state of rules the patient no longer has.
    keys = {rule.rule_key for rule in ruleset.thresholds.values()}
    kept = {key: value for key, value in thresholds.items() if key in keys}
    return EngineResult(evaluations, RuleState(thresholds=kept))


def sweep(
    ruleset: RuleSet,
    *,
    state: RuleState | None,
    now: datetime,
    monitoring_started_at: datetime,
    last_reading_at: Mapping[Metric, datetime],
    gateway: GatewayPresence,
    devices: Mapping[Metric, DevicePresence],
) -> EngineResult:
    """Time-driven evaluations for one patient: breach runs that ended in silence, and
    missing data per the expected schedules. `last_reading_at` is the newest measured_at per
    metric (any origin, questionable or not: a questionable reading still shows the device
    works); `devices` is the presence of the device that provides each metric."""
    require_aware("now", now)
    thresholds = dict((state or RuleState()).thresholds)
    evaluations: list[Evaluation] = []
    for rule in ruleset.thresholds.values():
        current = thresholds.get(rule.rule_key)
        if current is None:
            continue
        step = sweep_threshold(rule, current, now=now)
        thresholds[rule.rule_key] = step.state
        evaluations += [_late(ev, now, ruleset.late_after) for ev in step.evaluations]
    for schedule in ruleset.missing.values():
        evaluations.append(evaluate_missing(
            schedule, now=now, last_reading_at=last_reading_at.get(schedule.metric),
            monitoring_started_at=monitoring_started_at, gateway=gateway,
            device=devices.get(schedule.metric, DevicePresence()),
        ))
    return EngineResult(evaluations, RuleState(thresholds=thresholds))
