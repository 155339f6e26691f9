"""Threshold rules with hysteresis and sustained breaches, one reading at a time.

Each limit of a rule is a band with its own state. A band *raises* once its breach has lasted
`sustain` (at once if `sustain` is 0 or the limit is `immediate`) and *clears* only when a
trusted reading is back inside the limit by the rule's `hysteresis` margin. The rule's
severity is the highest raised band. So SpO2 87 raises "< 88: high"; 89 keeps it (margin 2
needs 90); 90 clears it, leaving "< 92: medium" raised.

A breach *run* is the unbroken sequence of trusted breaching readings of one band. A trusted
reading inside the limit ends it; so does a silence longer than `max_gap`. A run that ends in
silence -- neither confirmed by `sustain` nor refuted by a good reading, e.g. a single
spot-check of 86 % -- is raised rather than forgotten: a missed hypoxaemia is the worse
hazard. `sweep_threshold` does that on the clock; `evaluate_threshold` does it when the next
reading arrives after the gap.

Questionable readings (any flag in vigil.quality.QUESTIONABLE) change nothing: they do not
start, extend or break a run, and they do not clear a band -- a motion artefact reading 99 %
must not resolve a desaturation any more than one reading 70 % may raise it.

Readings older than the state's last reading (out of order) cannot be placed in a run; they
are judged on their own for the record against limits that need no sustain, and leave the
state untouched.

The state (`ThresholdState`) is plain serialisable data. Ingest keeps one per patient and
rule key (in `RuleState`, as JSONB) and passes it back in with the next reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vigil.rules.config import Limit, ThresholdRule
from vigil.rules.evaluation import Evaluation, Severity, Status, highest
from vigil.rules.observation import Observation, require_aware


class BandState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    raised: bool = False
    # First reading of the current unbroken breach run, None when not breaching.
    breach_since: AwareDatetime | None = None


class ThresholdState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The last trusted, in-order reading applied.
    last_at: AwareDatetime | None = None
    last_value: float | None = None
    # By Limit.key, so editing a rule's limits drops or adds bands cleanly.
    bands: dict[str, BandState] = Field(default_factory=dict)


def _band(raised: bool, breach_since: datetime | None = None) -> BandState:
    # Built from values this module computed: no validation needed, and the two states every
    # quiet or settled band is in are shared.
    if breach_since is None:
        return _RAISED if raised else _QUIET
    return BandState.model_construct(raised=raised, breach_since=breach_since)


_QUIET = BandState()
_RAISED = BandState(raised=True)


@dataclass(frozen=True, slots=True)
class ThresholdStep:
    # Usually one; two when a run that ended in silence is raised before the new reading.
    evaluations: list[Evaluation]
    state: ThresholdState


def _evaluation(
    rule: ThresholdRule, status: Status, obs_at: datetime, value: float | None, reason: str,
    *, severity: Severity | None = None, late: bool = False, questionable: bool = False,
) -> Evaluation:
    return Evaluation(
        rule_key=rule.rule_key, metric=rule.metric, status=status, severity=severity,
        at=obs_at, value=value, reason=reason, late=late, auto_resolve=rule.auto_resolve,
        questionable=questionable,
    )


def _describe(rule: ThresholdRule, limits: list[Limit]) -> str:
    unit = rule.metric.value
    return ", ".join(
        f"{unit} {limit.op} {limit.value:g} ({limit.severity.value})" for limit in limits
    )


def _confirm_silent_runs(
    rule: ThresholdRule, state: ThresholdState, *, late: bool
) -> tuple[Evaluation | None, ThresholdState]:
    """Raise the bands whose run ended in silence; every run is broken by the gap."""
    confirmed: list[Limit] = []
    bands: dict[str, BandState] = {}
    for limit in rule.limits:
        band = state.bands.get(limit.key, _QUIET)
        if band.breach_since is not None and not band.raised:
            confirmed.append(limit)
            band = _RAISED
        else:
            band = _band(band.raised)
        bands[limit.key] = band
    new_state = state.model_copy(update={"bands": bands})
    if not confirmed or state.last_at is None:
        return None, new_state
    severity = highest([limit.severity for limit in _raised(rule, bands)])
    reason = (
        f"breach of {_describe(rule, confirmed)} not confirmed or refuted: no trusted reading "
        f"within {rule.max_gap} after {state.last_value:g} at {state.last_at.isoformat()}; "
        "raised rather than ignored"
    )
    evaluation = _evaluation(
        rule, Status.BREACH, state.last_at, state.last_value, reason, severity=severity, late=late
    )
    return evaluation, new_state


def _raised(rule: ThresholdRule, bands: dict[str, BandState]) -> list[Limit]:
    return [limit for limit in rule.limits if bands[limit.key].raised]


def evaluate_threshold(
    rule: ThresholdRule, state: ThresholdState | None, obs: Observation
) -> ThresholdStep:
    """Apply one reading of `rule.metric` to the rule's state."""
    if obs.metric is not rule.metric:
        raise ValueError(f"{rule.rule_key} cannot evaluate a {obs.metric.value} reading")
    state = state or ThresholdState()
    t, v = obs.measured_at, obs.value
    if obs.questionable:
        reason = (
            f"questionable reading {v:g} ({', '.join(obs.questionable_flags)}): "
            "stored, not used to open, raise or clear an alert"
        )
        return ThresholdStep(
            [_evaluation(rule, Status.UNCHANGED, t, v, reason, late=obs.late, questionable=True)],
            state,
        )
    if state.last_at is not None and t < state.last_at:
        return ThresholdStep([_out_of_order(rule, obs, state.last_at)], state)

    evaluations: list[Evaluation] = []
    if state.last_at is not None and t - state.last_at > rule.max_gap:
        silent, state = _confirm_silent_runs(rule, state, late=obs.late)
        if silent is not None:
            evaluations.append(silent)

    bands: dict[str, BandState] = {}
    pending: list[Limit] = []
    for limit in rule.limits:
        band = state.bands.get(limit.key, _QUIET)
        if limit.breached(v):
            since = band.breach_since or t
            sustained = limit.immediate or t - since >= rule.sustain
            band = _band(band.raised or sustained, since)
            if not band.raised:
                pending.append(limit)
        else:
            band = _band(band.raised and not limit.cleared(v, rule.hysteresis))
        bands[limit.key] = band
    new_state = ThresholdState.model_construct(last_at=t, last_value=v, bands=bands)

    raised = _raised(rule, bands)
    if raised:
        inside = [limit for limit in raised if not limit.breached(v)]
        reason = f"{v:g}: {_describe(rule, raised)}"
        if inside:
            reason += f"; inside {_describe(rule, inside)} but not yet by the margin"
            reason += f" {rule.hysteresis:g}"
        evaluations.append(_evaluation(
            rule, Status.BREACH, t, v, reason,
            severity=highest([limit.severity for limit in raised]), late=obs.late,
        ))
    elif pending:
        since = min(bands[limit.key].breach_since or t for limit in pending)
        reason = (
            f"{v:g}: {_describe(rule, pending)} for {t - since} so far, "
            f"counts after {rule.sustain}"
        )
        evaluations.append(_evaluation(
            rule, Status.PENDING, t, v, reason,
            severity=highest([limit.severity for limit in pending]), late=obs.late,
        ))
    else:
        reason = f"{v:g}: inside all limits"
        if state.bands and any(band.raised for band in state.bands.values()):
            reason += f" (by at least the hysteresis margin {rule.hysteresis:g})"
        evaluations.append(_evaluation(rule, Status.CLEAR, t, v, reason, late=obs.late))
    return ThresholdStep(evaluations, new_state)


