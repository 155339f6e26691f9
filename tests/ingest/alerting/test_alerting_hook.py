"""The alerting hook inside the real writer against a real PostgreSQL: readings in, alert rows,
alert_events, pages and rule state out, all in the readings' transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from alerting_helpers import (
    Ward,
    alerts,
    events,
    pages,
    reading,
    rows,
    series,
    set_rules,
    snapshot,
    write,
)
from ingest_helpers import Fleet

from ingest.alerting import AlertingHook
from vigil.messages import Origin
from vigil.metrics import Metric
from vigil.quality import QualityFlag

SECOND = timedelta(seconds=1)


def test_a_breaching_spo2_stream_opens_exactly_one_alert_with_its_trigger(ward: Ward) -> None:
    start = datetime.now(UTC) - timedelta(minutes=2)
    stream = series(ward.device, Metric.SPO2, [93.0] * 10 + [93.0, 92.5] * 5, start)
    hook = AlertingHook()
    write(ward, stream[:10], hook)  # 9 s of breach: still building (sustain 15 s)
    assert alerts(ward) == []
    write(ward, stream[10:], hook)

    (alert,) = alerts(ward)  # oracle: one alert, for this rule, nothing else
    assert alert["rule_key"] == "threshold:spo2"
    assert (alert["state"], alert["severity"], alert["late"]) == ("open", "low", False)
    trigger = stream[15]  # the first reading 15 s into the run
    assert alert["trigger_id"] == trigger.id
    assert alert["trigger_value"] == trigger.value == 92.5
    assert alert["trigger_measured_at"] == trigger.measured_at == alert["opened_at"]
    assert alert["trigger_metric"] == 1
    assert alert["last_evidence_at"] == stream[-1].measured_at
    assert alert["last_value"] == stream[-1].value
    assert alert["paged_at"] is not None and "spo2 < 94 (low)" in alert["message"]
    assert alert["details"]["evaluation"]["status"] == "breach"
    assert [e["action"] for e in events(ward, alert["id"])] == ["create", "update"]
    assert all(e["actor_id"] is None for e in events(ward, alert["id"]))
    assert [p["action"] for p in pages(ward)] == ["create"]
    assert hook.stats.readings == 20 and hook.stats.pages == 1


def test_a_worsening_value_raises_severity_in_place(ward: Ward) -> None:
    start = datetime.now(UTC) - timedelta(minutes=2)
    write(ward, series(ward.device, Metric.SPO2, [93.0] * 20, start))
    worse = series(ward.device, Metric.SPO2, [90.0] * 20, start + 20 * SECOND)
    write(ward, worse)
    (alert,) = alerts(ward, "threshold:spo2")
    assert alert["severity"] == "medium"
    assert alert["trigger_id"] == worse[15].id and alert["trigger_value"] == 90.0
    first = datetime.now(UTC)
    write(ward, [reading(ward.device, Metric.SPO2, 84.0, start + 40 * SECOND)])  # immediate

    (alert,) = alerts(ward, "threshold:spo2")
    assert alert["severity"] == "high" and alert["state"] == "open"
    assert alert["trigger_value"] == 84.0
    assert alert["opened_at"] == start + 15 * SECOND  # the same alert, opened by the first run
    history = events(ward, alert["id"])
    assert [e["action"] for e in history] == ["create", "update", "raise_severity",
                                              "update", "raise_severity"]
    assert [(e["from_severity"], e["to_severity"]) for e in history[-1:]] == [("medium", "high")]
    assert [p["action"] for p in pages(ward, alert["id"])] == ["create", "raise_severity",
                                                             "raise_severity"]
    assert pages(ward, alert["id"])[-1]["at"] >= first
    # NEWS2 judged the same readings on its own: SpO2 <= 91 is a single 3 (medium).
    assert alerts(ward, "news2")[0]["severity"] == "medium"


def test_a_redelivered_batch_creates_nothing_new(ward: Ward) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    batch = series(ward.device, Metric.SPO2, [84.0, 83.0, 86.0], start)
    first = write(ward, batch)
    assert first.inserted == 3
    before = snapshot(ward.url)
    assert len(alerts(ward)) == 2  # threshold:spo2 and news2

    again = write(ward, batch)  # the broker redelivers the same message
    assert again.inserted == 0 and again.duplicates == 3
    assert snapshot(ward.url) == before  # oracle: not one alert, event, page or state changed


def test_a_questionable_reading_opens_nothing_and_changes_no_state(ward: Ward) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    artefacts = series(ward.device, Metric.SPO2, [80.0] * 20, start,
                       quality=[QualityFlag.LOW_PERFUSION])
    result = write(ward, artefacts)
    assert result.inserted == 20  # stored and shown, just not trusted
    assert alerts(ward) == []
    with psycopg.connect(ward.url) as conn:
        ((state,),) = conn.execute("SELECT state FROM rule_state").fetchall()
    # No breach run was started or extended: the threshold state knows no reading at all.
    assert all(t["last_at"] is None and t["bands"] == {}
               for t in state.get("thresholds", {}).values())


def test_late_backfill_is_recorded_as_late_and_never_pages(ward: Ward) -> None:
    outage = datetime.now(UTC) - timedelta(hours=3)
    backfill = series(ward.device, Metric.SPO2, [84.0, 83.0], outage, origin=Origin.LATE)
    write(ward, backfill)

    (alert,) = alerts(ward, "threshold:spo2")
    assert alert["late"] is True and alert["paged_at"] is None
    assert alert["trigger_id"] == backfill[0].id
    assert alert["details"]["decision"]["page"] is False
    assert alert["details"]["evaluation"]["late"] is True
    (created, *_) = events(ward, alert["id"])
    assert created["action"] == "create" and "not paged" in created["note"]
    assert pages(ward) == []  # oracle: nobody was paged for old data

    # Live evidence of the same condition confirms it, and only then pages.
    write(ward, [reading(ward.device, Metric.SPO2, 84.0, datetime.now(UTC) - SECOND)])
    (alert,) = alerts(ward, "threshold:spo2")
    assert alert["late"] is False and alert["paged_at"] is not None
    assert [p["action"] for p in pages(ward, alert["id"])] == ["confirm_live"]


def test_news2_alert_from_a_complete_set(ward: Ward) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(ward.url) as conn:
        conn.execute("INSERT INTO news2_context (patient_id, recorded_at, consciousness, "
                     "on_oxygen) VALUES (%s, %s, 'A', false)", (ward.patient_id, now))
    at = now - timedelta(minutes=5)
    # Each parameter scores 1 and none breaches its own threshold rule: NEWS2 5, medium.
    observations = [
        reading(ward.device, Metric.RESPIRATORY_RATE, 10, at),
        reading(ward.device, Metric.SPO2, 95, at),
        reading(ward.devices[1], Metric.SYSTOLIC_BP, 105, at),
        reading(ward.device, Metric.PULSE_RATE, 100, at + SECOND),
        reading(ward.devices[1], Metric.BODY_TEMPERATURE, 35.8, at + 2 * SECOND),
    ]
    write(ward, observations[:2])
    assert alerts(ward) == []  # partial 2: nothing certain yet
    write(ward, observations[2:])

    (alert,) = alerts(ward)
    assert (alert["rule_key"], alert["severity"]) == ("news2", "medium")
    news2 = alert["details"]["evaluation"]["news2"]
    assert news2["complete"] is True and news2["total"] == 5 and news2["missing"] == []
    assert alert["trigger_id"] == observations[-1].id

    # New confusion (C scores 3) on record: the next reading scores 8, high.
    with psycopg.connect(ward.url) as conn:
        conn.execute("INSERT INTO news2_context (patient_id, recorded_at, consciousness) "
                     "VALUES (%s, %s, 'C')", (ward.patient_id, now))
    write(ward, [reading(ward.device, Metric.PULSE_RATE, 100, at + 3 * SECOND)])
    (alert,) = alerts(ward)
    assert alert["severity"] == "high"
    assert alert["details"]["evaluation"]["news2"]["total"] == 8


def test_weight_trend_over_days_from_stored_history(ward: Ward) -> None:
    set_rules(ward, "heart_failure")
    now = datetime.now(UTC)
    days = [(3, 80.0), (2, 80.6), (1, 81.4)]
    for ago, kg in days:  # one flush a day: the trend must come from the stored history
        write(ward, [reading(ward.devices[1], Metric.BODY_WEIGHT, kg,
                             now - timedelta(days=ago) + timedelta(minutes=5))])
    assert alerts(ward) == []
    today = reading(ward.devices[1], Metric.BODY_WEIGHT, 82.3, now - timedelta(minutes=1))
    write(ward, [today])

    (alert,) = alerts(ward)
    assert (alert["rule_key"], alert["severity"]) == ("trend:body_weight", "medium")
    assert alert["trigger_id"] == today.id and alert["trigger_value"] == 82.3
    assert "rise of 2.3" in alert["message"] and "against 80" in alert["message"]
    assert [p["action"] for p in pages(ward)] == ["create"]


def test_unreadable_rule_state_starts_afresh_and_alerting_goes_on(ward: Ward) -> None:
    with psycopg.connect(ward.url) as conn:  # e.g. written by an incompatible version
        conn.execute("INSERT INTO rule_state (patient_id, state) VALUES (%s, %s)",
                     (ward.patient_id, '{"v": 99, "thresholds": "?"}'))
    write(ward, [reading(ward.device, Metric.SPO2, 84.0, datetime.now(UTC) - SECOND)])
    assert alerts(ward, "threshold:spo2")[0]["severity"] == "high"
    with psycopg.connect(ward.url) as conn:
        ((state,),) = conn.execute("SELECT state FROM rule_state").fetchall()
    assert state["v"] == 1 and "threshold:spo2" in state["thresholds"]


def test_a_failing_rule_evaluation_never_loses_the_readings(
    ward: Ward, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the rules")

    monkeypatch.setattr("ingest.alerting.hook.evaluate_stream", broken)
    hook = AlertingHook()
    batch = [reading(ward.device, Metric.SPO2, 84.0, datetime.now(UTC) - SECOND)]
    result = write(ward, batch, hook)
    assert result.inserted == 1 and hook.stats.failures == 1  # stored, and counted
    assert alerts(ward) == []


def test_concurrent_writers_on_one_patient_are_serialised(ward: Ward) -> None:
    """Two ingest workers flushing the same patient at once (e.g. two gateways): the patient
    lock makes the second see the first's alert, so neither a duplicate nor an error."""
    import threading

    start = datetime.now(UTC) - timedelta(minutes=1)
    batches = [series(ward.devices[n], Metric.SPO2, [84.0] * 5, start + n * SECOND,
                      step=2 * SECOND) for n in range(2)]
    errors: list[BaseException] = []

    def flush(readings: list[object]) -> None:
        try:
            write(ward, readings)  # type: ignore[arg-type]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=flush, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    (alert,) = alerts(ward, "threshold:spo2")
    assert len(pages(ward, alert["id"])) == 1


