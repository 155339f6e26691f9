"""The sweeper: alert rules driven by the clock rather than by readings.

Each sweep, for every actively monitored patient and every patient with a live alert:
- threshold breach runs that ended in silence (vigil.rules.sweep);
- missing data per the patient's expected schedules, naming the most likely cause (gateway
  offline, device not seen, low battery, patient did not measure);
- snooze expiry and escalation of unacknowledged alerts (vigil.rules.sweep_alert);
- NEWS2 freshness: a live NEWS2 alert whose newest evidence is older than the rule's window
  is marked stale once, so nobody reads an old score as current.

Safe with several ingest workers: a session advisory lock lets one sweep run at a time (the
others skip that round), and patients are swept in chunks of short transactions that lock
rule_state SKIP LOCKED, so a patient whose readings are being written right now is simply
swept next round and ingest never waits long on the sweeper.

Cheap when nothing is due (bench/sweeper.py): evaluations that could only come out as no
news -- a schedule on time without an alert, an unchanged absence, a silence no breach run
waits on, an alert with no snooze expiry or escalation due -- are never built; a test checks
the result against evaluating everything.

Idempotent: a second sweep at the same `now` finds nothing to do. Evidence-only updates of a
missing-data alert (the same cause, still missing) are not written, so a long outage leaves
one alert and a few events, not one event per sweep.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from ingest.alerting import persist, store
from ingest.alerting.hook import Clock, utc_now
from ingest.alerting.persist import AlertChange, DetailsMark
from ingest.alerting.presence import Presence, load_presence
from ingest.alerting.store import LiveAlert, PatientRules
from vigil.rules import (
    Action,
    AlertState,
    DevicePresence,
    Evaluation,
    GatewayPresence,
    MissingDataRule,
    RuleSet,
    RuleState,
    StreamState,
    Transition,
    decide,
    due_by,
    equivalent,
    evaluate_missing,
    missing_causes,
    sweep,
    sweep_alert,
    sweep_due,
)

log = logging.getLogger("vigil.ingest.alerting")

# pg_try_advisory_lock key: the bytes "vigilswp".
SWEEP_LOCK = int.from_bytes(b"vigilswp", "big", signed=True)
CANDIDATES = """
SELECT p.id FROM patients p
WHERE (p.active AND EXISTS (SELECT 1 FROM enrolments e
                            WHERE e.patient_id = p.id AND e.period @> %(now)s::timestamptz))
   OR EXISTS (SELECT 1 FROM alerts a WHERE a.patient_id = p.id AND a.state <> 'resolved')