def _out_of_order(rule: ThresholdRule, obs: Observation, last_at: datetime) -> Evaluation:
    t, v = obs.measured_at, obs.value
    judged = [
        limit for limit in rule.limits
        if limit.breached(v) and (limit.immediate or not rule.sustain)
    ]
    note = f"measured before the last evaluated reading ({last_at.isoformat()})"
    if judged:
        reason = f"{v:g}: {_describe(rule, judged)}; {note}, judged on its own for the record"
        return _evaluation(
            rule, Status.BREACH, t, v, reason,
            severity=highest([limit.severity for limit in judged]), late=obs.late,
        )
    reason = f"{v:g}: {note}; recorded, state unchanged"
    return _evaluation(rule, Status.UNCHANGED, t, v, reason, late=obs.late)


def sweep_threshold(
    rule: ThresholdRule, state: ThresholdState | None, *, now: datetime
) -> ThresholdStep:
    """On the clock: raise breach runs that ended in silence longer than `max_gap`."""
    require_aware("now", now)
    if state is None or state.last_at is None or now - state.last_at <= rule.max_gap:
        return ThresholdStep([], state or ThresholdState())
    evaluation, new_state = _confirm_silent_runs(rule, state, late=False)
    return ThresholdStep([] if evaluation is None else [evaluation], new_state)
