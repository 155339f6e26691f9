"""The dashboard's pages against the real app and a real PostgreSQL: sign-in, scope (another
team's patient is 404), CSRF, the clinician actions and their audit trail, rules editing."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from web_seed import CLINICIAN_EMAIL, OTHER_EMAIL, PASSWORD, Ward, insert_alert

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def login(client: TestClient, email: str = CLINICIAN_EMAIL, password: str = PASSWORD,
          next_url: str = "/ui/alerts") -> Response:
    form = client.get("/ui/login")
    assert form.status_code == 200
    return client.post("/ui/login", data={"email": email, "password": password,
                                          "csrf_token": csrf_of(form.text), "next": next_url})


def signed_in(client: TestClient) -> str:
    """Sign in as the ward clinician; returns the session's CSRF token."""
    response = login(client)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/ui/alerts").text)


def fresh_alert(ward: Ward, patient: str = "elena", severity: str = "medium") -> int:
    with psycopg.connect(ward.url) as conn:
        alert = insert_alert(conn, ward.patients[patient],
                             rule_key=f"manual:{uuid.uuid4().hex[:8]}", severity=severity,
                             message="Test alert", opened=ward.now)
        conn.commit()
    return alert


def alert_row(ward: Ward, alert: int) -> tuple[str, str | None, str | None]:
    with psycopg.connect(ward.url) as conn:
        row = conn.execute("SELECT state, acknowledged_note, resolution FROM alerts "
                           "WHERE id = %s", (alert,)).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def audit_actions(ward: Ward, entity_id: int | str) -> list[str]:
    with psycopg.connect(ward.url) as conn:
        rows = conn.execute("SELECT action FROM audit_log WHERE entity_id = %s ORDER BY seq",
                            (str(entity_id),)).fetchall()
    return [row[0] for row in rows]


