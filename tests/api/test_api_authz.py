"""Object-level authorisation: a clinician sees only their care teams' patients. Another
team's patient is a 404 (never a 403) on every patient-scoped route, and nothing changes."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from api_helpers import SECRET, World, bearer, password_hash, token_for
from fastapi.testclient import TestClient

from api.app import create_app
from api.security import Role
from api.settings import ApiSettings
from ingest import registry

P, A, E = "{patient}", "{alert}", "{enrolment}"

# (method, path, JSON body) for every route that reaches one patient's data.
PATIENT_SCOPED: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", f"/patients/{P}", None),
    ("GET", f"/patients/{P}/enrolments", None),
    ("POST", f"/patients/{P}/enrolments",
     {"gateway_id": "gw-b", "device_address": "CC:00:00:00:00:09"}),
    ("POST", f"/patients/{P}/enrolments/{E}/end", {"reason": "discharged"}),
    ("GET", f"/patients/{P}/rules", None),
    ("PUT", f"/patients/{P}/rules", {"condition": "copd"}),
    ("GET", f"/patients/{P}/readings?metric=spo2", None),
    ("GET", f"/patients/{P}/readings?metric=spo2&resolution=raw", None),
    ("GET", f"/patients/{P}/status", None),
    ("GET", f"/patients/{P}/alerts", None),
    ("GET", f"/alerts/{A}", None),
    ("POST", f"/alerts/{A}/acknowledge", {"note": "seen"}),
    ("POST", f"/alerts/{A}/resolve", {"note": "fine"}),
    ("POST", f"/alerts/{A}/snooze", {"minutes": 30}),
    ("GET", f"/fhir/Patient/{P}", None),
    ("GET", f"/fhir/Patient/{P}/$everything", None),
    ("GET", f"/fhir/Observation?patient={P}", None),
    ("GET", f"/fhir/Observation?patient=Patient/{P}", None),
    ("GET", f"/fhir/Flag?patient={P}", None),
    ("GET", f"/fhir/Device?patient={P}", None),
]


def _url(template: str, patient: int, alert: int, enrolment: int) -> str:
    return (template.replace(P, str(patient)).replace(A, str(alert))
            .replace(E, str(enrolment)))


def test_the_table_covers_every_patient_scoped_operation() -> None:
    app = create_app(ApiSettings(jwt_secret=SECRET))  # type: ignore[arg-type]
    listed = {(m, t.split("?")[0].replace(P, "{patient_id}").replace(A, "{alert_id}")
               .replace(E, "{enrolment_id}")) for m, t, _ in PATIENT_SCOPED}
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            scoped = ("{patient_id}" in path or "{alert_id}" in path
                      or path.startswith("/fhir/"))
            if scoped:
                assert (method.upper(), path.replace("{patient}", "{patient_id}")) in listed, (
                    f"{method.upper()} {path} is patient-scoped: add it to PATIENT_SCOPED")


def _snapshot(url: str, patient: int) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        return (
            conn.execute("SELECT id, state, snoozed_until, updated_at FROM alerts "
                         "WHERE patient_id = %s ORDER BY id", (patient,)).fetchall(),
            conn.execute("SELECT * FROM rule_settings WHERE patient_id = %s",
                         (patient,)).fetchall(),
            conn.execute("SELECT id, upper(period) FROM enrolments WHERE patient_id = %s "
                         "ORDER BY id", (patient,)).fetchall(),
            conn.execute("SELECT count(*) FROM audit_log WHERE patient_id = %s",
                         (patient,)).fetchone(),
        )


@pytest.mark.parametrize(("method", "template", "body"), PATIENT_SCOPED)
def test_other_teams_patient_is_404_on_every_route(
    client: TestClient, world: World, method: str, template: str, body: dict[str, Any] | None
) -> None:
    before = _snapshot(world.url, world.patient_b)
    url = _url(template, world.patient_b, world.alert_b, world.enrolment_b)
    response = client.request(method, url, headers=world.headers("alice"), json=body)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/not-found")
    assert _snapshot(world.url, world.patient_b) == before
    # The same request is fine for the patient's own team (GETs only: no side effects).
    if method == "GET":
        own = client.request(method, url, headers=world.headers("bob"))
        assert own.status_code == 200, own.text


@pytest.mark.parametrize(("method", "template", "body"),
                         [r for r in PATIENT_SCOPED if r[0] == "GET"])
def test_a_missing_patient_looks_exactly_like_a_forbidden_one(
    client: TestClient, world: World, method: str, template: str, body: dict[str, Any] | None
) -> None:
    forbidden = client.get(_url(template, world.patient_b, world.alert_b, world.enrolment_b),
                           headers=world.headers("alice"))
    missing = client.get(_url(template, 999_999, 999_999_999, 999_999),
                         headers=world.headers("alice"))
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.json()["detail"] == missing.json()["detail"]


def test_lists_show_only_own_teams_patients_and_alerts(client: TestClient,
                                                       world: World) -> None:
    alice = world.headers("alice")
    patients = client.get("/patients", headers=alice).json()["patients"]
    assert [p["id"] for p in patients] == [world.patient_a]
    queue = client.get("/alerts", headers=alice).json()["alerts"]
    assert {a["patient_id"] for a in queue} == {world.patient_a}
    filtered = client.get(f"/alerts?patient_id={world.patient_b}", headers=alice)
    assert filtered.status_code == 200 and filtered.json()["alerts"] == []
    everything = client.get("/alerts?state=resolved&state=open&state=acknowledged",
                            headers=alice).json()["alerts"]
    assert world.alert_b not in {a["id"] for a in everything}


def test_admin_sees_the_organisation_but_not_another(client: TestClient, world: World) -> None:
    admin = world.headers("admin")
    ids = {p["id"] for p in client.get("/patients", headers=admin).json()["patients"]}
    assert {world.patient_a, world.patient_b} <= ids
    with psycopg.connect(world.url) as conn:
        other_org = registry.create_organisation(conn, "Another Trust")
        stranger = registry.create_user(conn, other_org, "stranger@example.net", "Stranger",
                                         password_hash(), role="admin")
        conn.commit()
    headers = bearer(token_for(stranger, Role.ADMIN))
    assert client.get(f"/patients/{world.patient_a}", headers=headers).status_code == 404
    assert client.get(f"/alerts/{world.alert_a}", headers=headers).status_code == 404
    assert client.get("/patients", headers=headers).json()["patients"] == []
    assert client.get(f"/gateways/{world.gateway_a}", headers=headers).status_code == 404


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/gateways", None),
    ("POST", "/gateways", {"id": "gw-new"}),
    ("GET", "/audit", None),
    ("GET", "/audit/verify", None),
    ("POST", "/patients", {"nhs_number": "9434765919", "display_name": "X", "team_ids": [1]}),
])
def test_admin_routes_are_403_for_clinicians(
    client: TestClient, world: World, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = client.request(method, path, headers=world.headers("alice"), json=body)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
