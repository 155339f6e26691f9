"""The writer's in-transaction hook: evaluate alert rules on exactly the readings a flush
inserted, and write the decisions in the same transaction.

An alert therefore exists if and only if the readings behind it were committed
(ARCHITECTURE.md decision 7): a crash before the commit loses both and the broker redelivers;
a redelivery after it inserts no reading, so nothing reaches this hook and nothing is raised
twice. Late backfill is evaluated for the record, and the lifecycle never pages for it.

Per flush, whatever its size, three round trips: one pipeline creating missing rule_state rows,
locking the patients with their settings and locking their live alerts; one for the stored
history the triggered rules need (ingest.alerting.history); one pipeline of the writes
(rule_state in one statement, then the alert changes). No query runs per reading. Round trips,
not CPU, were most of the hook's wall time in a flush (bench/alert_latency.py under load).

Cost on the data path (bench/alerting.py): the rules run as vigil.rules.evaluate_stream --
compiled thresholds, NEWS2 skipped when it cannot breach, evaluations built only for the
alert changes kept -- on the Readings as they are; parsed rule states are kept between
flushes (store.StateCache) and written back compact; of a run of evidence-only updates of one
alert within a flush only the last is written (one alert event per alert and flush).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from ingest.alerting import persist, store
from ingest.alerting.history import HistoryQuery
from ingest.alerting.persist import AlertChange, Trigger
from ingest.alerting.store import PatientRules
from ingest.writer import NewReading
from vigil.metrics import CATALOGUE, Metric
from vigil.rules import (
    AlertState,
    Evaluation,
    Observation,
    Sample,
    Status,
    StreamState,
    Transition,
    evaluate_stream,
)

log = logging.getLogger("vigil.ingest.alerting")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class HookStats:
    flushes: int = 0
    readings: int = 0
    patients: int = 0
    alert_changes: int = 0
    pages: int = 0
    # Patients whose evaluation raised (a bug): their readings are stored, alerting skipped.
    failures: int = 0
    # Where the time goes: reading state and history, the pure rules, writing decisions.
    load_seconds: float = 0.0
    rules_seconds: float = 0.0
    write_seconds: float = 0.0


@dataclass(slots=True)
class Outcome:
    state: StreamState
    # Whether `state` differs from the patient's (else there is nothing to store).
    changed: bool
    transitions: list[Transition]
    triggers: dict[tuple[Metric, datetime], Sample]


class AlertingHook:
    """ingest.writer.InsertHook: plug into BatchWriter/Consumer (`vigil ingest` does)."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self.clock = clock
        self.stats = HookStats()
        self.states = store.StateCache()
        # Ingest's writers call on_inserted concurrently (for different gateways).
        self._stats_lock = threading.Lock()

    def on_inserted(self, cursor: psycopg.Cursor[Any], rows: Sequence[NewReading]) -> None:
        if not rows:
            return
        now = self.clock()
        started = time.perf_counter()
        batch: dict[int, list[NewReading]] = {}
        for row in rows:
            batch.setdefault(row.patient_id, []).append(row)
        patients, alerts = store.lock_with_alerts(cursor, list(batch), self.states)
        # Only readings some rule of the patient evaluates (in arrival order), as they are:
        # the rules read validated Readings directly (vigil.rules.Sample).
        relevant: dict[int, list[Sample]] = {
            pid: [r.reading for r in batch[pid] if r.reading.metric in p.rules.evaluated]
            for pid, p in patients.items()
        }
        wanted = HistoryQuery()
        for pid, p in patients.items():
            if relevant[pid]:
                wanted.add(pid, p.rules, relevant[pid])
        history = wanted.load(cursor, frozenset(r.reading.id for r in rows))
        loaded = time.perf_counter()

        states: dict[int, StreamState] = {}
        changes: list[AlertChange] = []
        for pid, patient in patients.items():
            if not relevant[pid]:
                continue
            live = {key: a.alert for key, a in alerts.get(pid, {}).items()}
            try:
                outcome = evaluate(patient, relevant[pid], history.get(pid, []), live, now)
            except Exception:
                # A bug in the rules must not stop ingest or lose readings: store them,
                # leave this patient's alert state untouched, and say so loudly.
                with self._stats_lock:
                    self.stats.failures += 1
                log.exception("alert evaluation failed; readings stored without alerting",
                              extra={"fields": {"patient_id": pid}})
                continue
            if outcome.changed:
                states[pid] = outcome.state
            for t in outcome.transitions:
                changes.append(AlertChange(pid, t, trigger_of(t.evaluation, outcome.triggers)))
        evaluated = time.perf_counter()
        write(cursor, states, changes, self.states)
        finished = time.perf_counter()
        pages = sum(1 for c in changes if c.transition.page)
        with self._stats_lock:
            s = self.stats
            s.load_seconds += loaded - started
            s.rules_seconds += evaluated - loaded
            s.write_seconds += finished - evaluated
            s.flushes += 1
            s.readings += len(rows)
            s.patients += len(patients)
            s.alert_changes += len(changes)
            s.pages += pages