ORDER BY p.id
"""
STALE = "stale"


@dataclass(slots=True)
class SweepResult:
    ran: bool = True  # False: another worker was sweeping
    patients: int = 0
    busy: int = 0  # locked by ingest at the time; swept next round
    changes: int = 0
    pages: int = 0
    marks: int = 0
    skipped: int = 0  # patients the pre-check found nothing due for
    # This thread's CPU seconds by stage (time.thread_time): reading, pure rules, writing.
    load_cpu: float = 0.0
    rules_cpu: float = 0.0
    write_cpu: float = 0.0


@dataclass(slots=True)
class Outcome:
    state: RuleState
    transitions: list[Transition]
    marks: list[DetailsMark]
    quiet: bool = False  # nothing was due: no evaluation was built


class Sweeper:
    # Patients per chunk transaction. Ingest waits (FOR UPDATE) for a patient the sweeper
    # holds, for as long as the chunk takes (~1 ms a patient when measured; since the
    # shortcuts ~0.1-0.3 ms wall in a quiet sweep, bench/sweeper.py): small chunks keep
    # that wait short (bench/alert_latency.py: 200-patient chunks put ~1 s on p99
    # publish->alert at 2k readings/s).
    def __init__(self, chunk: int = 25) -> None:
        self.chunk = chunk

    def sweep(self, conn: psycopg.Connection, now: datetime) -> SweepResult:
        """One sweep at `now` on an autocommit connection (each chunk is a transaction)."""
        if not conn.autocommit:
            raise ValueError("the sweeper needs an autocommit connection")
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (SWEEP_LOCK,)).fetchone()
        if not got or not got[0]:
            return SweepResult(ran=False)
        result = SweepResult()
        try:
            ids = [row[0] for row in conn.execute(CANDIDATES, {"now": now}).fetchall()]
            for start in range(0, len(ids), self.chunk):
                with conn.transaction(), conn.cursor() as cur:
                    self._chunk(cur, ids[start:start + self.chunk], now, result)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SWEEP_LOCK,))
        return result

    def _chunk(self, cur: psycopg.Cursor[Any], ids: list[int], now: datetime,
               result: SweepResult) -> None:
        started = time.thread_time()
        patients = store.lock_patients(cur, ids, skip_locked=True)
        result.busy += len(ids) - len(patients)
        result.patients += len(patients)
        alerts = store.live_alerts(cur, list(patients))
        presence = load_presence(cur, list(patients), now, {
            pid: list(p.rules.ruleset.missing) for pid, p in patients.items()})
        loaded = time.thread_time()
        result.load_cpu += loaded - started
        states: dict[int, RuleState] = {}
        changes: list[AlertChange] = []
        marks: list[DetailsMark] = []
        for pid, patient in patients.items():
            try:
                outcome = sweep_patient(patient, alerts.get(pid, {}), presence.get(pid), now)
            except Exception:
                log.exception("sweep failed for a patient",
                              extra={"fields": {"patient_id": pid}})
                continue
            result.skipped += outcome.quiet
            if not outcome.quiet and not equivalent(outcome.state, sweep_state(patient)):
                states[pid] = outcome.state
            if outcome.transitions:
                changes += [AlertChange(pid, t)
                            for t in persist.significant(outcome.transitions)]
            marks += outcome.marks
        ruled = time.thread_time()
        result.rules_cpu += ruled - loaded
        store.save_states(cur, states)
        persist.apply(cur, changes, marks)
        result.write_cpu += time.thread_time() - ruled
        result.changes += len(changes)
        result.pages += sum(1 for c in changes if c.transition.page)
        result.marks += len(marks)


def sweep_patient(patient: PatientRules, live: dict[str, LiveAlert],
                  presence: Presence | None, now: datetime) -> Outcome:
    """Pure: one patient's clock-driven evaluations and alert transitions at `now`.

    Most patients have nothing due: no breach run waiting on silence, every schedule on time,
    no live alert. The evaluations that would come out CLEAR against no alert (a NO_OP
    decision) are not built at all -- the pydantic-heavy evaluation was most of a sweep's
    CPU. Tests compare this with evaluating everything."""
    rules = patient.rules
    ruleset = rules.ruleset
    stored = sweep_state(patient)
    state = stored
    evaluations: list[Evaluation] = []
    if not silence_quiet(rules.clock_rules, stored, now):
        silent = sweep(rules.clock_rules, state=stored, now=now,
                       monitoring_started_at=now, last_reading_at={},
                       gateway=GatewayPresence(None, None), devices={})
        state = silent.state
        evaluations += silent.evaluations
    if presence is not None:  # missing data only while the patient is enrolled
        started = presence.started_at
        for schedule in ruleset.missing.values():
            last = presence.last_reading_at(schedule.metric)
            stored_alert = live.get(schedule.rule_key) if live else None
            overdue = now > due_by(schedule, last_reading_at=last, monitoring_started_at=started)
            if stored_alert is None and not overdue:
                continue  # on schedule, no alert: CLEAR would be a NO_OP
            gateway, device = presence.of(schedule.metric)
            if stored_alert is not None and overdue and _still_absent(
                    schedule, stored_alert, now, gateway, device):
                continue  # the UPDATE decided would be dropped as _unchanged_absence
            evaluations.append(evaluate_missing(
                schedule, now=now, last_reading_at=last, monitoring_started_at=started,
                gateway=gateway, device=device))
    if not evaluations and not live:
        return Outcome(state, [], [], quiet=state is stored)

    current: dict[str, AlertState | None] = {k: a.alert for k, a in live.items()}
    transitions: list[Transition] = []
    for ev in evaluations:
        t = decide(current.get(ev.rule_key), ev, now=now)
        if t.action is Action.NO_OP or _unchanged_absence(t, live.get(ev.rule_key)):
            continue
        transitions.append(t)
        current[ev.rule_key] = t.state
    for key, alert in list(current.items()):
        if alert is None or not sweep_due(alert, now=now, policy=ruleset.escalation):
            continue  # sweep_alert would be a NO_OP
        t = sweep_alert(alert, now=now, policy=ruleset.escalation)
        if t.action is not Action.NO_OP:
            transitions.append(t)
            current[key] = t.state
    changed = {t.rule_key for t in transitions}
    marks = [m for m in [_news2_stale(patient, live.get("news2"), now)]
             if m is not None and "news2" not in changed]
    return Outcome(state, transitions, marks)


def silence_quiet(clock_rules: RuleSet, state: RuleState, now: datetime) -> bool:
    """vigil.rules.sweep would raise nothing and keep an equivalent state: every threshold
    state is within its rule's max_gap of its last reading, or has no breach run in progress
    and no raised band the rule no longer has (the gap only drops those)."""
    thresholds = state.thresholds
    if not thresholds:
        return True
    for rule in clock_rules.thresholds.values():
        current = thresholds.get(rule.rule_key)
        if current is None or current.last_at is None or now - current.last_at <= rule.max_gap:
            continue
        keys = {limit.key for limit in rule.limits}
        for key, band in current.bands.items():
            if band.breach_since is not None or (band.raised and key not in keys):
                return False
    return True


def sweep_state(patient: PatientRules) -> RuleState:
    stored = patient.state
    return stored.model() if isinstance(stored, StreamState) else stored


def _still_absent(schedule: MissingDataRule, stored: LiveAlert, now: datetime,
                  gateway: GatewayPresence, device: DevicePresence) -> bool:
    """For an overdue schedule with a live alert: decide(BREACH) would be an evidence-only
    UPDATE (not a rise in severity, not a late alert confirmed live) with the stored cause,
    which _unchanged_absence drops -- so the evaluation need not be built."""
    alert = stored.alert
    return (stored.cause is not None and alert.live and not alert.late
            and schedule.severity.rank <= alert.severity.rank
            and missing_causes(schedule, now=now, gateway=gateway,
                               device=device)[0].value == stored.cause)


def _unchanged_absence(t: Transition, stored: LiveAlert | None) -> bool:
    """A still-missing metric with the same cause is no news: not written every sweep."""
    ev = t.evaluation
    return (t.action is Action.UPDATE and stored is not None and ev is not None
            and ev.rule_key.startswith("missing:") and ev.cause is not None
            and ev.cause.value == stored.cause)


def _news2_stale(patient: PatientRules, alert: LiveAlert | None,
                 now: datetime) -> DetailsMark | None:
    rule = patient.rules.ruleset.news2
    if rule is None or alert is None or alert.details.get(STALE) is True:
        return None
    evidence = alert.alert.last_evidence_at
    if now - evidence <= rule.window:
        return None
    since = evidence + rule.window
    return DetailsMark(
        alert.id, STALE,
        f"NEWS2 evidence measured {evidence.isoformat()} is older than the {rule.window} "
        f"freshness window (stale since {since.isoformat()}): the score is no longer "
        "current; repeat the observations",
        {STALE: True, "stale_since": since.isoformat()})


class SweeperThread:
    """Runs a sweep every `interval_s` seconds on its own connection until stopped."""

    def __init__(self, database_url: str, interval_s: float, sweeper: Sweeper | None = None,
                 clock: Clock = utc_now) -> None:
        self.database_url = database_url
        self.interval_s = interval_s
        self.sweeper = sweeper or Sweeper()
        self.clock = clock
        self.last: SweepResult | None = None
        self.last_sweep_at: datetime | None = None
        self.errors = 0
        self._conn: psycopg.Connection | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        elif self._conn is not None:  # never started: run_once was called directly
            self._conn.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            if self._stop.wait(self.interval_s):
                break
        if self._conn is not None:
            self._conn.close()

    def run_once(self) -> SweepResult | None:
        now = self.clock()
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.database_url, autocommit=True,
                                             connect_timeout=5,
                                             application_name="vigil-sweeper")
            result = self.sweeper.sweep(self._conn, now)
        except Exception as exc:
            # The database is down or refused a chunk (or a bug): try again next round --
            # the thread must outlive any one sweep, missing-data alerts depend on it.
            self.errors += 1
            if isinstance(exc, psycopg.Error):
                log.warning("sweep failed; retrying next round",
                            extra={"fields": {"error": str(exc).strip()[:500]}})
            else:
                log.exception("sweep failed; retrying next round")
            if self._conn is not None and not self._conn.closed:
                self._conn.close()
            self._conn = None
            return None
        self.last, self.last_sweep_at = result, now
        if result.changes or result.marks:
            log.info("sweep", extra={"fields": {
                "patients": result.patients, "busy": result.busy, "changes": result.changes,
                "pages": result.pages, "marks": result.marks}})
        return result
