"""Writing rule decisions: alert rows, pages, and (by the alerts trigger) alert_events and the
NOTIFY the API's live stream listens to.

Each transition is one row addressed by (patient, rule key, live) -- the partial unique
index makes that one alert -- so an alert created earlier in the same flush needs no id round
trip. Within a flush only the last of a run of evidence-only updates is written: every
transition carries the whole alert state, so the last one includes the others' evidence.

Set-based: the transitions go out as JSON documents, one INSERT for the creations and one
UPDATE for the rest, rather than a statement each. Measured on a virtual ward
(bench/system.py --pg-statements): the per-transition statements were the largest share of
PostgreSQL's running time (~0.2 ms of server CPU each, half of it per-statement overhead);
as one statement the rows cost ~0.1 ms. A rule key's transitions keep their order: its n-th
transition of the flush goes in the n-th wave of statements (nearly always there is one), so
an alert created and then updated, or resolved and then opened again, in one flush is
written in that order, with its alert events. The statements go out in one pipeline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from vigil.rules import Action, Transition, collapse_updates

MESSAGE_MAX = 2000

# One JSON object per transition (see row_of), as typed columns.
_ROWS = """
    SELECT * FROM jsonb_to_recordset(%s::jsonb) AS v(
        i int, patient_id int, rule_key text, at timestamptz, action text, reason text,
        page bool, message text, severity text, state text, opened_at timestamptz,
        last_evidence_at timestamptz, last_value float8, paged_at timestamptz, late bool,
        escalation_level int2, escalate bool, acknowledged_at timestamptz,
        snoozed_until timestamptz, resolved_at timestamptz, resolution_source text,
        resolution text, details jsonb, set_cause bool, cause text, set_trigger bool,
        trigger_reading_id uuid, trigger_metric int2, trigger_value float8,
        trigger_measured_at timestamptz)
"""
# Alerts and pages are inserted in the transitions' order (v.i).
INSERT_ALL = f"""
WITH v AS ({_ROWS}), a AS (
    INSERT INTO alerts (patient_id, rule_key, severity, state, message, opened_at,
                        last_evidence_at, last_value, trigger_reading_id, trigger_metric,
                        trigger_value, trigger_measured_at, late, cause, details, paged_at,
                        escalation_level, last_action, last_reason)
    SELECT patient_id, rule_key, severity, state, message, opened_at, last_evidence_at,
           last_value, trigger_reading_id, trigger_metric, trigger_value, trigger_measured_at,
           late, cause, coalesce(details, '{{}}'::jsonb), paged_at, escalation_level, action,
           reason
    FROM v ORDER BY i
    RETURNING id, patient_id, rule_key, severity, escalation_level)
INSERT INTO alert_pages (alert_id, patient_id, at, action, severity, escalation_level, reason)
SELECT a.id, a.patient_id, v.at, v.action, a.severity, a.escalation_level, v.reason
FROM a JOIN v ON v.patient_id = a.patient_id AND v.rule_key = a.rule_key
WHERE v.page ORDER BY v.i
"""
UPDATE_ALL = f"""
WITH v AS ({_ROWS}), a AS (
    UPDATE alerts a SET
        severity = v.severity, state = v.state,
        last_evidence_at = v.last_evidence_at, last_value = v.last_value,
        paged_at = v.paged_at, late = v.late, escalation_level = v.escalation_level,
        escalated_at = CASE WHEN v.escalate THEN v.at ELSE a.escalated_at END,
        acknowledged_at = v.acknowledged_at,
        acknowledged_by = CASE WHEN v.acknowledged_at IS NULL THEN NULL
                               ELSE a.acknowledged_by END,
        acknowledged_note = CASE WHEN v.acknowledged_at IS NULL THEN NULL
                                 ELSE a.acknowledged_note END,
        snoozed_until = v.snoozed_until,
        snoozed_by = CASE WHEN v.snoozed_until IS NULL THEN NULL ELSE a.snoozed_by END,
        resolved_at = v.resolved_at, resolution_source = v.resolution_source,
        resolution = v.resolution,
        message = coalesce(v.message, a.message),
        details = coalesce(v.details, a.details),
        cause = CASE WHEN v.set_cause THEN v.cause ELSE a.cause END,
        trigger_reading_id = CASE WHEN v.set_trigger THEN v.trigger_reading_id
                                  ELSE a.trigger_reading_id END,
        trigger_metric = CASE WHEN v.set_trigger THEN v.trigger_metric
                              ELSE a.trigger_metric END,
        trigger_value = CASE WHEN v.set_trigger THEN v.trigger_value ELSE a.trigger_value END,
        trigger_measured_at = CASE WHEN v.set_trigger THEN v.trigger_measured_at
                                   ELSE a.trigger_measured_at END,
        last_action = v.action, last_actor_id = NULL, last_reason = v.reason
    FROM v
    WHERE a.patient_id = v.patient_id AND a.rule_key = v.rule_key AND a.state <> 'resolved'
    RETURNING a.id, a.patient_id, a.severity, a.escalation_level, v.at, v.action, v.reason,
              v.page, v.i)
INSERT INTO alert_pages (alert_id, patient_id, at, action, severity, escalation_level, reason)
SELECT id, patient_id, at, action, severity, escalation_level, reason
FROM a WHERE page ORDER BY i
"""
# One transition a statement: the reference the set-based statements are tested against.
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


def row_of(change: AlertChange, index: int) -> dict[str, Any]:
    """params() as a JSON-ready object for _ROWS: times in ISO 8601 with their offset (read
    back exactly), non-finite floats as the strings PostgreSQL's float8 input reads (JSON has
    no NaN), nulls left out (a missing key is NULL)."""
    row: dict[str, Any] = {"i": index}
    for key, value in params(change).items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Jsonb):
            value = value.obj
        elif isinstance(value, float) and not math.isfinite(value):
            value = str(value).replace("inf", "Infinity").replace("nan", "NaN")
        row[key] = value
    return row


def statements(changes: Iterable[AlertChange], marks: Iterable[DetailsMark] = ()
               ) -> list[tuple[str, Any]]:
    """The statements writing the changes, in order (for a caller's own pipeline)."""
    waves: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []
    seen: dict[tuple[int, str], int] = {}
    for index, change in enumerate(changes):
        key = (change.patient_id, change.transition.rule_key)
        wave = seen.get(key, 0)
        seen[key] = wave + 1
        if wave == len(waves):
            waves.append(([], []))
        creates, updates = waves[wave]
        (creates if change.transition.action is Action.CREATE else updates).append(
            row_of(change, index))
    out: list[tuple[str, Any]] = []
    for creates, updates in waves:
        # Within a wave each rule key appears once, so the two statements' order is free.
        if creates:
            out.append((INSERT_ALL, (_document(creates),)))
        if updates:
            out.append((UPDATE_ALL, (_document(updates),)))
    for mark in marks:
        out.append((MARK, {"id": mark.alert_id, "action": mark.action,
                           "reason": mark.reason, "details": Jsonb(mark.details)}))
    return out


def reference_statements(changes: Iterable[AlertChange]) -> list[tuple[str, dict[str, Any]]]:
    """One statement per transition, in order (what statements() must agree with)."""
    return [(INSERT if c.transition.action is Action.CREATE else UPDATE, params(c))
            for c in changes]


def _document(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)


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
