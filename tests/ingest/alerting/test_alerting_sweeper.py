"""The sweeper against a real PostgreSQL, on an explicit clock: missing data with its cause,
snooze expiry, escalation, NEWS2 freshness, idempotence and the one-sweep-at-a-time lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from alerting_helpers import Ward, alerts, events, incoming, pages, reading, series, snapshot, write

from ingest.alerting import Sweeper, SweeperThread, SweepResult
from ingest.alerting.sweeper import SWEEP_LOCK
from ingest.writer import BatchWriter
from vigil.messages import GatewayState, GatewayStatus, encode
from vigil.metrics import Metric
from vigil.rules import AlertState, AlertStatus, EscalationPolicy, Severity, snooze
from vigil.topics import Channel

MINUTE = timedelta(minutes=1)


def sweep(ward: Ward, now: datetime) -> SweepResult:
    with psycopg.connect(ward.url, autocommit=True) as conn:
        return Sweeper(chunk=2).sweep(conn, now)


def gateway_says(ward: Ward, state: GatewayState) -> None:
    """The gateway's status (or its last will) through the real writer, as ingest gets it."""
    status = GatewayStatus(gateway_id=ward.gateway, state=state, at=datetime.now(UTC))
    with psycopg.connect(ward.url) as conn:
        BatchWriter.prepare(conn)
        BatchWriter().write(conn, [incoming(ward.gateway, [], Channel.STATUS, encode(status))])


def high_alert(ward: Ward) -> dict[str, object]:
    """A high SpO2 alert opened (and paged) by the hook just now."""
    write(ward, [reading(ward.device, Metric.SPO2, 84.0, datetime.now(UTC) - MINUTE)])
    (alert,) = alerts(ward, "threshold:spo2")
    return alert


def test_gateway_offline_opens_missing_data_alerts_naming_the_cause(ward: Ward) -> None:
    now = datetime.now(UTC)
    write(ward, series(ward.device, Metric.SPO2, [97.0] * 3, now - 20 * MINUTE))
    gateway_says(ward, GatewayState.OFFLINE)  # the last will

    first = sweep(ward, now)
    (missing,) = alerts(ward, "missing:spo2")
    assert missing["cause"] == "gateway_offline"
    assert "most likely cause: gateway offline" in missing["message"]
    assert (missing["severity"], missing["state"], missing["late"]) == ("medium", "open", False)
    assert missing["details"]["evaluation"]["causes"][0] == "gateway_offline"
    assert [p["action"] for p in pages(ward, missing["id"])] == ["create"]
    # Never-measured schedules are missing too, for the same reason.
    for key in ("missing:systolic_bp", "missing:body_temperature"):
        assert alerts(ward, key)[0]["cause"] == "gateway_offline"
    assert len(alerts(ward)) == 3 and len(pages(ward)) == 3
    assert first.patients == 2  # the fleet's other patient too (never measured at all)

    # Back online but the oximeter is still silent: the cause moves on, one event.
    gateway_says(ward, GatewayState.ONLINE)
    sweep(ward, now + MINUTE)
    sweep(ward, now + 2 * MINUTE)
    (missing,) = alerts(ward, "missing:spo2")
    assert missing["cause"] == "device_not_seen"
    assert [e["action"] for e in events(ward, missing["id"])] == ["create", "update"]

    # Readings resume: the next sweep resolves it, with the reason, as the rule allows.
    write(ward, [reading(ward.device, Metric.SPO2, 97.0, now + 2 * MINUTE)])
    sweep(ward, now + 3 * MINUTE)
    (missing,) = alerts(ward, "missing:spo2")
    assert missing["state"] == "resolved" and missing["resolution_source"] == "rule"
    assert missing["resolved_by"] is None and "on schedule" in missing["resolution"]
    assert missing["cause"] == "device_not_seen"  # the record keeps why it was missing


def test_snooze_expiry_unsnoozes_and_pages_on_time(ward: Ward) -> None:
    alert = high_alert(ward)
    now = datetime.now(UTC)
    until = now + 30 * MINUTE
    with psycopg.connect(ward.url) as conn:  # what the API does for a clinician's snooze
        state = AlertState(rule_key="threshold:spo2", severity=Severity.HIGH,
                           opened_at=alert["opened_at"], updated_at=now,
                           last_evidence_at=alert["last_evidence_at"])
        snoozed = snooze(state, now=now, until=until, policy=EscalationPolicy())
        conn.execute("UPDATE alerts SET snoozed_until = %s, last_action = 'snooze' "
                     "WHERE id = %s", (snoozed.snoozed_until, alert["id"]))

    sweep(ward, until - timedelta(seconds=1))
    (still,) = alerts(ward, "threshold:spo2")
    assert still["snoozed_until"] == until and still["escalation_level"] == 0
    assert [p["action"] for p in pages(ward, alert["id"])] == ["create"]

    sweep(ward, until)
    (woken,) = alerts(ward, "threshold:spo2")
    assert woken["snoozed_until"] is None and woken["paged_at"] == until
    assert events(ward, alert["id"])[-1]["action"] == "unsnooze"
    assert [p["action"] for p in pages(ward, alert["id"])] == ["create", "unsnooze"]


