"""Writing rule decisions: alert rows, pages, and (by the alerts trigger) alert_events and the
NOTIFY the API's live stream listens to.

Each transition becomes one statement addressed by (patient, rule key, live) -- the partial
unique index makes that one row -- so an alert created earlier in the same flush needs no id
round trip. Within a flush only the last of a run of evidence-only updates is written: every
transition carries the whole alert state, so the last one includes the others' evidence.
The statements go out in one pipeline (one round trip for the lot).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from vigil.rules import Action, Transition, collapse_updates

MESSAGE_MAX = 2000

PAGE = """
INSERT INTO alert_pages (alert_id, patient_id, at, action, severity, escalation_level, reason)
SELECT id, patient_id, %(at)s, %(action)s, severity, escalation_level, %(reason)s
FROM a WHERE %(page)s
"""
INSERT = """
WITH a AS (
    INSERT INTO alerts (patient_id, rule_key, severity, state, message, opened_at,
                        last_evidence_at, last_value, trigger_reading_id, trigger_metric,
                        trigger_value, trigger_measured_at, late, cause, details, paged_at,
                        escalation_level, last_action, last_reason)
    VALUES (%(patient_id)s, %(rule_key)s, %(severity)s, %(state)s, %(message)s,
            %(opened_at)s, %(last_evidence_at)s, %(last_value)s, %(trigger_reading_id)s::uuid,
            %(trigger_metric)s, %(trigger_value)s, %(trigger_measured_at)s, %(late)s,
            %(cause)s, coalesce(%(details)s::jsonb, '{}'::jsonb), %(paged_at)s,
            %(escalation_level)s, %(action)s, %(reason)s)
    RETURNING id, patient_id, severity, escalation_level)
""" + PAGE
UPDATE = """
WITH a AS (
    UPDATE alerts SET
        severity = %(severity)s, state = %(state)s,
        last_evidence_at = %(last_evidence_at)s, last_value = %(last_value)s,
        paged_at = %(paged_at)s, late = %(late)s, escalation_level = %(escalation_level)s,
        escalated_at = CASE WHEN %(escalate)s THEN %(at)s ELSE escalated_at END,
        acknowledged_at = %(acknowledged_at)s,
        acknowledged_by = CASE WHEN %(acknowledged_at)s::timestamptz IS NULL THEN NULL
                               ELSE acknowledged_by END,
        acknowledged_note = CASE WHEN %(acknowledged_at)s::timestamptz IS NULL THEN NULL
                                 ELSE acknowledged_note END,
        snoozed_until = %(snoozed_until)s,
        snoozed_by = CASE WHEN %(snoozed_until)s::timestamptz IS NULL THEN NULL
                          ELSE snoozed_by END,
        resolved_at = %(resolved_at)s, resolution_source = %(resolution_source)s,
        resolution = %(resolution)s,
        message = coalesce(%(message)s, message),
        details = coalesce(%(details)s::jsonb, details),
        cause = CASE WHEN %(set_cause)s THEN %(cause)s ELSE cause END,
        trigger_reading_id = CASE WHEN %(set_trigger)s THEN %(trigger_reading_id)s::uuid
                                  ELSE trigger_reading_id END,
        trigger_metric = CASE WHEN %(set_trigger)s THEN %(trigger_metric)s::int2
                              ELSE trigger_metric END,
        trigger_value = CASE WHEN %(set_trigger)s THEN %(trigger_value)s::float8
                             ELSE trigger_value END,
        trigger_measured_at = CASE WHEN %(set_trigger)s THEN %(trigger_measured_at)s::timestamptz
                                   ELSE trigger_measured_at END,
        last_action = %(action)s, last_actor_id = NULL, last_reason = %(reason)s
    WHERE patient_id = %(patient_id)s AND rule_key = %(rule_key)s AND state <> 'resolved'
    RETURNING id, patient_id, severity, escalation_level)
""" + PAGE
MARK = """
UPDATE alerts SET details = details || %(details)s::jsonb, last_action = %(action)s,
       last_actor_id = NULL, last_reason = %(reason)s
