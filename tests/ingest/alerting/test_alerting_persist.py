"""ingest.alerting.persist writes a flush's alert transitions set-based (one INSERT and one
UPDATE a wave); the oracle is the statement-per-transition reference it replaced. Both run
on the same database state, each in a transaction rolled back afterwards, and must leave the
same alerts, alert events (per alert, in order) and pages."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import Fleet

from ingest.alerting import persist
from ingest.alerting.persist import AlertChange, Trigger
from vigil.rules import (
    Action,
    AlertState,
    EscalationPolicy,
    Evaluation,
    MissingCause,
    Severity,
    Status,
    Transition,
    decide,
    sweep_alert,
)

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
KEYS = ["threshold:spo2", "news2", "missing:spo2"]
SEVERITIES = [Severity.LOW, Severity.MEDIUM, Severity.HIGH]

# Everything but what differs between two transactions (ids, now(), clock_timestamp()).
ALERTS = """
SELECT patient_id, rule_key, severity, severity_rank, state, message, opened_at,
       last_evidence_at, last_value, trigger_reading_id::text, trigger_metric, trigger_value,
       trigger_measured_at, late, cause, details, paged_at, escalation_level, escalated_at,
       acknowledged_at, snoozed_until, resolved_at, resolution_source, resolution,
       last_action, last_actor_id, last_reason
FROM alerts WHERE patient_id = ANY(%s) ORDER BY patient_id, rule_key, id
"""
EVENTS = """
SELECT a.patient_id, a.rule_key, dense_rank() OVER (PARTITION BY a.patient_id, a.rule_key
                                                     ORDER BY a.id),
       e.action, e.from_state, e.to_state, e.from_severity, e.to_severity, e.snoozed_until,
       e.note
FROM alert_events e JOIN alerts a ON a.id = e.alert_id
WHERE a.patient_id = ANY(%s) ORDER BY a.patient_id, a.rule_key, a.id, e.id
"""
PAGES = """
SELECT a.patient_id, a.rule_key, dense_rank() OVER (PARTITION BY a.patient_id, a.rule_key
                                                     ORDER BY a.id),
       p.at, p.action, p.severity, p.escalation_level, p.reason
FROM alert_pages p JOIN alerts a ON a.id = p.alert_id
WHERE a.patient_id = ANY(%s) ORDER BY a.patient_id, a.rule_key, a.id, p.id
"""

# One step of a rule key's story: a breach of some severity (with a value), a clear, an
# escalation timer firing, or evidence delivered late.
Step = tuple[int, str, str, int, float]  # patient index, rule key, kind, severity, value


def transitions(steps: list[Step], patients: list[int]) -> list[AlertChange]:
    """The pure lifecycle's transitions for the steps, each key's alert followed in order."""
    current: dict[tuple[int, str], AlertState | None] = {}
    changes: list[AlertChange] = []
    policy = EscalationPolicy()
    for n, (who, key, kind, severity, value) in enumerate(steps):
        pid = patients[who % len(patients)]
        now = T0 + timedelta(minutes=n)
        alert = current.get((pid, key))
        if kind == "escalate":
            if alert is None or not alert.live:
                continue
            t = sweep_alert(alert, now=now + timedelta(hours=12), policy=policy)
        else:
            status = Status.CLEAR if kind == "clear" else Status.BREACH
            ev = Evaluation(
                rule_key=key, status=status, at=now, value=value, reason=f"{kind} {value}",
                severity=SEVERITIES[severity] if status is Status.BREACH else None,
                late=kind == "late", auto_resolve=True,
                cause=MissingCause.GATEWAY_OFFLINE
                if key.startswith("missing:") and status is Status.BREACH else None)
            t = decide(alert, ev, now=now)
        if t.action is Action.NO_OP:
            continue
        current[(pid, key)] = t.state
        changes.append(AlertChange(pid, t, trigger(t, n)))
    return changes


def trigger(t: Transition, n: int) -> Trigger | None:
    ev = t.evaluation
    if ev is None or ev.value is None:
        return None
    reading = f"00000000-0000-4000-8000-{n:012d}" if n % 3 else None
    return Trigger(reading, 2, ev.value, ev.at)


def written(url: str, patients: list[int], statements: list[tuple[str, Any]]
            ) -> tuple[list[Any], ...]:
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur, conn.pipeline():
            for sql, values in statements:
                cur.execute(sql, values)
        found = tuple(conn.execute(q, (patients,)).fetchall() for q in (ALERTS, EVENTS, PAGES))
        conn.rollback()
    return found


def assert_same(url: str, patients: list[int], changes: list[AlertChange]) -> None:
    assert persist.statements(changes) or not changes
    got = written(url, patients, persist.statements(changes))
    want = written(url, patients, persist.reference_statements(changes))
    for name, g, w in zip(("alerts", "events", "pages"), got, want, strict=True):
        assert g == w, name
    # Every transition left its trace: one alert event each.
    assert len(got[1]) == len(changes)


def patients_of(fleet: Fleet) -> list[int]:
    return sorted({pid for pid, _ in fleet.devices.values()})


steps = st.lists(st.tuples(
    st.integers(0, 3), st.sampled_from(KEYS),
    st.sampled_from(["breach", "breach", "clear", "escalate", "late"]), st.integers(0, 2),
    st.floats(80, 100, allow_nan=False).map(lambda v: round(v, 3))), max_size=14)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_set_based_writes_agree_with_one_statement_a_transition(
    fleet: Fleet, steps: list[Step]
) -> None:
    patients = patients_of(fleet)
    assert_same(fleet.url, patients, transitions(steps, patients))


def test_a_rule_key_created_resolved_and_opened_again_in_one_flush(fleet: Fleet) -> None:
    patients = patients_of(fleet)
    steps: list[Step] = [
        (0, "threshold:spo2", "breach", 0, 91.0), (1, "news2", "breach", 1, 5.0),
        (0, "threshold:spo2", "breach", 2, 85.0), (0, "threshold:spo2", "clear", 0, 97.0),
        (0, "threshold:spo2", "breach", 1, 89.5), (1, "news2", "escalate", 0, 0.0)]
    changes = transitions(steps, patients)
    assert [c.transition.action for c in changes] == [
        Action.CREATE, Action.CREATE, Action.RAISE_SEVERITY, Action.AUTO_RESOLVE,
        Action.CREATE, Action.ESCALATE]
    # Four waves (threshold:spo2 has four transitions): both creations, then the raise and
    # the escalation, then the resolution, then the new alert.
    assert len(persist.statements(changes)) == 4
    assert_same(fleet.url, patients, changes)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e-300, 0.1, 97.3, None])
def test_values_go_through_json_exactly(fleet: Fleet, value: float | None) -> None:
    patients = patients_of(fleet)
    ev = Evaluation(rule_key="threshold:spo2", status=Status.BREACH, at=T0, value=value,
                    reason="breach ünïcode \"quoted\" \\ ", severity=Severity.HIGH)
    t = decide(None, ev, now=T0)
    changes = [AlertChange(patients[0], t,
                           None if value is None else Trigger(None, 2, value, T0))]
    if value is not None and not math.isfinite(value):
        # Never from a validated reading; JSON details cannot hold it, either way: the
        # flush fails (and is retried) rather than writing something else.
        for statements in (persist.statements(changes), persist.reference_statements(changes)):
            with pytest.raises(psycopg.DataError):
                written(fleet.url, patients, statements)
        return
    assert_same(fleet.url, patients, changes)
