"""Reading what the rules need from the database: a few set-based queries per flush or sweep
chunk, never one per reading.

Locking (several ingest workers, the sweeper and the API write alerts concurrently):
- a patient's `rule_state` row is the patient's evaluation lock. Ingest takes it FOR UPDATE
  (waiting), the sweeper FOR UPDATE SKIP LOCKED (a busy patient is simply swept next time);
  both lock in patient-id order, so two workers never deadlock;
- live alerts are then locked FOR UPDATE, as the API does before a clinician action, so an
  acknowledgement and a rule decision never overwrite each other.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from pydantic import ValidationError

from ingest.alerting.rulesets import Rules, rules_for
from vigil.messages import Origin
from vigil.metrics import BY_NUMBER
from vigil.quality import QUESTIONABLE
from vigil.rules import AlertState, AlertStatus, Observation, RuleState, Severity

log = logging.getLogger("vigil.ingest.alerting")

QUESTIONABLE_FLAGS = sorted(flag.value for flag in QUESTIONABLE)
# Upper bound of stored readings fetched per patient and metric for one evaluation.
HISTORY_CAP = 20_000

ENSURE_STATE = """
INSERT INTO rule_state (patient_id, state)
SELECT p, '{}'::jsonb FROM unnest(%b::int[]) AS p ORDER BY p
ON CONFLICT (patient_id) DO NOTHING
"""
LOCK_PATIENTS = """
SELECT s.patient_id, s.state::text, rs.condition, rs.overrides::text,
       c.consciousness, c.recorded_at, o.on_oxygen
FROM rule_state s
LEFT JOIN rule_settings rs ON rs.patient_id = s.patient_id
LEFT JOIN LATERAL (
    SELECT n.consciousness, n.recorded_at FROM news2_context n
    WHERE n.patient_id = s.patient_id AND n.consciousness IS NOT NULL
    ORDER BY n.recorded_at DESC, n.id DESC LIMIT 1) c ON true
LEFT JOIN LATERAL (
    SELECT n.on_oxygen FROM news2_context n
    WHERE n.patient_id = s.patient_id AND n.on_oxygen IS NOT NULL
    ORDER BY n.recorded_at DESC, n.id DESC LIMIT 1) o ON true
WHERE s.patient_id = ANY(%b::int[])
ORDER BY s.patient_id
FOR UPDATE OF s
"""
LIVE_ALERTS = """
SELECT id, patient_id, rule_key, state, severity, opened_at, updated_at, last_evidence_at,
       last_value, paged_at, acknowledged_at, snoozed_until, escalation_level, late,
       cause, details::text
FROM alerts
WHERE patient_id = ANY(%b::int[]) AND state <> 'resolved'
ORDER BY patient_id, rule_key
FOR UPDATE
"""
_TRUSTED_ROWS = """
    SELECT metric, value, measured_at, origin, reading_id FROM readings r
    WHERE r.patient_id = q.patient_id AND r.metric = q.metric
      AND NOT (r.quality && %(questionable)b::text[])
"""
# Per (patient, metric): the newest `take` trusted readings measured in [since, split], and
# every one measured in (split, until]. Parameters go binary: text-formatting thousands of
# timestamps costs more than the query.
HISTORY = f"""
SELECT q.patient_id, r.metric, r.value, r.measured_at, r.origin, r.reading_id::text
FROM unnest(%(patients)b::int[], %(metrics)b::int2[], %(since)b::timestamptz[],
            %(split)b::timestamptz[], %(until)b::timestamptz[], %(take)b::int[])
     AS q(patient_id, metric, since, split, until, take)
