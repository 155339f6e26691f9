"""Per-patient rule settings: condition defaults, overrides, optimistic concurrency, audit."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from api_helpers import World
from fastapi.testclient import TestClient

from vigil.rules import defaults_for


def test_defaults_then_override(own_client: TestClient, own_world: World) -> None:
    url = f"/patients/{own_world.patient_a}/rules"
    headers = own_world.headers("alice")
    initial = own_client.get(url, headers=headers).json()
    assert initial["condition"] == "general_adult" and initial["version"] == 0
    assert initial["ruleset"] == defaults_for("general_adult").model_dump(mode="json")
    assert initial["spo2_scale"] == 1
    overrides = {"thresholds": {"spo2": {"sustain": "PT30S"}}, "news2": {"spo2_scale": 1}}
    saved = own_client.put(url, headers=headers, json={"condition": "copd",
                                                       "overrides": overrides, "version": 0})
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["version"] == 1 and body["updated_by"] == own_world.alice
    assert body["ruleset"]["condition"] == "copd"
    assert body["ruleset"]["thresholds"]["spo2"]["sustain"] == "PT30S"
    assert body["spo2_scale"] == 1  # COPD defaults to scale 2; overridden here
    assert own_client.get(url, headers=headers).json() == body
    with psycopg.connect(own_world.url) as conn:
        audit = conn.execute("SELECT action, actor_id, details FROM audit_log").fetchall()
    assert audit == [("rules.update", own_world.alice, {
        "before": None, "after": {"condition": "copd", "overrides": overrides}, "version": 1})]


def test_stale_version_is_a_conflict(own_client: TestClient, own_world: World) -> None:
    url = f"/patients/{own_world.patient_a}/rules"
    headers = own_world.headers("alice")
    assert own_client.put(url, headers=headers,
                          json={"condition": "copd", "version": 0}).status_code == 200
    late = own_client.put(url, headers=headers,
                          json={"condition": "heart_failure", "version": 0})
    assert late.status_code == 409
    assert late.headers["content-type"] == "application/problem+json"
    assert own_client.get(url, headers=headers).json()["condition"] == "copd"


@pytest.mark.parametrize("body", [
    {"condition": "asthma"},
    {"condition": "copd", "overrides": {"thresholds": {"spo2": {"sustian": "PT30S"}}}},
    {"condition": "copd", "overrides": {"condition": "general_adult"}},
    {"condition": "copd", "overrides": {"news2": {"spo2_scale": 3}}},
    {"condition": "copd", "overrides": {"bp_average": {"timezone": "Mars/Olympus"}}},
    {"condition": "copd", "overrides": {"thresholds": {"spo2": {
        "limits": [{"op": "<", "value": 200, "severity": "high"}]}}}},
])
def test_invalid_settings_are_422_and_change_nothing(
    client: TestClient, world: World, body: dict[str, Any]
) -> None:
    url = f"/patients/{world.patient_a}/rules"
    before = client.get(url, headers=world.headers("alice")).json()
    response = client.put(url, headers=world.headers("alice"), json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get(url, headers=world.headers("alice")).json() == before
