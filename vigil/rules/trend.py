"""Trend rules: how far a metric has moved within a window, e.g. heart-failure weight gain.

"Weight up more than 2 kg in 3 days" compares the new reading with a baseline taken from the
trusted readings measured in the window before it, [t - window, t). The default baseline is
the window's *extreme* -- its minimum for a rise (maximum for a fall): fluid gain that follows
a dip counts in full, and a high first reading cannot mask a rise. `baseline="earliest"`
compares with the first reading in the window instead (the literal "over 3 days").

The rule is stateless: the window's readings come from the database each time (so late
backfill is simply part of the history). Hysteresis is applied without state: a change
between `limit - hysteresis` and `limit` is UNCHANGED, so it neither opens an alert nor
clears one. Differences are computed in decimal, as the readings were written.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from vigil.rules.config import TrendLimit, TrendRule, exact
from vigil.rules.evaluation import Evaluation, Severity, Status, highest
from vigil.rules.observation import Observation


def _baseline(rule: TrendRule, candidates: list[Observation]) -> Observation:
    if rule.baseline == "earliest":
        return min(candidates, key=lambda r: r.measured_at)
    if rule.direction == "rise":
        return min(candidates, key=lambda r: (exact(r.value), r.measured_at))
    return max(candidates, key=lambda r: (exact(r.value), -r.measured_at.timestamp()))


def evaluate_trend(
    rule: TrendRule, readings: Sequence[Observation], obs: Observation
) -> Evaluation:
    """Judge reading `obs` against the earlier trusted readings of `rule.metric` in `readings`
    (which may hold other metrics, later readings, or `obs` itself; they are filtered)."""
    if obs.metric is not rule.metric:
        raise ValueError(f"{rule.rule_key} cannot evaluate a {obs.metric.value} reading")

    def result(status: Status, reason: str, severity: Severity | None = None) -> Evaluation:
        return Evaluation(
            rule_key=rule.rule_key, metric=rule.metric, status=status, severity=severity,
            at=obs.measured_at, value=obs.value, reason=reason, late=obs.late,
            auto_resolve=rule.auto_resolve, questionable=obs.questionable,
        )

    if obs.questionable:
        flags = ", ".join(obs.questionable_flags)
        return result(Status.UNCHANGED, f"questionable reading ({flags}): not used for trends")
    t = obs.measured_at
    trusted = [
        r for r in readings
        if r.metric is rule.metric and not r.questionable and r.measured_at < t
    ]
    breached: list[tuple[TrendLimit, Decimal, Observation]] = []
    in_margin: list[TrendLimit] = []
    judged: list[str] = []
    for limit in rule.limits:
        candidates = [r for r in trusted if r.measured_at >= t - limit.window]
        if not candidates:
            continue
        base = _baseline(rule, candidates)
        change = exact(obs.value) - exact(base.value)
        if rule.direction == "fall":
            change = -change
        judged.append(f"{rule.direction} {change} vs {base.value:g} at {base.measured_at:%F %R}")
        if change > exact(limit.change):
            breached.append((limit, change, base))
        elif change > exact(limit.change) - exact(rule.hysteresis):
            in_margin.append(limit)
    if not judged:
        return result(Status.UNCHANGED, "no earlier trusted reading within the window")
    if breached:
        parts = [
            f"{rule.direction} of {change} (> {limit.change:g}) within {limit.window} "
            f"against {base.value:g} at {base.measured_at.isoformat()}"
            for limit, change, base in breached
        ]
        severity = highest([limit.severity for limit, _, _ in breached])
        return result(Status.BREACH, f"{obs.value:g}: " + "; ".join(parts), severity)
    if in_margin:
        return result(
            Status.UNCHANGED,
            f"{obs.value:g}: {'; '.join(judged)} -- within the hysteresis margin "
            f"{rule.hysteresis:g} of a limit",
        )
    return result(Status.CLEAR, f"{obs.value:g}: {'; '.join(judged)} -- within limits")