CROSS JOIN LATERAL (
    ({_TRUSTED_ROWS} AND r.measured_at >= q.since AND r.measured_at <= q.split
     ORDER BY r.measured_at DESC LIMIT q.take)
    UNION ALL
    ({_TRUSTED_ROWS} AND r.measured_at > q.split AND r.measured_at <= q.until
     ORDER BY r.measured_at DESC LIMIT %(cap)s)
) AS r
"""
SAVE_STATES = """
UPDATE rule_state s SET state = v.state::jsonb, updated_at = now()
FROM unnest(%b::int[], %b::text[]) AS v(patient_id, state)
WHERE s.patient_id = v.patient_id
"""


@dataclass(slots=True)
class PatientRules:
    """One locked patient: rules, threshold state and the NEWS2 context on record."""

    patient_id: int
    rules: Rules
    state: RuleState
    consciousness: str | None = None
    consciousness_at: datetime | None = None
    on_oxygen: bool | None = None


@dataclass(slots=True)
class LiveAlert:
    """An open or acknowledged alert row, as the pure lifecycle sees it plus what it cannot."""

    id: int
    patient_id: int
    alert: AlertState
    cause: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """The newest `take` trusted readings of a metric measured in [since, split], and all
    those measured in (split, until]."""

    patient_id: int
    metric: int  # MetricSpec.number
    since: datetime
    split: datetime
    until: datetime
    take: int


def lock_patients(cur: psycopg.Cursor[Any], patient_ids: Sequence[int], *,
                  skip_locked: bool = False) -> dict[int, PatientRules]:
    """Lock the patients' rule state (creating it on first use) and read their rules."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    cur.execute(ENSURE_STATE, (ids,))
    query = LOCK_PATIENTS + (" SKIP LOCKED" if skip_locked else "")
    cur.execute(query, (ids,))
    found: dict[int, PatientRules] = {}
    for pid, state_text, condition, overrides, consciousness, c_at, on_oxygen in cur:
        found[pid] = PatientRules(pid, rules_for(condition, overrides),
                                  _rule_state(pid, state_text), consciousness, c_at, on_oxygen)
    return found


def _rule_state(patient_id: int, text: str) -> RuleState:
    try:
        return RuleState.model_validate_json(text)
    except ValidationError as exc:
        # Unreadable state (e.g. written by an incompatible version): starting afresh only
        # forgets breach runs in progress; refusing would stop the patient's alerting.
        log.error("rule state unreadable; starting afresh",
                  extra={"fields": {"patient_id": patient_id, "error": str(exc)[:500]}})
        return RuleState()


def live_alerts(cur: psycopg.Cursor[Any], patient_ids: Sequence[int]
                ) -> dict[int, dict[str, LiveAlert]]:
    """Open and acknowledged alerts by patient and rule key, locked."""
    found: dict[int, dict[str, LiveAlert]] = {}
    if not patient_ids:
        return found
    cur.execute(LIVE_ALERTS, (sorted(set(patient_ids)),))
    for row in cur:
        (alert_id, pid, rule_key, state, severity, opened_at, updated_at, evidence_at,
         last_value, paged_at, acknowledged_at, snoozed_until, level, late, cause,
         details) = row
        alert = AlertState(
            rule_key=rule_key, status=AlertStatus(state), severity=Severity(severity),
            opened_at=opened_at, updated_at=updated_at, last_evidence_at=evidence_at,
            last_value=last_value, paged_at=paged_at, acknowledged_at=acknowledged_at,
            snoozed_until=snoozed_until, escalation_level=level, late=late)
        found.setdefault(pid, {})[rule_key] = LiveAlert(
            alert_id, pid, alert, cause, json.loads(details) if details else {})
    return found


def load_history(cur: psycopg.Cursor[Any], requests: Iterable[HistoryRequest],
                 exclude: frozenset[str] = frozenset()) -> dict[int, list[Observation]]:
    """Trusted stored readings per patient, newest first within each request, except the
    readings in `exclude` (the batch itself, which the caller has already). Filtered here
    rather than by xmin in SQL: TimescaleDB refuses system columns on compressed chunks."""
    asked = list(requests)
    found: dict[int, list[Observation]] = {}
    if not asked:
        return found
    cur.execute(HISTORY, {
        "patients": [r.patient_id for r in asked], "metrics": [r.metric for r in asked],
        "since": [r.since for r in asked], "split": [r.split for r in asked],
        "until": [r.until for r in asked], "take": [r.take for r in asked],
        "questionable": QUESTIONABLE_FLAGS, "cap": HISTORY_CAP})
    for pid, metric, value, measured_at, origin, reading_id in cur:
        if reading_id in exclude:
            continue
        # Questionable readings were filtered out above, so the flags are not needed here.
        found.setdefault(pid, []).append(Observation.trusted(
            BY_NUMBER[metric].metric, value, measured_at, origin=Origin(origin),
            id=reading_id))
    return found


def save_states(cur: psycopg.Cursor[Any], states: dict[int, RuleState]) -> None:
    if states:
        cur.execute(SAVE_STATES, (list(states), [s.model_dump_json() for s in states.values()]))
