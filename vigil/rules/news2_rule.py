"""The NEWS2 aggregate rule: the score of the latest fresh reading of each parameter.

Thresholds (RCP 2017 clinical response): total 7 or more -> high (emergency response); 5-6,
or 3 in any single parameter -> medium (urgent review); 1-4 -> low, only if `low_enabled`.

An incomplete set is never scored as if the missing values were normal. It still decides
when the missing values cannot change the answer: scores are never negative, so the sum of
the scores present is a lower bound of the total. A partial sum of 7 is high and a partial
sum of 5, or a single 3, is medium whatever is missing; anything else is UNCHANGED -- never
CLEAR, so missing data never resolves a NEWS2 alert.

Oxygen use and consciousness (ACVPU) are not device readings: the caller passes the latest
recorded values, else the rule's `on_oxygen`; consciousness left unknown makes the set
incomplete.

NEWS2 is a chart for spot observations and has no sustain: with a continuous oximeter, one
trusted SpO2 reading of 91 % is a single 3 (medium) at once, even while the SpO2 threshold
rule is still waiting out its sustain period. Questionable readings (PLX artefact flags) are
excluded, which removes most probe artefacts; the rest is accepted as the price of following
the chart.
"""

from __future__ import annotations

from collections.abc import Sequence

from vigil.news2 import METRIC_PARAMETER, News2Result, inputs_from_readings
from vigil.rules.config import News2Rule
from vigil.rules.evaluation import Evaluation, Severity, Status
from vigil.rules.observation import Observation

NEWS2_METRICS = frozenset(METRIC_PARAMETER)


def _severity(rule: News2Rule, total: int, any_single_3: bool) -> Severity | None:
    if total >= 7:
        return Severity.HIGH
    if total >= 5 or any_single_3:
        return Severity.MEDIUM
    if total >= 1 and rule.low_enabled:
        return Severity.LOW
    return None


def _summary(result: News2Result) -> str:
    scored = ", ".join(f"{k} {v}" for k, v in result.scores.items() if v is not None)
    return f"[{scored}]"


def evaluate_news2(
    rule: News2Rule,
    readings: Sequence[Observation],
    obs: Observation,
    *,
    consciousness: str | None = None,
    on_oxygen: bool | None = None,
) -> Evaluation:
    """Score NEWS2 as of `obs.measured_at` from the trusted readings measured up to then."""
    if obs.metric not in NEWS2_METRICS:
        raise ValueError(f"{rule.rule_key} cannot evaluate a {obs.metric.value} reading")

    def result(
        status: Status, reason: str, severity: Severity | None = None,
        news2: News2Result | None = None,
    ) -> Evaluation:
        return Evaluation(
            rule_key=rule.rule_key, metric=obs.metric, status=status, severity=severity,
            at=obs.measured_at, value=obs.value, reason=reason, late=obs.late,
            auto_resolve=rule.auto_resolve, questionable=obs.questionable, news2=news2,
        )

    if obs.questionable:
        flags = ", ".join(obs.questionable_flags)
        return result(Status.UNCHANGED, f"questionable reading ({flags}): not scored")
    t = obs.measured_at
    inputs = inputs_from_readings(
        (
            (r.metric, r.value, r.measured_at)
            for r in [*readings, obs]
            if r.metric in NEWS2_METRICS and not r.questionable and r.measured_at <= t
        ),
        now=t,
        window=rule.window,
        spo2_scale=rule.spo2_scale,
        on_oxygen=on_oxygen if on_oxygen is not None else rule.on_oxygen,
        consciousness=consciousness,
    )
    news2 = inputs.score()
    if news2.total is not None:
        severity = _severity(rule, news2.total, news2.any_single_3)
        reason = f"NEWS2 {news2.total} ({news2.risk}) {_summary(news2)}"
        if severity is None:
            return result(Status.CLEAR, reason, news2=news2)
        return result(Status.BREACH, reason, severity, news2)

    partial = news2.partial_total
    missing = ", ".join(news2.missing)
    stale = f" (stale: {', '.join(inputs.stale)})" if inputs.stale else ""
    severity = Severity.HIGH if partial >= 7 else None
    if severity is None and (partial >= 5 or news2.any_single_3):
        severity = Severity.MEDIUM
    if severity is None:
        reason = (
            f"NEWS2 incomplete, missing {missing}{stale}; "
            f"partial {partial} {_summary(news2)} -- not scored"
        )
        return result(Status.UNCHANGED, reason, news2=news2)
    reason = (
        f"NEWS2 at least {partial} from an incomplete set {_summary(news2)}, missing "
        f"{missing}{stale}: {severity.value} whatever the missing values"
    )
    return result(Status.BREACH, reason, severity, news2)
