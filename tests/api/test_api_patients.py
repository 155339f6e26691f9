"""Patients and enrolments: registration (admin), enrolment of devices through gateways."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from api_helpers import World, nhs_number
from fastapi.testclient import TestClient

from api.models.patients import nhs_number_valid


@pytest.mark.parametrize(("text", "valid"), [
    ("9434765919", True),
    ("9434765918", False),
    ("943476591", False),
    ("94347659190", False),
    ("943476591a", False),
    ("٩٤٣٤٧٦٥٩١٩", False),  # Arabic-Indic digits are digits, but not ASCII
    ("0000000000", True),
])
def test_nhs_number_check_digit(text: str, valid: bool) -> None:
    assert nhs_number_valid(text) is valid


def test_admin_registers_a_patient(own_client: TestClient, own_world: World) -> None:
    response = own_client.post("/patients", headers=own_world.headers("admin"), json={
        "nhs_number": "943 476 5919", "display_name": "New Patient",
        "date_of_birth": "1951-02-03", "team_ids": [own_world.team_a]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["nhs_number"] == "9434765919" and body["team_ids"] == [own_world.team_a]
    # Team A's clinician now sees the patient; team B's does not.
    assert own_client.get(f"/patients/{body['id']}",
                          headers=own_world.headers("alice")).status_code == 200
    assert own_client.get(f"/patients/{body['id']}",
                          headers=own_world.headers("bob")).status_code == 404
    again = own_client.post("/patients", headers=own_world.headers("admin"), json={
        "nhs_number": "9434765919", "display_name": "Twin", "team_ids": [own_world.team_a]})
    assert again.status_code == 409


@pytest.mark.parametrize("body", [
    {"nhs_number": "9434765918", "display_name": "X", "team_ids": [1]},
    {"nhs_number": nhs_number(5), "display_name": "", "team_ids": [1]},
    {"nhs_number": nhs_number(6), "display_name": "X", "team_ids": []},
    {"nhs_number": nhs_number(7), "display_name": "X", "team_ids": [999]},
    {"nhs_number": nhs_number(8), "display_name": "X", "team_ids": [1],
     "date_of_birth": "2999-01-01"},
])
def test_bad_registrations_are_422(client: TestClient, world: World,
                                   body: dict[str, Any]) -> None:
    response = client.post("/patients", headers=world.headers("admin"), json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 422


def test_enrol_and_end(own_client: TestClient, own_world: World) -> None:
    w = own_world
    url = f"/patients/{w.patient_a}/enrolments"
    headers = w.headers("alice")
    created = own_client.post(url, headers=headers, json={
        "gateway_id": w.gateway_a, "device_address": "dd:00:00:00:00:05", "model": "Cuff"})
    assert created.status_code == 201, created.text
    enrolment = created.json()
    assert enrolment["device_address"] == "DD:00:00:00:00:05" and enrolment["active"] is True
    # The same device cannot measure another patient at the same time.
    clash = own_client.post(f"/patients/{w.patient_b}/enrolments", headers=w.headers("bob"),
                            json={"gateway_id": w.gateway_b,
                                  "device_address": "DD:00:00:00:00:05"})
    assert clash.status_code == 409
    unknown_gateway = own_client.post(url, headers=headers, json={
        "gateway_id": "gw-nowhere", "device_address": "EE:00:00:00:00:01"})
    assert unknown_gateway.status_code == 404
    ended = own_client.post(f"{url}/{enrolment['id']}/end", headers=headers,
                            json={"reason": "returned the cuff"})
    assert ended.status_code == 200 and ended.json()["active"] is False
    assert own_client.post(f"{url}/{enrolment['id']}/end", headers=headers,
                           json={}).status_code == 409
    listed = own_client.get(url, headers=headers).json()["enrolments"]
    assert {e["device_address"] for e in listed} == {"AA:00:00:00:00:01", "DD:00:00:00:00:05"}
    with psycopg.connect(w.url) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions == ["enrolment.create", "enrolment.end"]