WHERE id = %(id)s AND state <> 'resolved'
"""
# The reading that opened or last raised an alert is recorded on the row.
_TRIGGERS = {Action.CREATE, Action.RAISE_SEVERITY}


@dataclass(frozen=True, slots=True)
class Trigger:
    """The reading behind an evaluation (its id when the reading is known)."""

    reading_id: str | None
    metric: int  # MetricSpec.number
    value: float
    measured_at: datetime


@dataclass(frozen=True, slots=True)
class AlertChange:
    patient_id: int
    transition: Transition
    trigger: Trigger | None = None


@dataclass(frozen=True, slots=True)
class DetailsMark:
    """A note on a live alert that is not a lifecycle transition (e.g. NEWS2 gone stale)."""

    alert_id: int
    action: str
    reason: str
    details: dict[str, Any]


def significant(transitions: Sequence[Transition]) -> list[Transition]:
    """Drop evidence-only updates that a later transition of the same rule key supersedes."""
    return collapse_updates(transitions)


def details_of(transition: Transition) -> dict[str, Any] | None:
    """What the alert row's `details` shows: the evaluation behind the latest decision."""
    ev = transition.evaluation
    if ev is None:
        return None
    return {
        "evaluation": ev.model_dump(mode="json", exclude={"rule_key"}, exclude_none=True),
        "decision": {"action": transition.action.value, "at": transition.at.isoformat(),
                     "page": transition.page},
    }


def params(change: AlertChange) -> dict[str, Any]:
    t = change.transition
    state = t.state
    assert state is not None, "only NO_OP transitions carry no state"
    ev = t.evaluation
    trigger = change.trigger if t.action in _TRIGGERS else None
    details = details_of(t)
    cause = ev.cause.value if ev is not None and ev.cause is not None else None
    headline = t.action in _TRIGGERS
    return {
        "patient_id": change.patient_id, "rule_key": t.rule_key, "at": t.at,
        "action": t.action.value, "reason": t.reason, "page": t.page,
        "message": t.reason[:MESSAGE_MAX] if headline else None,
        "severity": state.severity.value, "state": state.status.value,
        "opened_at": state.opened_at, "last_evidence_at": state.last_evidence_at,
        "last_value": state.last_value, "paged_at": state.paged_at, "late": state.late,
        "escalation_level": state.escalation_level,
        "escalate": t.action is Action.ESCALATE,
        "acknowledged_at": state.acknowledged_at, "snoozed_until": state.snoozed_until,
        "resolved_at": state.resolved_at,
        "resolution_source": state.resolved_by if state.resolved_at is not None else None,
        "resolution": state.resolution,
        "details": Jsonb(details) if details is not None else None,
        # Missing-data breaches name their cause; a clear or another rule keeps the last one.
        "set_cause": cause is not None,
        "cause": cause,
        "set_trigger": trigger is not None,
        "trigger_reading_id": trigger.reading_id if trigger else None,
        "trigger_metric": trigger.metric if trigger else None,
        "trigger_value": trigger.value if trigger else None,
        "trigger_measured_at": trigger.measured_at if trigger else None,
    }


def statements(changes: Iterable[AlertChange], marks: Iterable[DetailsMark] = ()
               ) -> list[tuple[str, dict[str, Any]]]:
    """The statements writing the changes, in order (for a caller's own pipeline)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for change in changes:
        sql = INSERT if change.transition.action is Action.CREATE else UPDATE
        out.append((sql, params(change)))
    for mark in marks:
        out.append((MARK, {"id": mark.alert_id, "action": mark.action,
                           "reason": mark.reason, "details": Jsonb(mark.details)}))
    return out


def apply(cur: psycopg.Cursor[Any], changes: Iterable[AlertChange],
          marks: Iterable[DetailsMark] = ()) -> int:
    """Write the changes in order, in the caller's transaction; returns statements sent."""
    statements_ = statements(changes, marks)
    if not statements_:
        return 0
    if len(statements_) == 1:
        cur.execute(*statements_[0])
        return 1
    with cur.connection.pipeline():
        for sql, values in statements_:
            cur.execute(sql, values)
    return len(statements_)