def test_the_pipelined_lock_reads_what_the_two_step_lock_reads(ward: Ward) -> None:
    """store.lock_with_alerts (the hook's one round trip) against lock_patients followed by
    live_alerts (the sweeper's path), on a patient with rule state and a live alert."""
    from ingest.alerting import store

    start = datetime.now(UTC) - timedelta(minutes=2)
    write(ward, series(ward.device, Metric.SPO2, [80.0] * 3, start), AlertingHook())
    assert alerts(ward)  # the no-delay limit opened one
    ids = [ward.patient_id]
    with psycopg.connect(ward.url) as conn, conn.cursor() as cur:
        patients, live = store.lock_with_alerts(cur, ids)
        conn.rollback()
        two_patients = store.lock_patients(cur, ids)
        two_live = store.live_alerts(cur, list(two_patients))
        conn.rollback()
    assert patients.keys() == two_patients.keys() == {ward.patient_id}
    assert live == two_live and live[ward.patient_id]
    for pid, p in patients.items():
        q = two_patients[pid]
        assert (p.rules, p.state, p.consciousness, p.consciousness_at, p.on_oxygen) == (
            q.rules, q.state, q.consciousness, q.consciousness_at, q.on_oxygen)


def test_the_lock_creates_a_first_seen_patients_state_and_locks_everyone(
        fleet: Fleet, ward: Ward) -> None:
    """One patient has rule state (an earlier flush), the other is seen for the first time:
    the lock finds the first, creates the second's row in its second trip, and holds both."""
    from ingest.alerting import store

    start = datetime.now(UTC) - timedelta(minutes=2)
    write(ward, series(ward.device, Metric.SPO2, [97.0] * 3, start), AlertingHook())
    other = fleet.devices[fleet.devices_of(fleet.gateways[1])[0]][0]
    assert other != ward.patient_id

    def stored_states() -> set[int]:
        found = rows(ward.url, "SELECT patient_id FROM rule_state WHERE patient_id = ANY(%s)",
                     [ward.patient_id, other])
        return {r["patient_id"] for r in found}

    assert stored_states() == {ward.patient_id}
    with psycopg.connect(ward.url) as conn, conn.cursor() as cur:
        patients, _ = store.lock_with_alerts(cur, [other, ward.patient_id, other])
        assert patients.keys() == {ward.patient_id, other}
        with psycopg.connect(ward.url, autocommit=True) as probe:
            with pytest.raises(psycopg.errors.LockNotAvailable):
                probe.execute("SELECT 1 FROM rule_state WHERE patient_id = %s "
                              "FOR UPDATE NOWAIT", (ward.patient_id,))
            # The new row is not visible to others yet; creating it again waits for us.
            probe.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                probe.execute("INSERT INTO rule_state (patient_id, state) VALUES (%s, '{}') "
                              "ON CONFLICT (patient_id) DO NOTHING", (other,))
        conn.commit()
    assert stored_states() == {ward.patient_id, other}
