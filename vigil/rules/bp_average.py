"""Home blood pressure averages after NICE NG136 (Hypertension in adults, 2019, updated 2023).

NG136 1.2.x: home monitoring for at least 4 days (ideally 7), readings twice daily; discard
the first day and average all the remaining readings. Average >= 135/85 is stage 1
hypertension, >= 150/95 stage 2; a clinic BP of 180 systolic or 120 diastolic or more is
severe hypertension.

What this implements, and where it simplifies (so nobody mistakes it for a diagnosis):
- A rolling window of the patient's last `window_days` calendar days (in `timezone`) up to the
  reading being evaluated, rather than one discrete monitoring episode. NICE discards the first
  day of an episode because of the alerting reaction to starting; here the first day *with
  readings* in the window is discarded, which is exact for a new episode and merely consistent
  arithmetic once monitoring rolls on.
- At least `min_days` (4) calendar days with trusted readings, counting the discarded day.
- The mean of all trusted readings of the remaining days, systolic and diastolic separately
  (not a mean of daily means), rounded half-up to whole mmHg before comparison. The protocol
  itself (seated, two readings a minute apart, morning and evening) is not verified.
- Either pressure at or over a stage's figure reaches that stage (NICE's "X/Y or higher").
- Clinic thresholds are not used. The severe limit (180/120) is NICE's clinic figure, applied
  here to every single trusted home reading as an immediate high alert -- a safety net, not
  a diagnosis of severe hypertension.
- Questionable readings (cuff too loose, body movement...) are left out of everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from vigil.metrics import Metric
from vigil.news2 import round_half_up
from vigil.rules.config import BpAverageRule
from vigil.rules.evaluation import Evaluation, Severity, Status, highest
from vigil.rules.observation import Observation

BP_METRICS = (Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP)


def _mean(values: list[float]) -> Decimal | None:
    if not values:
        return None
    return round_half_up(sum(values) / len(values), 0)


def _fmt(value: Decimal | None) -> str:
    return "-" if value is None else str(value)


def evaluate_bp_average(
    rule: BpAverageRule, readings: Sequence[Observation], obs: Observation
) -> Evaluation:
    """Judge a systolic or diastolic reading: severe at once, else the window's average.

    `readings` should hold the trusted BP readings of the last `window_days` + 1 days (other
    metrics, questionable readings, later readings and `obs` itself are filtered or deduplicated).
    """
    if obs.metric not in BP_METRICS:
        raise ValueError(f"{rule.rule_key} cannot evaluate a {obs.metric.value} reading")

    def result(status: Status, reason: str, severity: Severity | None = None) -> Evaluation:
        return Evaluation(
            rule_key=rule.rule_key, metric=obs.metric, status=status, severity=severity,
            at=obs.measured_at, value=obs.value, reason=reason, late=obs.late,
            auto_resolve=rule.auto_resolve, questionable=obs.questionable,
        )

    if obs.questionable:
        flags = ", ".join(obs.questionable_flags)
        return result(Status.UNCHANGED, f"questionable reading ({flags}): not used")

    value = round_half_up(obs.value, 0)
    is_systolic = obs.metric is Metric.SYSTOLIC_BP
    severe = rule.severe.reached(value if is_systolic else None, None if is_systolic else value)

    zone = rule.zone
    t = obs.measured_at
    today = t.astimezone(zone).date()
    first_day = today - timedelta(days=rule.window_days - 1)
    seen: set[tuple[object, ...]] = set()
    by_day: dict[date, list[Observation]] = {}
    for r in [*readings, obs]:
        if r.metric not in BP_METRICS or r.questionable or r.measured_at > t or r.key in seen:
            continue
        day = r.measured_at.astimezone(zone).date()
        if first_day <= day <= today:
            seen.add(r.key)
            by_day.setdefault(day, []).append(r)

    days = sorted(by_day)
    average = ""
    stage: Severity | None = None
    cleared = False
    if len(days) < rule.min_days:
        average = (
            f"{len(days)} day(s) of readings in the last {rule.window_days}; "
            f"averages need {rule.min_days}"
        )
    else:
        kept = days[1:] if rule.discard_first_day else days
        used = [r for day in kept for r in by_day[day]]
        sys_mean = _mean([r.value for r in used if r.metric is Metric.SYSTOLIC_BP])
        dia_mean = _mean([r.value for r in used if r.metric is Metric.DIASTOLIC_BP])
        discarded = f", first day {days[0]} discarded" if rule.discard_first_day else ""
        average = (
            f"home average {_fmt(sys_mean)}/{_fmt(dia_mean)} over {len(kept)} day(s) "
            f"({len(used)} readings{discarded})"
        )
        if rule.stage2.reached(sys_mean, dia_mean):
            stage = rule.stage2.severity
            average += f" >= {rule.stage2.systolic:g}/{rule.stage2.diastolic:g} (stage 2)"
        elif rule.stage1.reached(sys_mean, dia_mean):
            stage = rule.stage1.severity
            average += f" >= {rule.stage1.systolic:g}/{rule.stage1.diastolic:g} (stage 1)"
        else:
            cleared = True
            average += f" below {rule.stage1.systolic:g}/{rule.stage1.diastolic:g}"

    if severe:
        limit = rule.severe.systolic if is_systolic else rule.severe.diastolic
        reason = (
            f"severe: {obs.metric.value} {value} >= {limit:g} in a single reading; {average}"
        )
        severities = [rule.severe.severity, *([stage] if stage else [])]
        return result(Status.BREACH, reason, highest(severities))
    if stage is not None:
        return result(Status.BREACH, average, stage)
    if cleared:
        return result(Status.CLEAR, average)
    return result(Status.UNCHANGED, average)