def test_escalation_follows_the_policy_from_the_last_page(ward: Ward) -> None:
    alert = high_alert(ward)
    paged = alert["paged_at"]
    assert isinstance(paged, datetime)
    wait = EscalationPolicy().ack_within[Severity.HIGH]
    assert wait == 15 * MINUTE

    def level_at(moment: datetime) -> int:
        sweep(ward, moment)
        (row,) = alerts(ward, "threshold:spo2")
        return int(row["escalation_level"])

    assert level_at(paged + wait - timedelta(seconds=1)) == 0
    assert level_at(paged + wait) == 1
    assert level_at(paged + wait) == 1  # the same instant again: nothing more
    assert level_at(paged + 2 * wait - timedelta(seconds=1)) == 1  # timed from the last page
    assert level_at(paged + 2 * wait) == 2
    assert level_at(paged + 10 * wait) == 2  # at most max_escalations
    (row,) = alerts(ward, "threshold:spo2")
    assert row["escalated_at"] == paged + 2 * wait
    escalations = [p for p in pages(ward, alert["id"]) if p["action"] == "escalate"]
    assert [(p["at"], p["escalation_level"]) for p in escalations] == [
        (paged + wait, 1), (paged + 2 * wait, 2)]


def test_acknowledged_alerts_do_not_escalate(ward: Ward) -> None:
    alert = high_alert(ward)
    with psycopg.connect(ward.url) as conn:
        conn.execute("UPDATE alerts SET state = 'acknowledged', acknowledged_at = now() "
                     "WHERE id = %s", (alert["id"],))
    sweep(ward, datetime.now(UTC) + 2 * timedelta(hours=1))
    (row,) = alerts(ward, "threshold:spo2")
    assert row["state"] == AlertStatus.ACKNOWLEDGED and row["escalation_level"] == 0


def test_a_stale_news2_alert_is_marked_once(ward: Ward) -> None:
    write(ward, [reading(ward.device, Metric.SPO2, 90.0, datetime.now(UTC) - MINUTE)])
    (news2,) = alerts(ward, "news2")
    later = news2["last_evidence_at"] + timedelta(hours=1, minutes=1)
    sweep(ward, later)
    sweep(ward, later + MINUTE)
    (news2,) = alerts(ward, "news2")
    assert news2["details"]["stale"] is True and news2["state"] == "open"
    assert [e["action"] for e in events(ward, news2["id"])].count("stale") == 1
    # Fresh evidence replaces the stale mark.
    write(ward, [reading(ward.device, Metric.SPO2, 90.0, datetime.now(UTC))])
    assert "stale" not in alerts(ward, "news2")[0]["details"]


def test_sweeping_twice_at_the_same_instant_changes_nothing(ward: Ward) -> None:
    alert = high_alert(ward)
    gateway_says(ward, GatewayState.OFFLINE)
    now = alert["paged_at"] + timedelta(minutes=20)  # type: ignore[operator]
    first = sweep(ward, now)
    assert first.ran and first.changes >= 4  # escalation + three missing-data alerts
    before = snapshot(ward.url)
    second = sweep(ward, now)
    assert (second.changes, second.pages, second.marks) == (0, 0, 0)
    assert snapshot(ward.url) == before  # oracle: every row the engine writes, unchanged


def test_one_sweep_at_a_time_and_busy_patients_wait_for_the_next(ward: Ward) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(ward.url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (SWEEP_LOCK,))
        assert sweep(ward, now).ran is False  # another worker is sweeping
        other.execute("SELECT pg_advisory_unlock(%s)", (SWEEP_LOCK,))
    with psycopg.connect(ward.url) as ingest:
        ingest.execute("INSERT INTO rule_state (patient_id, state) VALUES (%s, '{}')",
                       (ward.patient_id,))
        ingest.commit()
        # An ingest transaction holds the patient (as the hook does while writing).
        ingest.execute("SELECT 1 FROM rule_state WHERE patient_id = %s FOR UPDATE",
                       (ward.patient_id,))
        busy = sweep(ward, now)
        assert busy.ran and busy.busy == 1 and alerts(ward) == []
    assert sweep(ward, now).busy == 0 and alerts(ward)  # swept once free


def test_the_sweeper_thread_survives_a_database_it_cannot_reach(ward: Ward) -> None:
    from devstack.ports import free_port

    thread = SweeperThread(f"postgresql://postgres@127.0.0.1:{free_port()}/none", 60)
    assert thread.run_once() is None and thread.errors == 1
    thread.database_url = ward.url  # the database is back
    result = thread.run_once()
    assert result is not None and result.ran and thread.last_sweep_at is not None
    thread.stop()
