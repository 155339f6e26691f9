"""The data path: one patient's newly stored readings straight to the alert transitions to
write, fast enough for continuous streams.

`evaluate_stream(compiled, readings, ...)` returns what

    result = evaluate_readings(ruleset, readings, state=..., history=..., now=..., ...)
    transitions = collapse_updates(decide_all(alerts, result.evaluations, now=now))

returns -- the same transitions, evaluations, reasons and rule state -- at a fraction of the
cost (tests/vigil/rules/test_rules_stream.py checks that on random streams). It gets there by
not doing what cannot matter:
- threshold rules run compiled (vigil.rules.compiled): float comparisons on tuples. Each rule
  sees only its own metric, so it runs metric by metric, and the stream's usual case -- a
  run of flawless in-order readings inside every limit, nothing raised or building, no live
  alert -- is decided for the whole run with two comparisons a reading;
- NEWS2 is not evaluated at all when none of the values at hand can make a breach and no
  NEWS2 alert is live (`cannot_breach`); otherwise it walks the timeline once
  (vigil.rules.news2_stream) instead of looking up the latest of six parameters and
  building a scored input set per reading;
- an evaluation is built (reason text, pydantic model) only when it changes an alert, and of
  a run of evidence-only updates only the last is built (vigil.rules.ledger);
- trends and blood pressure averages -- a few readings a day -- run as in the engine;
- readings may be validated Readings as they are (`Sample`): no Observation per reading.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from operator import attrgetter

from vigil.messages import Origin
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
from vigil.rules.news2_stream import News2Stream, Unscorable, cannot_breach
from vigil.rules.observation import Sample, observation_of, questionable, require_aware
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


class StreamState:
    """RuleState as evaluate_stream keeps it between flushes: threshold states in compiled
    form, so a patient's next flush starts where this one ended without converting anything.
    `model()` is the RuleState; `json()` its JSON, written without building it."""

    __slots__ = ("thresholds",)

    def __init__(self, thresholds: dict[str, ThresholdState | FastState]) -> None:
        self.thresholds = thresholds

    @classmethod
    def of(cls, state: RuleState | StreamState | None) -> StreamState:
        if isinstance(state, StreamState):
            return state
        return cls(dict((state or RuleState()).thresholds))

    def model(self) -> RuleState:
        return RuleState.model_construct(thresholds={
            key: value.model() if isinstance(value, FastState) else value
            for key, value in self.thresholds.items()})

    def json(self) -> str:
        """JSON that RuleState.model_validate_json reads back as `model()`, but for quiet
        bands, which it leaves out (see FastState.json)."""
        parts = [
            f"{value.rule.json_rule_key}:{value.json()}" if isinstance(value, FastState)
            else f"{json.dumps(key)}:{value.model_dump_json()}"
            for key, value in self.thresholds.items()
        ]
        return '{"v":1,"thresholds":{' + ",".join(parts) + "}}"


@dataclass(frozen=True, slots=True)
class StreamResult:
    # Only the transitions kept by collapse_updates, in decision order.
    transitions: list[Transition]
    stream_state: StreamState
    # False when the state is the one passed in (nothing to store).
    changed: bool

    @property
    def state(self) -> RuleState:
        return self.stream_state.model()


def _late(ev: Evaluation, cutoff: datetime) -> Evaluation:
    # As vigil.rules.engine marks evidence older than the rule set's late_after.
    if ev.late or not ev.at < cutoff:
        return ev
    return ev.model_copy(update={"late": True})


def evaluate_stream(
    compiled: CompiledRuleSet,
    readings: Iterable[Sample],
    *,
    state: RuleState | StreamState | None,
    history: Iterable[Sample] = (),
    alerts: Mapping[str, AlertState],
    now: datetime,
    consciousness: str | None = None,
    on_oxygen: bool | None = None,
) -> StreamResult:
    """Evaluate newly stored readings of one patient and decide their alert transitions
    against `alerts` (the live alerts by rule key), as described in the module docstring.
    Readings may be Observations or validated Readings as they are (vigil.rules.Sample)."""
    require_aware("now", now)
    batch = sorted(readings, key=_MEASURED_AT)
    history = list(history)
    ledger = AlertLedger(alerts, now=now, late_after=compiled.late_after)
    cutoff = ledger.cutoff
    metrics = {obs.metric for obs in batch}

    past: History | None = None
    if metrics & compiled.trends.keys() or (
        compiled.bp_average is not None and not metrics.isdisjoint(BP_METRICS)
    ):
        past = History(observation_of(r) for r in history)
        for obs in batch:
            past.add(observation_of(obs))
    news2: News2Stream | None = None
    if (
        compiled.news2 is not None and not metrics.isdisjoint(NEWS2_METRICS)
        and (compiled.news2.rule_key in ledger.live_keys or not cannot_breach(
            compiled.news2, chain(history, batch), consciousness=consciousness,
            on_oxygen=on_oxygen))
    ):
        news2 = News2Stream(compiled.news2, history, batch, consciousness=consciousness,
                            on_oxygen=on_oxygen)

    before = StreamState.of(state).thresholds
    thresholds = dict(before)
    # Each threshold rule sees only its own metric's readings, in time order, so it runs
    # metric by metric; the ledger orders what it decides by each evaluation's place in
    # the engine's sequence (reading index, then threshold, trend, average, NEWS2).
    groups: dict[Metric, list[Sample]] = {}
    for obs in batch:
        if obs.metric in compiled.thresholds:
            groups.setdefault(obs.metric, []).append(obs)
    index: dict[int, int] | None = None
    for metric, group in groups.items():
        rule = compiled.thresholds[metric]
        if _calm(rule, thresholds, group, ledger):
            last = group[-1]
            thresholds[rule.rule_key] = FastState(rule, last.measured_at, last.value, rule.quiet)
            continue
        if index is None:
            index = {id(obs): i for i, obs in enumerate(batch)}
        for obs in group:
            _threshold(rule, thresholds, obs, ledger, index[id(obs)] * _SLOTS)
    if past is not None or news2 is not None:
        for i, obs in enumerate(batch):
            metric, t = obs.metric, obs.measured_at
            order = i * _SLOTS
            if past is not None:
                trend = compiled.trends.get(metric)
                if trend is not None:
                    window = past.between(metric, t - trend.longest_window, t)
                    ledger.offer_evaluation(
                        _late(evaluate_trend(trend, window, observation_of(obs)), cutoff),
                        order + _TREND)
                bp = compiled.bp_average
                if bp is not None and metric in BP_METRICS:
                    span = timedelta(days=bp.window_days + 1)
                    window = [r for m in BP_METRICS for r in past.between(m, t - span, t)]
                    ledger.offer_evaluation(
                        _late(evaluate_bp_average(bp, window, observation_of(obs)), cutoff),
                        order + _BP_AVERAGE)
            if news2 is not None and metric in NEWS2_METRICS and not questionable(obs):
                news2.advance(t)
                _news2(news2, obs, ledger, consciousness, on_oxygen, order + _NEWS2)

    # Forget the state of rules the patient no longer has.
    kept = {key: value for key, value in thresholds.items() if key in compiled.by_key}
    changed = kept.keys() != before.keys() or any(
        value is not before[key] for key, value in kept.items())
    return StreamResult(ledger.transitions(), StreamState(kept) if changed
                        else StreamState.of(state), changed)


# Places of a reading's evaluations in the engine's sequence: threshold (a run that ended in
# silence, then the reading's own), trend, blood pressure average, NEWS2.
_SLOTS, _TREND, _BP_AVERAGE, _NEWS2 = 8, 2, 3, 4


def _calm(rule: CompiledThreshold, thresholds: dict[str, ThresholdState | FastState],
          group: list[Sample], ledger: AlertLedger) -> bool:
    """The stream's usual case, decided for a whole run of readings at once: nothing raised
    or building, no live alert, and every reading flawless, in order and inside every limit.
    Each would be a clear that changes nothing but the last reading."""
    current = thresholds.get(rule.rule_key)
    if rule.rule_key in ledger.live_keys:
        return False
    if type(current) is not FastState:
        if isinstance(current, ThresholdState) and current.bands:
            return False  # let _threshold convert it (rare: once per parsed state)
        current = rule.fast(current)
    if current.bands is not rule.quiet:
        return False
    if current.last_at is not None and group[0].measured_at < current.last_at:
        return False
    floor, ceiling = rule.floor, rule.ceiling
    return all(not obs.quality and floor <= obs.value <= ceiling for obs in group)


def _threshold(rule: CompiledThreshold, thresholds: dict[str, ThresholdState | FastState],
               obs: Sample, ledger: AlertLedger, order: int) -> None:
    key = rule.rule_key
    current = thresholds.get(key)
    if questionable(obs):  # unchanged: stored, not used
        if current is None:
            thresholds[key] = ThresholdState()
        return
    fast = rule.fast(current)
    t, v = obs.measured_at, obs.value
    if fast.last_at is not None and t < fast.last_at:
        _offer_threshold(rule, current, obs, rule.out_of_order(t, v), ledger, order + 1)
        return
    thresholds[key], verdicts = rule.step(fast, t, v)
    for verdict in verdicts:
        _offer_threshold(rule, current, obs, verdict, ledger, order + verdict.index)


def _offer_threshold(rule: CompiledThreshold, before: ThresholdState | FastState | None,
                     obs: Sample, verdict: Verdict, ledger: AlertLedger, order: int) -> None:
    status = verdict.status
    if status is Status.CLEAR and rule.rule_key not in ledger.live_keys:
        return
    if status is not Status.BREACH and status is not Status.CLEAR:
        return
    late = ledger.late(verdict.at, obs.origin is Origin.LATE)

    def build() -> Evaluation:
        state = before.model() if isinstance(before, FastState) else before
        ev = evaluate_threshold(rule.rule, state, observation_of(obs)).evaluations[verdict.index]
        return ev.model_copy(update={"late": True}) if late and not ev.late else ev

    ledger.offer(rule.rule_key, status, verdict.severity, verdict.at, verdict.value, late=late,
                 auto_resolve=rule.auto_resolve, build=build, order=order)


def _news2(stream: News2Stream, obs: Sample, ledger: AlertLedger,
           consciousness: str | None, on_oxygen: bool | None, order: int) -> None:
    """After stream.advance(obs.measured_at)."""
    rule = stream.rule
    try:
        status, severity = stream.verdict(obs)
    except Unscorable:
        # A value or context NEWS2 refuses: evaluate_news2 raises as in the engine.
        evaluate_news2(rule, [observation_of(r) for r in stream.latest()], observation_of(obs),
                       consciousness=consciousness, on_oxygen=on_oxygen)
        raise AssertionError("evaluate_news2 accepted what News2Stream refused") from None
    if status is Status.UNCHANGED or status is Status.PENDING or (
        status is Status.CLEAR and rule.rule_key not in ledger.live_keys
    ):
        return
    readings = stream.latest()

    def build() -> Evaluation:
        ev = evaluate_news2(rule, [observation_of(r) for r in readings], observation_of(obs),
                            consciousness=consciousness, on_oxygen=on_oxygen)
        return _late(ev, ledger.cutoff)

    ledger.offer(rule.rule_key, status, severity, obs.measured_at, obs.value,
                 late=ledger.late(obs.measured_at, obs.origin is Origin.LATE),
                 auto_resolve=rule.auto_resolve, build=build, order=order)


_MEASURED_AT: Callable[[Sample], datetime] = attrgetter("measured_at")
