"""What a correct alert engine does about a scripted event: the rule keys it should raise.

Worked out from the patient's real rule set (``vigil.rules`` defaults for the condition, plus
any per-patient overrides) and the metrics the patient's devices actually measure: an event
is expected to raise ``threshold:<metric>`` when its peak breaches a limit of that rule,
``trend:<metric>`` when it moves the metric past a trend limit within the limit's window,
``bp_average`` when a single reading reaches the severe limit (the multi-day average itself is
a property of the whole record, not of one event), and ``news2`` when the peaks, with the other
measured parameters at baseline, score 5 or more or a single 3 (NEWS2 never needs the missing
parameters to reach that; see ``vigil.rules.news2_rule``).

Peaks are judged as written; an event whose peak sits right on a limit may or may not fire
with noise on top -- scenario authors keep peaks clear of limits, or state the alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from simulators.physiology.baselines import Baselines, Condition
from simulators.physiology.events import PRIMARY, Event
from vigil.metrics import Metric
from vigil.news2 import METRIC_PARAMETER, score
from vigil.rules import Condition as RuleProfile
from vigil.rules import RuleSet, ruleset_for
from vigil.rules.config import exact

# Rule-set profile per physiology condition (the rules have no diabetes profile yet).
RULE_PROFILE: dict[Condition, RuleProfile] = {
    Condition.GENERAL_ADULT: RuleProfile.GENERAL_ADULT,
    Condition.COPD: RuleProfile.COPD,
    Condition.HEART_FAILURE: RuleProfile.HEART_FAILURE,
    Condition.HYPERTENSION: RuleProfile.HYPERTENSION,
    Condition.DIABETES: RuleProfile.GENERAL_ADULT,
}


def rules_for(
    condition: Condition, overrides: Mapping[str, object] | None = None
) -> RuleSet:
    """The rule set Vigil would apply to a patient with this condition (and overrides)."""
    return ruleset_for(RULE_PROFILE[condition], overrides)


def _resting(baselines: Baselines) -> dict[Metric, float]:
    values = {m: float(getattr(baselines, m.value)) for m in PRIMARY}
    values[Metric.HEART_RATE] = values[Metric.PULSE_RATE]
    return values


def news2_fires(ruleset: RuleSet, values: Mapping[Metric, float]) -> bool:
    """Whether these latest values alone (others unknown) reach NEWS2's medium response."""
    rule = ruleset.news2
    if rule is None:
        return False
    by_parameter: dict[str, float] = {}
    for metric, parameter in METRIC_PARAMETER.items():
        if metric in values:
            by_parameter[parameter] = values[metric]
    result = score(
        respiration_rate=by_parameter.get("respiration_rate"),
        spo2=by_parameter.get("spo2"),
        spo2_scale=rule.spo2_scale,
        on_oxygen=rule.on_oxygen,
        systolic_bp=by_parameter.get("systolic_bp"),
        pulse=by_parameter.get("pulse"),
        consciousness=None,
        temperature=by_parameter.get("temperature"),
    )
    partial = sum(v for v in result.scores.values() if v is not None)
    return partial >= 5 or result.any_single_3


def event_alerts(
    event: Event,
    baselines: Baselines,
    ruleset: RuleSet,
    measured: Iterable[Metric] | None = None,
) -> frozenset[str]:
    """The rule keys this event should raise; the event's own ``expected_alerts`` wins."""
    if event.expected_alerts is not None:
        return event.expected_alerts
    seen = frozenset(Metric) if measured is None else frozenset(measured)
    resting = _resting(baselines)
    peaks = {m: v for m, v in event.peaks(baselines).items() if m in seen}
    keys: set[str] = set()
    for metric, value in peaks.items():
        rule = ruleset.thresholds.get(metric)
        if rule is not None and any(limit.breached(value) for limit in rule.limits):
            keys.add(rule.rule_key)
        trend = ruleset.trends.get(metric)
        if trend is not None and metric in resting:
            change = value - resting[metric]
            moved = change if trend.direction == "rise" else -change
            # The change within one window of the ramp (exact for the linear weight ramp).
            onset = event.onset_seconds
            if any(
                exact(moved * min(1.0, limit.window.total_seconds() / onset if onset else 1.0))
                > exact(limit.change)
                for limit in trend.limits
            ):
                keys.add(trend.rule_key)
    bp_rule = ruleset.bp_average
    if bp_rule is not None and {Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP} & peaks.keys():
        systolic = peaks.get(Metric.SYSTOLIC_BP, resting[Metric.SYSTOLIC_BP])
        diastolic = peaks.get(Metric.DIASTOLIC_BP, resting[Metric.DIASTOLIC_BP])
        if bp_rule.severe.reached(exact(round(systolic)), exact(round(diastolic))):
            keys.add(bp_rule.rule_key)
    if set(METRIC_PARAMETER) & peaks.keys():
        current = {m: v for m, v in resting.items() if m in seen} | peaks
        if news2_fires(ruleset, current):
            keys.add("news2")
    return frozenset(keys)
