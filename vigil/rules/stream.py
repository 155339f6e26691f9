"""The data path: one patient's newly stored readings straight to the alert transitions to
write, fast enough for continuous streams.

`evaluate_stream(compiled, readings, ...)` returns what

    result = evaluate_readings(ruleset, readings, state=..., history=..., now=..., ...)
    transitions = collapse_updates(decide_all(alerts, result.evaluations, now=now))

returns -- the same transitions, evaluations, reasons and rule state -- at a fraction of the
cost (tests/vigil/rules/test_rules_stream.py checks that on random streams). It gets there by
not doing what cannot matter:
- threshold rules run compiled (vigil.rules.compiled): float comparisons on tuples, the usual
  in-range reading decided with two of them;
- NEWS2 walks the timeline once (vigil.rules.news2_stream) instead of looking up the latest
  of six parameters and building a scored input set per reading;
- an evaluation is built (reason text, pydantic model) only when it changes an alert, and of
  a run of evidence-only updates only the last is built (vigil.rules.ledger);
- trends and blood pressure averages -- a few readings a day -- run as in the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from vigil.metrics import Metric
from vigil.rules.bp_average import BP_METRICS, evaluate_bp_average
from vigil.rules.compiled import CompiledThreshold, FastState, Verdict
from vigil.rules.config import BpAverageRule, News2Rule, RuleSet, TrendRule
from vigil.rules.engine import RuleState
from vigil.rules.evaluation import Evaluation, Status
from vigil.rules.history import History
from vigil.rules.ledger import AlertLedger
from vigil.rules.lifecycle import AlertState, Transition
from vigil.rules.news2_rule import NEWS2_METRICS, evaluate_news2
from vigil.rules.news2_stream import News2Stream, Unscorable
from vigil.rules.observation import Observation, require_aware
from vigil.rules.threshold import ThresholdState, evaluate_threshold
from vigil.rules.trend import evaluate_trend


@dataclass(frozen=True, slots=True)
class CompiledRuleSet:
    """A RuleSet prepared once for `evaluate_stream` (cache it with the rule set)."""

    ruleset: RuleSet
    thresholds: dict[Metric, CompiledThreshold]
    by_key: dict[str, CompiledThreshold]
    trends: dict[Metric, TrendRule]
    bp_average: BpAverageRule | None
    news2: News2Rule | None
    late_after: timedelta

    @classmethod
    def of(cls, ruleset: RuleSet) -> CompiledRuleSet:
        thresholds = {m: CompiledThreshold.of(rule) for m, rule in ruleset.thresholds.items()}
        return cls(ruleset, thresholds, {c.rule_key: c for c in thresholds.values()},
                   dict(ruleset.trends), ruleset.bp_average, ruleset.news2, ruleset.late_after)


@dataclass(frozen=True, slots=True)
class StreamResult:
    # Only the transitions kept by collapse_updates, in decision order.
    transitions: list[Transition]
    state: RuleState


def _late(ev: Evaluation, cutoff: datetime) -> Evaluation:
    # As vigil.rules.engine marks evidence older than the rule set's late_after.
    if ev.late or not ev.at < cutoff:
        return ev
    return ev.model_copy(update={"late": True})


def evaluate_stream(
    compiled: CompiledRuleSet,
    readings: Iterable[Observation],
    *,
    state: RuleState | None,
    history: Iterable[Observation] = (),
    alerts: Mapping[str, AlertState],
    now: datetime,
    consciousness: str | None = None,
    on_oxygen: bool | None = None,
) -> StreamResult:
    """Evaluate newly stored readings of one patient and decide their alert transitions
    against `alerts` (the live alerts by rule key), as described in the module docstring."""
    require_aware("now", now)
    batch = sorted(readings, key=_measured_at)
    history = list(history)
    ledger = AlertLedger(alerts, now=now, late_after=compiled.late_after)
    cutoff = ledger.cutoff
    metrics = {obs.metric for obs in batch}

    past: History | None = None
    if metrics & compiled.trends.keys() or (
        compiled.bp_average is not None and not metrics.isdisjoint(BP_METRICS)
    ):
        past = History(history)
        for obs in batch:
            past.add(obs)
    news2: News2Stream | None = None
    if compiled.news2 is not None and not metrics.isdisjoint(NEWS2_METRICS):
        news2 = News2Stream(compiled.news2, history, batch, consciousness=consciousness,
                            on_oxygen=on_oxygen)

    thresholds: dict[str, ThresholdState | FastState] = dict((state or RuleState()).thresholds)
    for obs in batch:
        metric, t = obs.metric, obs.measured_at
        threshold = compiled.thresholds.get(metric)
        if threshold is not None:
            _threshold(threshold, thresholds, obs, ledger)
        if past is not None:
            trend = compiled.trends.get(metric)
            if trend is not None:
                window = past.between(metric, t - trend.longest_window, t)
                ledger.offer_evaluation(_late(evaluate_trend(trend, window, obs), cutoff))
            bp = compiled.bp_average
            if bp is not None and metric in BP_METRICS:
                span = timedelta(days=bp.window_days + 1)
                window = [r for m in BP_METRICS for r in past.between(m, t - span, t)]
                ledger.offer_evaluation(_late(evaluate_bp_average(bp, window, obs), cutoff))
        if news2 is not None and metric in NEWS2_METRICS and not obs.questionable:
            _news2(news2, obs, ledger, consciousness, on_oxygen)

    kept: dict[str, ThresholdState] = {}
    for key, value in thresholds.items():
        compiled_rule = compiled.by_key.get(key)
        if compiled_rule is not None:
            kept[key] = compiled_rule.model(value) if isinstance(value, FastState) else value
    return StreamResult(ledger.transitions(), RuleState.model_construct(thresholds=kept))


def _threshold(rule: CompiledThreshold, thresholds: dict[str, ThresholdState | FastState],
               obs: Observation, ledger: AlertLedger) -> None:
    key = rule.rule_key
    current = thresholds.get(key)
    if obs.questionable:  # unchanged: stored, not used
        if current is None:
            thresholds[key] = ThresholdState()
        return
    if isinstance(current, FastState):
        fast = current
    else:
        fast = rule.fast(current or ThresholdState())
    t, v = obs.measured_at, obs.value
    if fast.last_at is not None and t < fast.last_at:
        _offer_threshold(rule, current, obs, rule.out_of_order(t, v), ledger)
        return
    thresholds[key], verdicts = rule.step(fast, t, v)
    for verdict in verdicts:
        _offer_threshold(rule, current, obs, verdict, ledger)


def _offer_threshold(rule: CompiledThreshold, before: ThresholdState | FastState | None,
                     obs: Observation, verdict: Verdict, ledger: AlertLedger) -> None:
    status = verdict.status
    if status is Status.CLEAR and not ledger.live(rule.rule_key):
        return
    if status is not Status.BREACH and status is not Status.CLEAR:
        return
    late = ledger.late(verdict.at, obs.late)

    def build() -> Evaluation:
        state = rule.model(before) if isinstance(before, FastState) else before
        ev = evaluate_threshold(rule.rule, state, obs).evaluations[verdict.index]
        return ev.model_copy(update={"late": True}) if late and not ev.late else ev

    ledger.offer(rule.rule_key, status, verdict.severity, verdict.at, verdict.value, late=late,
                 auto_resolve=rule.auto_resolve, build=build)


def _news2(stream: News2Stream, obs: Observation, ledger: AlertLedger,
           consciousness: str | None, on_oxygen: bool | None) -> None:
    stream.advance(obs.measured_at)
    rule = stream.rule
    try:
        status, severity = stream.verdict(obs)
    except Unscorable:
        # A value or context NEWS2 refuses: evaluate_news2 raises as in the engine.
        evaluate_news2(rule, stream.latest(), obs, consciousness=consciousness,
                       on_oxygen=on_oxygen)
        raise AssertionError("evaluate_news2 accepted what News2Stream refused") from None
    if status is Status.CLEAR and not ledger.live(rule.rule_key):
        return
    if status is not Status.BREACH and status is not Status.CLEAR:
        return
    readings = stream.latest()

    def build() -> Evaluation:
        ev = evaluate_news2(rule, readings, obs, consciousness=consciousness,
                            on_oxygen=on_oxygen)
        return _late(ev, ledger.cutoff)

    ledger.offer(rule.rule_key, status, severity, obs.measured_at, obs.value,
                 late=ledger.late(obs.measured_at, obs.late), auto_resolve=rule.auto_resolve,
                 build=build)


def _measured_at(obs: Observation) -> datetime:
    return obs.measured_at
