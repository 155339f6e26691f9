"""Alert lifecycle as pure decisions: (alert state, evaluation or clock) -> transition.

One alert per patient and rule key is live at a time (open or acknowledged); a breach after
it is resolved opens a new one. While live:
- severity only rises; a rise re-pages, returns an acknowledged alert to open (the clinician
  acknowledged a lesser problem) and restarts escalation;
- a snooze never hides a rise: a rise while snoozed un-snoozes and re-pages; snooze expiry
  (on the clock) un-snoozes and re-pages too;
- an open alert not acknowledged within the policy's time for its severity escalates, up to
  `max_escalations` times, each measured from the last page; snoozed alerts do not escalate;
- a CLEAR resolves it only if the rule allows auto-resolution, recording the reason; evidence
  measured before the latest breach evidence never resolves it;
- late evidence (backfill) opens or raises alerts for the record with `page=False`, and such
  an alert never escalates until live evidence confirms the condition (CONFIRM_LIVE pages).

Clinician actions (`acknowledge`, `snooze`, `resolve`) are pure too and raise
`InvalidTransition` for impossible requests, so the API can answer 409 with the message.
Every Transition carries the alert state after it; persist it whenever `action` is not NO_OP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from vigil.rules.config import EscalationPolicy
from vigil.rules.evaluation import Evaluation, Severity, Status
from vigil.rules.observation import require_aware


class InvalidTransition(ValueError):
    """A clinician action that the alert's state does not allow."""


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_key: str
    status: AlertStatus = AlertStatus.OPEN
    severity: Severity
    # When the opening evidence was measured.
    opened_at: AwareDatetime
    updated_at: AwareDatetime
    # Measurement time of the newest breach evidence; older CLEARs cannot resolve.
    last_evidence_at: AwareDatetime
    last_value: float | None = None
    # Last time someone was paged for it; escalation is timed from here. None if never paged.
    paged_at: AwareDatetime | None = None
    acknowledged_at: AwareDatetime | None = None
    snoozed_until: AwareDatetime | None = None
    escalation_level: int = 0
    # Known only from late evidence so far: recorded, never paged, never escalated.
    late: bool = False
    resolved_at: AwareDatetime | None = None
    resolved_by: Literal["rule", "clinician"] | None = None
    resolution: str | None = None

    @property
    def live(self) -> bool:
        return self.status is not AlertStatus.RESOLVED

    def snoozed(self, now: datetime) -> bool:
        return self.snoozed_until is not None and now < self.snoozed_until


class Action(StrEnum):
    CREATE = "create"
    RAISE_SEVERITY = "raise_severity"
    UPDATE = "update"  # still breaching at or below its severity: latest evidence recorded
    CONFIRM_LIVE = "confirm_live"  # an alert known from late data is confirmed by live data
    AUTO_RESOLVE = "auto_resolve"
    UNSNOOZE = "unsnooze"
    ESCALATE = "escalate"
    NO_OP = "no_op"


class Transition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Action
    rule_key: str
    at: AwareDatetime  # decision time (the clock)
    reason: str
    page: bool = False
    severity: Severity | None = None
    previous_severity: Severity | None = None
    # The alert after the transition (the unchanged alert, or None, for NO_OP).
    state: AlertState | None = None
    evaluation: Evaluation | None = None


def _no_op(alert: AlertState | None, ev: Evaluation | None, rule_key: str,
           now: datetime, reason: str) -> Transition:
    severity = alert.severity if alert is not None and alert.live else None
    return Transition(action=Action.NO_OP, rule_key=rule_key, at=now, reason=reason,
                      severity=severity, previous_severity=severity, state=alert, evaluation=ev)


def decide(alert: AlertState | None, evaluation: Evaluation, *, now: datetime) -> Transition:
    """The transition an evaluation causes on the alert for its rule key (None if none)."""
    require_aware("now", now)
    ev, key = evaluation, evaluation.rule_key
    if alert is not None and alert.rule_key != key:
        raise ValueError(f"alert for {alert.rule_key} given an evaluation of {key}")
    if alert is None or not alert.live:
        if ev.status is not Status.BREACH or ev.severity is None:
            return _no_op(alert, ev, key, now, f"no live alert; {ev.status.value}: {ev.reason}")
        state = AlertState(
            rule_key=key, severity=ev.severity, opened_at=ev.at, updated_at=now,
            last_evidence_at=ev.at, last_value=ev.value,
            paged_at=now if ev.page else None, late=not ev.page,
        )
        note = "" if ev.page else " (late data: recorded, not paged)"
        return Transition(action=Action.CREATE, rule_key=key, at=now, page=ev.page,
                          severity=ev.severity, state=state, evaluation=ev,
                          reason=f"{ev.severity.value} alert opened{note}: {ev.reason}")

    if ev.status is Status.BREACH and ev.severity is not None:
        return _breach(alert, ev, now)
    if ev.status is Status.CLEAR:
        return _clear(alert, ev, now)
    return _no_op(alert, ev, key, now, f"{ev.status.value}: {ev.reason}")