def write(cursor: psycopg.Cursor[Any], states: dict[int, StreamState],
          changes: list[AlertChange], cache: store.StateCache) -> None:
    """Rule states and alert changes in one round trip (one pipeline); on their own, each
    goes out as it would alone."""
    decisions = persist.statements(changes)
    if not states or not decisions:
        store.save_states(cursor, states, cache)
        persist.apply(cursor, changes)
        return
    conn = cursor.connection
    with conn.cursor() as saved:
        with conn.pipeline():
            store.send_states(saved, states, cache)
            for sql, values in decisions:
                cursor.execute(sql, values)
        store.cache_states(saved, states, cache)


def evaluate(patient: PatientRules, batch: Sequence[Sample], history: list[Observation],
             live: dict[str, AlertState], now: datetime) -> Outcome:
    """Pure: one patient's new readings to rule state and the alert transitions to write
    (vigil.rules.evaluate_stream: evaluate_readings, decide_all and collapse_updates)."""
    ruleset = patient.rules.ruleset
    consciousness = None
    if ruleset.news2 is not None and patient.consciousness_at is not None:
        # An old ACVPU record is not current: NEWS2 then counts consciousness as missing.
        latest = max(o.measured_at for o in batch)
        if patient.consciousness_at >= latest - ruleset.news2.window:
            consciousness = patient.consciousness
    result = evaluate_stream(
        patient.rules.compiled, batch, state=patient.state, history=history, alerts=live,
        now=now, consciousness=consciousness, on_oxygen=patient.on_oxygen)
    triggers: dict[tuple[Metric, datetime], Sample] = {}
    if result.transitions:
        triggers = {(o.metric, o.measured_at): o for o in history}
        triggers.update({(o.metric, o.measured_at): o for o in batch})
    return Outcome(result.stream_state, result.changed, result.transitions, triggers)


def lifecycle_relevant(evaluations: list[Evaluation], live: dict[str, AlertState]
                       ) -> list[Evaluation]:
    """The evaluations that can change an alert. Without a live alert for its rule key only
    a breach can (vigil.rules.decide opens alerts on breaches alone), so a quiet stream --
    nearly every reading -- skips the lifecycle. A key becomes live at its first breach, so
    everything after that still goes through, in order. (vigil.rules.ledger, on the data
    path, relies on the same fact.)"""
    keys = {key for key, alert in live.items() if alert.live}
    kept: list[Evaluation] = []
    for ev in evaluations:
        if ev.status is Status.BREACH:
            keys.add(ev.rule_key)
        if ev.rule_key in keys:
            kept.append(ev)
    return kept


def trigger_of(ev: Evaluation | None,
               readings: dict[tuple[Metric, datetime], Sample]) -> Trigger | None:
    if ev is None or ev.metric is None or ev.value is None:
        return None
    found = readings.get((ev.metric, ev.at))
    reading_id = found.id if found is not None and found.value == ev.value else None
    return Trigger(reading_id, CATALOGUE[ev.metric].number, ev.value, ev.at)
