"""Alert lifecycle through the API: every action is recorded in alert_events (by trigger) and
in the audit log; impossible actions are 409; the database guards hold for every writer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from api_helpers import World, insert_alert
from fastapi.testclient import TestClient


def _events(url: str, alert_id: int) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT action, actor_id, from_state, to_state, note FROM alert_events "
            "WHERE alert_id = %s ORDER BY id", (alert_id,)).fetchall()


def _audit(url: str, alert_id: int) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT action, actor_id, patient_id, details->>'note' FROM audit_log "
            "WHERE entity_type = 'alert' AND entity_id = %s ORDER BY seq",
            (str(alert_id),)).fetchall()


def _new_alert(world: World, rule_key: str, severity: str = "medium") -> int:
    with psycopg.connect(world.url) as conn:
        alert_id = insert_alert(conn, world.patient_a, rule_key=rule_key, severity=severity)
        conn.commit()
    return alert_id


def test_acknowledge_is_recorded_and_audited(client: TestClient, world: World) -> None:
    alert_id = _new_alert(world, "threshold:pulse_rate")
    response = client.post(f"/alerts/{alert_id}/acknowledge", headers=world.headers("alice"),
                           json={"note": "calling the patient"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "acknowledged" and body["acknowledged_by"] == world.alice
    assert body["acknowledged_note"] == "calling the patient"
    assert body["last_action"] == "acknowledge"
    assert _events(world.url, alert_id) == [
        ("create", None, None, "open", "SpO2 below 92 % for 15 s"),
        ("acknowledge", world.alice, "open", "acknowledged", "calling the patient"),
    ]
    assert _audit(world.url, alert_id) == [
        ("alert.acknowledge", world.alice, world.patient_a, "calling the patient")]
    again = client.post(f"/alerts/{alert_id}/acknowledge", headers=world.headers("alice"),
                        json={})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert "acknowledged" in again.json()["detail"]
    detail = client.get(f"/alerts/{alert_id}", headers=world.headers("alice")).json()
    assert [e["action"] for e in detail["events"]] == ["create", "acknowledge"]
    assert detail["events"][1]["actor_name"] == "Alice Clinician"


def test_snooze_then_a_rise_in_severity_ends_it(client: TestClient, world: World) -> None:
    alert_id = _new_alert(world, "threshold:heart_rate", severity="low")
    response = client.post(f"/alerts/{alert_id}/snooze", headers=world.headers("alice"),
                           json={"minutes": 30, "note": "re-measure after rest"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["snoozed"] is True and body["snoozed_by"] == world.alice
    until = datetime.fromisoformat(body["snoozed_until"])
    assert timedelta(minutes=29) < until - datetime.now(UTC) <= timedelta(minutes=30)
    assert _audit(world.url, alert_id)[0][:2] == ("alert.snooze", world.alice)
    # Ingest raises the severity without mentioning the snooze: the database ends it.
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET severity = 'high', last_action = 'raise_severity', "
                     "last_reason = 'SpO2 fell further' WHERE id = %s", (alert_id,))
    after = client.get(f"/alerts/{alert_id}", headers=world.headers("alice")).json()
    assert after["severity"] == "high" and after["snoozed"] is False
    assert after["snoozed_until"] is None
    assert [(e["action"], e["actor_id"]) for e in after["events"]] == [
        ("create", None), ("snooze", world.alice), ("raise_severity", None)]


@pytest.mark.parametrize(("body", "status"), [
    ({"minutes": 60 * 25}, 409),  # longer than the policy's 24 h maximum
    ({"until": "1900-01-01T00:00:00Z"}, 422),  # outside the accepted range
    ({"until": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()}, 409),  # in the past
    ({"minutes": 10, "until": "2030-01-01T00:00:00Z"}, 422),  # both
    ({}, 422),  # neither
    ({"until": "2030-01-01T00:00:00"}, 422),  # no time zone
])
def test_bad_snoozes_are_refused(client: TestClient, world: World, body: dict[str, object],
                                 status: int) -> None:
    response = client.post(f"/alerts/{world.alert_a}/snooze", headers=world.headers("alice"),
                           json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_resolve_needs_a_note_and_is_final(client: TestClient, world: World) -> None:
    alert_id = _new_alert(world, "news2", severity="high")
    assert client.post(f"/alerts/{alert_id}/resolve", headers=world.headers("alice"),
                       json={"note": "  "}).status_code == 422
    response = client.post(f"/alerts/{alert_id}/resolve", headers=world.headers("alice"),
                           json={"note": "reviewed on video call; stable"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "resolved" and body["resolution_source"] == "clinician"
    assert body["resolved_by"] == world.alice
    assert body["resolution"] == "reviewed on video call; stable"
    for action, payload in (("acknowledge", {}), ("snooze", {"minutes": 5}),
                            ("resolve", {"note": "again"})):
        refused = client.post(f"/alerts/{alert_id}/{action}", headers=world.headers("alice"),
                              json=payload)
        assert refused.status_code == 409, action
    # The database refuses any writer: resolved alerts and their history are final.
    with psycopg.connect(world.url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE alerts SET state = 'open' WHERE id = %s", (alert_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM alerts WHERE id = %s", (alert_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE alert_events SET note = 'x' WHERE alert_id = %s", (alert_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM alert_events WHERE alert_id = %s", (alert_id,))
    # A new breach of the same rule opens a new alert; two live ones cannot coexist.
    second = _new_alert(world, "news2")
    assert second != alert_id
    with psycopg.connect(world.url) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        insert_alert(conn, world.patient_a, rule_key="news2")


def test_system_change_is_not_attributed_to_the_last_clinician(
    client: TestClient, world: World
) -> None:
    alert_id = _new_alert(world, "trend:body_weight")
    client.post(f"/alerts/{alert_id}/acknowledge", headers=world.headers("alice"), json={})
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET last_value = 88, last_evidence_at = now() "
                     "WHERE id = %s", (alert_id,))
    assert _events(world.url, alert_id)[-1] == ("update", None, "acknowledged",
                                                "acknowledged", None)


def test_queue_order_and_filters(own_client: TestClient, own_world: World) -> None:
    w = own_world
    with psycopg.connect(w.url) as conn:
        low = insert_alert(conn, w.patient_a, rule_key="missing:spo2", severity="low")
        high = insert_alert(conn, w.patient_a, rule_key="news2", severity="high")
        snoozed_high = insert_alert(conn, w.patient_a, rule_key="threshold:pulse_rate",
                                    severity="high")
        older_medium = insert_alert(conn, w.patient_a, rule_key="threshold:heart_rate",
                                    measured_at=datetime.now(UTC) - timedelta(hours=3))
        conn.execute("UPDATE alerts SET snoozed_until = now() + interval '1 hour' "
                     "WHERE id = %s", (snoozed_high,))
        conn.commit()
    headers = w.headers("alice")
    queue = [a["id"] for a in own_client.get("/alerts", headers=headers).json()["alerts"]]
    assert queue == [high, older_medium, w.alert_a, low, snoozed_high]
    highs = own_client.get("/alerts?severity=high", headers=headers).json()["alerts"]
    assert [a["id"] for a in highs] == [high, snoozed_high]
    own_client.post(f"/alerts/{low}/resolve", headers=headers, json={"note": "measured"})
    assert low not in [a["id"] for a in
                       own_client.get("/alerts", headers=headers).json()["alerts"]]
    resolved = own_client.get("/alerts?state=resolved", headers=headers).json()["alerts"]
    assert [a["id"] for a in resolved] == [low]
    since = datetime.now(UTC) + timedelta(minutes=1)
    later = own_client.get("/alerts", headers=headers, params={"since": since.isoformat()})
    assert later.status_code == 200 and later.json()["alerts"] == []
    page = own_client.get("/alerts?limit=2&offset=1", headers=headers).json()
    assert [a["id"] for a in page["alerts"]] == [older_medium, w.alert_a]
    history = own_client.get(f"/patients/{w.patient_a}/alerts", headers=headers).json()
    assert low in [a["id"] for a in history["alerts"]]


def test_alert_carries_evidence_and_its_age(client: TestClient, world: World) -> None:
    alert = client.get(f"/alerts/{world.alert_a}", headers=world.headers("alice")).json()
    assert alert["trigger_metric"] == "spo2" and alert["trigger_unit"] == "%"
    assert alert["trigger_value"] == 90.0 and alert["evidence_age_seconds"] >= 60
    assert alert["patient_name"] == "Patient A"