def _breach(alert: AlertState, ev: Evaluation, now: datetime) -> Transition:
    assert ev.severity is not None
    key = alert.rule_key
    newer = ev.at >= alert.last_evidence_at
    evidence = {
        "last_evidence_at": ev.at if newer else alert.last_evidence_at,
        "last_value": ev.value if newer else alert.last_value,
        "updated_at": now,
    }
    if ev.severity.rank > alert.severity.rank:
        was_snoozed = alert.snoozed(now)
        update: dict[str, object] = {**evidence, "severity": ev.severity, "snoozed_until": None}
        if ev.page:
            update.update(status=AlertStatus.OPEN, acknowledged_at=None, escalation_level=0,
                          paged_at=now, late=False)
        state = alert.model_copy(update=update)
        notes = []
        if was_snoozed:
            notes.append("un-snoozed: a snooze never hides a rise")
        if ev.page and alert.status is AlertStatus.ACKNOWLEDGED:
            notes.append("back to open for acknowledgement")
        if not ev.page:
            notes.append("late data: recorded, not paged")
        note = f" ({'; '.join(notes)})" if notes else ""
        return Transition(
            action=Action.RAISE_SEVERITY, rule_key=key, at=now, page=ev.page,
            severity=ev.severity, previous_severity=alert.severity, state=state, evaluation=ev,
            reason=f"severity rose {alert.severity.value} -> {ev.severity.value}{note}: "
                   f"{ev.reason}",
        )
    if alert.late and ev.page:
        snoozed = alert.snoozed(now)
        state = alert.model_copy(update={
            **evidence, "late": False, "paged_at": alert.paged_at if snoozed else now,
        })
        note = " (snoozed: the page waits for the snooze to expire)" if snoozed else ""
        return Transition(
            action=Action.CONFIRM_LIVE, rule_key=key, at=now, page=not snoozed,
            severity=alert.severity, previous_severity=alert.severity, state=state,
            evaluation=ev, reason=f"condition known from late data confirmed live{note}: "
                                  f"{ev.reason}",
        )
    if not newer:
        return _no_op(alert, ev, key, now,
                      f"older breach evidence ({ev.at.isoformat()}) at or below "
                      f"{alert.severity.value}: {ev.reason}")
    state = alert.model_copy(update=evidence)
    return Transition(
        action=Action.UPDATE, rule_key=key, at=now, severity=alert.severity,
        previous_severity=alert.severity, state=state, evaluation=ev,
        reason=f"still breaching ({ev.severity.value}; alert stays {alert.severity.value}): "
               f"{ev.reason}",
    )


def _clear(alert: AlertState, ev: Evaluation, now: datetime) -> Transition:
    key = alert.rule_key
    if ev.at < alert.last_evidence_at:
        return _no_op(alert, ev, key, now,
                      f"clear evidence measured {ev.at.isoformat()} is older than the latest "
                      f"breach evidence {alert.last_evidence_at.isoformat()}: not resolving")
    if not ev.auto_resolve:
        return _no_op(alert, ev, key, now,
                      f"condition cleared, awaiting clinician (rule does not auto-resolve): "
                      f"{ev.reason}")
    resolution = f"auto-resolved: {ev.reason}"
    state = alert.model_copy(update={
        "status": AlertStatus.RESOLVED, "resolved_at": now, "resolved_by": "rule",
        "resolution": resolution, "snoozed_until": None, "updated_at": now,
    })
    return Transition(action=Action.AUTO_RESOLVE, rule_key=key, at=now, reason=resolution,
                      severity=alert.severity, previous_severity=alert.severity, state=state,
                      evaluation=ev)


def decide_all(
    alerts: Mapping[str, AlertState], evaluations: Sequence[Evaluation], *, now: datetime
) -> list[Transition]:
    """Decide evaluations in order, threading each rule key's alert from one to the next.

    Returns every non-NO_OP transition; the last `state` per rule key is what to persist.
    """
    current: dict[str, AlertState | None] = dict(alerts)
    transitions: list[Transition] = []
    for ev in evaluations:
        transition = decide(current.get(ev.rule_key), ev, now=now)
        if transition.action is not Action.NO_OP:
            transitions.append(transition)
            current[ev.rule_key] = transition.state
    return transitions