def test_pages_need_a_session(client: TestClient) -> None:
    response = client.get("/ui/patients?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=/ui/patients%3Fx%3D1"
    fragment = client.get("/ui/alerts/queue", headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["hx-redirect"].startswith("/ui/login")
    assert client.get("/ui/stream").status_code == 401
    assert client.get("/ui/").headers["location"] == "/ui/alerts"


@pytest.mark.parametrize("email", [CLINICIAN_EMAIL, "nobody@northgate.example"])
def test_login_failure_message(client: TestClient, email: str) -> None:
    response = login(client, email=email, password="not the password")
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    # Same words for an unknown user and a wrong password; the address typed is kept.
    assert f'value="{email}"' in response.text
    assert "vigil_session" not in response.headers.get("set-cookie", "")


def test_login_form_must_come_from_our_page(client: TestClient) -> None:
    client.get("/ui/login")
    client.cookies.clear()  # a cross-site post carries no SameSite=Strict cookie
    response = client.post("/ui/login", data={"email": CLINICIAN_EMAIL, "password": PASSWORD,
                                              "csrf_token": "forged", "next": "/ui/alerts"})
    assert response.status_code == 403 and "expired" in response.text
    assert "vigil_session" not in response.headers.get("set-cookie", "")


def test_login_sets_a_strict_httponly_session_and_is_audited(client: TestClient,
                                                             ward: Ward) -> None:
    response = login(client, next_url=f"/ui/patients/{ward.patients['david']}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/patients/{ward.patients['david']}"
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith("vigil_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "auth.sign_in" in audit_actions(ward, ward.clinician)
    page = client.get(response.headers["location"])
    assert page.status_code == 200 and "David Hughes" in page.text


def test_open_redirect_after_login_is_refused(client: TestClient) -> None:
    response = login(client, next_url="https://evil.example/")
    assert response.headers["location"] == "/ui/alerts"


def test_queue_in_severity_order_for_own_teams_only(client: TestClient, ward: Ward) -> None:
    signed_in(client)
    page = client.get("/ui/alerts")
    assert page.status_code == 200
    text = page.text
    assert "Harriet Cole" not in text  # another team's patient
    order = [text.index(name) for name in ("Margaret Okafor", "David Hughes", "John Whitfield",
                                           "Samuel Osei")]
    assert order == sorted(order)  # high, medium, low, then snoozed last
    assert "84 %" in text and "measured" in text and "min ago" in text
    assert "Cause: gateway offline" in text
    assert "Snoozed until" in text
    # Security headers on every page; no caching of patient data.
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"


def test_another_teams_patient_is_404(client: TestClient, ward: Ward) -> None:
    token = signed_in(client)
    hidden = ward.patients["hidden"]
    for path in (f"/ui/patients/{hidden}", f"/ui/patients/{hidden}/rules",
                 "/ui/patients/999999", f"/ui/alerts/{ward.alerts['hidden']}/history"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Harriet" not in response.text
    saved = client.post(f"/ui/patients/{hidden}/rules",
                        data={"csrf_token": token, "mode": "json", "condition": "copd",
                              "version": "0", "overrides": "{}"})
    assert saved.status_code == 404
    acted = client.post(f"/ui/alerts/{ward.alerts['hidden']}/acknowledge",
                        data={"csrf_token": token, "note": "not mine"})
    assert acted.status_code == 404
    assert alert_row(ward, ward.alerts["hidden"])[0] == "open"


@pytest.mark.parametrize(("data", "headers"), [
    ({"note": "no token"}, {}),
    ({"note": "wrong token", "csrf_token": "0" * 64}, {}),
    ({"note": "right token, other site"}, {"Origin": "https://evil.example"}),
    ({"note": "right token, other site"}, {"Sec-Fetch-Site": "cross-site"}),
])
def test_csrf_rejection(client: TestClient, ward: Ward, data: dict[str, str],
                        headers: dict[str, str]) -> None:
    token = signed_in(client)
    alert = fresh_alert(ward)
    if "right token" in data["note"]:
        data = {**data, "csrf_token": token}
    response = client.post(f"/ui/alerts/{alert}/acknowledge", data=data, headers=headers)
    assert response.status_code == 403
    assert "refused" in response.text
    assert alert_row(ward, alert) == ("open", None, None)
    assert "alert.acknowledge" not in audit_actions(ward, alert)


def test_acknowledge_with_a_note_is_recorded_and_audited(client: TestClient, ward: Ward) -> None:
    token = signed_in(client)
    alert = fresh_alert(ward)
    response = client.post(f"/ui/alerts/{alert}/acknowledge",
                           data={"csrf_token": token, "note": "Phoned, coming in"})
    assert response.status_code == 303 and response.headers["location"] == "/ui/alerts"
    assert alert_row(ward, alert) == ("acknowledged", "Phoned, coming in", None)
    assert audit_actions(ward, alert) == ["alert.acknowledge"]
    # An htmx post (token in the header, as the page sends it) gets the queue back.
    again = client.post(f"/ui/alerts/{alert}/acknowledge", data={"note": "twice"},
                        headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert again.status_code == 200 and 'id="queue"' in again.text
    assert "notice-error" in again.text  # acknowledging twice is refused, and says so


def test_resolve_needs_a_note_and_snooze_respects_the_policy(client: TestClient,
                                                             ward: Ward) -> None:
    token = signed_in(client)
    alert = fresh_alert(ward, severity="low")
    response = client.post(f"/ui/alerts/{alert}/resolve", data={"csrf_token": token,
                                                                "note": "   "})
    assert response.status_code == 422 and "needs a note" in response.text
    too_long = client.post(f"/ui/alerts/{alert}/snooze",
                           data={"csrf_token": token, "minutes": str(48 * 60)})
    assert too_long.status_code == 409 and "snooze longer" in too_long.text
    assert alert_row(ward, alert)[0] == "open"
    done = client.post(f"/ui/alerts/{alert}/resolve",
                       data={"csrf_token": token, "note": "Duplicate of earlier alert"})
    assert done.status_code == 303
    assert alert_row(ward, alert) == ("resolved", None, "Duplicate of earlier alert")
    assert audit_actions(ward, alert) == ["alert.resolve"]


def test_patient_list_shows_monitoring_and_stale_values(client: TestClient, ward: Ward) -> None:
    signed_in(client)
    page = client.get("/ui/patients")
    assert page.status_code == 200
    rows = page.text.split("<tr")
    john = next(r for r in rows if "John Whitfield" in r)
    assert "Stopped" in john and "Offline" in john and "STALE" in john
    assert "21 h ago" in john  # the stale value still shows when it was measured
    grace = next(r for r in rows if "Grace Adeyemi" in r)
    assert "Not enrolled" in grace
    margaret = next(r for r in rows if "Margaret Okafor" in r)
    assert "Low battery 15%" in margaret
    assert "Harriet Cole" not in page.text


def test_patient_page_charts_news2_and_history(client: TestClient, ward: Ward) -> None:
    signed_in(client)
    margaret = ward.patients["margaret"]
    for range_ in ("24h", "7d", "30d"):
        page = client.get(f"/ui/patients/{margaret}?range={range_}")
        assert page.status_code == 200, range_
        assert page.text.count('<svg class="chart"') == 3
        assert "&lt; 84 High" in page.text  # the patient's COPD threshold, in words
    page = client.get(f"/ui/patients/{margaret}?range=24h")
    assert "questionable" in page.text and "ch-late" in page.text
    assert "Incomplete" in page.text and "No score" in page.text
    assert "Settled after rest; reviewed" in page.text  # resolved alerts keep their history
    assert client.get(f"/ui/patients/{margaret}?range=1y").status_code == 422


def test_rules_changes_are_audited_and_conflicts_refused(client: TestClient, ward: Ward) -> None:
    token = signed_in(client)
    david = ward.patients["david"]
    page = client.get(f"/ui/patients/{david}/rules")
    assert page.status_code == 200 and "Heart failure" in page.text
    form = {"csrf_token": token, "mode": "values", "condition": "heart_failure", "version": "1",
            "th.spo2.present": "1", "th.spo2.enabled": "on", "th.spo2.limit.0": "93",
            "th.spo2.limit.1": "92", "th.spo2.limit.2": "88", "th.spo2.limit.3": "85",
            "th.spo2.hysteresis": "1", "th.spo2.sustain": "15"}
    saved = client.post(f"/ui/patients/{david}/rules", data=form)
    assert saved.status_code == 303, saved.text
    with psycopg.connect(ward.url) as conn:
        row = conn.execute("SELECT version, overrides FROM rule_settings WHERE patient_id = %s",
                           (david,)).fetchone()
        audit = conn.execute("SELECT actor_id, details FROM audit_log WHERE patient_id = %s "
                             "AND action = 'rules.update' ORDER BY seq DESC LIMIT 1",
                             (david,)).fetchone()
    assert row is not None and row[0] == 2
    assert row[1]["thresholds"]["spo2"]["limits"][0]["value"] == 93
    assert audit is not None and audit[0] == ward.clinician
    assert audit[1]["after"]["overrides"] == row[1]
    shown = client.get(saved.headers["location"])
    assert "Saved." in shown.text and "default 94" in shown.text
    stale_edit = client.post(f"/ui/patients/{david}/rules", data=form)  # still says version 1
    assert stale_edit.status_code == 409 and "changed meanwhile" in stale_edit.text
    bad = client.post(f"/ui/patients/{david}/rules",
                      data={**form, "version": "2", "th.spo2.limit.0": "lots"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    bad_json = client.post(f"/ui/patients/{david}/rules",
                           data={"csrf_token": token, "mode": "json", "version": "2",
                                 "condition": "heart_failure", "overrides": '{"v": 2}'})
    assert bad_json.status_code == 422 and "cannot be overridden" in bad_json.text


def test_logout_ends_the_session(client: TestClient, ward: Ward) -> None:
    token = signed_in(client)
    response = client.post("/ui/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?signed_out=true"
    assert client.get("/ui/alerts").status_code == 303
    assert "auth.sign_out" in audit_actions(ward, ward.clinician)


def test_a_deactivated_user_is_signed_out_at_once(client: TestClient, ward: Ward) -> None:
    assert login(client, email=OTHER_EMAIL).status_code == 303
    assert client.get("/ui/patients").status_code == 200
    with psycopg.connect(ward.url) as conn:
        conn.execute("UPDATE users SET active = false WHERE id = %s", (ward.other_clinician,))
        conn.commit()
    try:
        assert client.get("/ui/patients").status_code == 303
    finally:
        with psycopg.connect(ward.url) as conn:
            conn.execute("UPDATE users SET active = true WHERE id = %s", (ward.other_clinician,))
            conn.commit()


def test_static_files_and_no_traversal(client: TestClient) -> None:
    response = client.get("/ui/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200 and "javascript" in response.headers["content-type"]
    assert "immutable" in response.headers["cache-control"]
    assert client.get("/ui/static/vendor/htmx-2.0.11.LICENSE.txt").status_code == 200
    for path in ("/ui/static/../session.py", "/ui/static/%2e%2e/session.py",
                 "/ui/static/nothing.js"):
        assert client.get(path).status_code == 404, path


def test_dashboard_is_not_in_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/ui")]