def collapse_updates(transitions: Sequence[Transition]) -> list[Transition]:
    """Drop the evidence-only updates that a later transition of the same rule key supersedes.

    Every transition carries the whole alert state, so the last one includes the evidence of
    the updates before it: of a run of updates only the last needs writing (one alert event
    per alert and flush rather than one per reading).
    """
    later: set[str] = set()
    kept: list[Transition] = []
    for t in reversed(transitions):
        if t.action is Action.UPDATE and t.rule_key in later:
            continue
        later.add(t.rule_key)
        kept.append(t)
    kept.reverse()
    return kept


def sweep_alert(alert: AlertState, *, now: datetime, policy: EscalationPolicy) -> Transition:
    """On the clock: snooze expiry first, then escalation of unacknowledged open alerts."""
    require_aware("now", now)
    key = alert.rule_key
    if not alert.live:
        return _no_op(alert, None, key, now, "resolved")
    if alert.snoozed_until is not None and now >= alert.snoozed_until:
        page = not alert.late
        state = alert.model_copy(update={
            "snoozed_until": None, "updated_at": now,
            "paged_at": now if page else alert.paged_at,
        })
        return Transition(action=Action.UNSNOOZE, rule_key=key, at=now, page=page,
                          severity=alert.severity, previous_severity=alert.severity, state=state,
                          reason=f"snooze expired at {alert.snoozed_until.isoformat()}")
    if alert.snoozed(now):
        return _no_op(alert, None, key, now, "snoozed")
    wait = _escalation_due(alert, now, policy)
    if wait is not None and alert.paged_at is not None:
        level = alert.escalation_level + 1
        state = alert.model_copy(update={
            "escalation_level": level, "paged_at": now, "updated_at": now,
        })
        return Transition(
            action=Action.ESCALATE, rule_key=key, at=now, page=True, severity=alert.severity,
            previous_severity=alert.severity, state=state,
            reason=f"{alert.severity.value} alert not acknowledged within {wait} of the page "
                   f"at {alert.paged_at.isoformat()}: escalation level {level}",
        )
    return _no_op(alert, None, key, now, "nothing due")


def sweep_due(alert: AlertState, *, now: datetime, policy: EscalationPolicy) -> bool:
    """Whether sweep_alert would do anything but a NO_OP, building nothing (the sweeper asks
    this of every live alert every round)."""
    if not alert.live:
        return False
    if alert.snoozed_until is not None and now >= alert.snoozed_until:
        return True
    return not alert.snoozed(now) and _escalation_due(alert, now, policy) is not None


def _escalation_due(alert: AlertState, now: datetime,
                    policy: EscalationPolicy) -> timedelta | None:
    """The policy's wait if an open, paged, unacknowledged alert is due to escalate."""
    wait = policy.ack_within.get(alert.severity)
    if (
        alert.status is AlertStatus.OPEN
        and not alert.late
        and alert.paged_at is not None
        and wait is not None
        and alert.escalation_level < policy.max_escalations
        and now >= alert.paged_at + wait
    ):
        return wait
    return None


def acknowledge(alert: AlertState, *, now: datetime) -> AlertState:
    require_aware("now", now)
    if alert.status is not AlertStatus.OPEN:
        raise InvalidTransition(f"cannot acknowledge a {alert.status.value} alert")
    return alert.model_copy(update={
        "status": AlertStatus.ACKNOWLEDGED, "acknowledged_at": now, "updated_at": now,
    })


def snooze(
    alert: AlertState, *, now: datetime, until: datetime, policy: EscalationPolicy
) -> AlertState:
    require_aware("now", now)
    require_aware("until", until)
    if not alert.live:
        raise InvalidTransition("cannot snooze a resolved alert")
    if until <= now:
        raise InvalidTransition(f"snooze must end in the future, not {until.isoformat()}")
    if until - now > policy.max_snooze:
        raise InvalidTransition(f"snooze longer than the allowed {policy.max_snooze}")
    return alert.model_copy(update={"snoozed_until": until, "updated_at": now})


def resolve(alert: AlertState, *, now: datetime, reason: str) -> AlertState:
    require_aware("now", now)
    if not alert.live:
        raise InvalidTransition("alert is already resolved")
    if not reason.strip():
        raise InvalidTransition("resolving an alert needs a reason")
    return alert.model_copy(update={
        "status": AlertStatus.RESOLVED, "resolved_at": now, "resolved_by": "clinician",
        "resolution": reason.strip(), "snoozed_until": None, "updated_at": now,
    })
