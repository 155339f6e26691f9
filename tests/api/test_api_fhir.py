"""FHIR R4 export, validated with fhir.resources' R4B models: vital-signs Observations with
LOINC, UCUM and IEEE 11073 MDC codes, blood pressure as the 85354-9 panel, Device, Patient
with its NHS number, alerts as Flags, in searchset Bundles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from api_helpers import World, insert_readings
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from api import fhir
from vigil.metrics import CATALOGUE, Metric

MODELS = {"Patient": Patient, "Observation": Observation, "Device": Device, "Flag": Flag}
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def validate_bundle(body: dict[str, Any]) -> list[dict[str, Any]]:
    Bundle.model_validate(body)
    assert body["type"] == "searchset"
    resources = [entry["resource"] for entry in body["entry"]]
    for resource in resources:
        MODELS[resource["resourceType"]].model_validate(resource)
    return resources


def codes(concept: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept["coding"]}


@pytest.mark.parametrize("metric", list(Metric))
def test_every_metric_maps_to_a_valid_observation(metric: Metric) -> None:
    spec = CATALOGUE[metric]
    reading = fhir.ReadingRecord("0b5e9c0e-5d7c-4c39-9a57-2a0f4b1f9a11", spec.number, 42.5,
                                 T0, T0 + timedelta(seconds=3), 7, "live", ())
    resource = fhir.observation(reading, 3)
    Observation.model_validate(resource)
    assert (fhir.LOINC, spec.loinc) in codes(resource["code"])
    assert (fhir.MDC, str(spec.mdc_code)) in codes(resource["code"])
    assert resource["valueQuantity"] == {"value": 42.5, "unit": spec.ucum,
                                         "system": fhir.UCUM, "code": spec.ucum}
    category = resource["category"][0]["coding"][0]["code"]
    assert category == ("laboratory" if metric is Metric.BLOOD_GLUCOSE else "vital-signs")
    assert resource["subject"] == {"reference": "Patient/3"}
    assert resource["device"] == {"reference": "Device/7"}


@pytest.fixture
def clinic(own_world: World) -> World:
    w = own_world
    with psycopg.connect(w.url) as conn:
        insert_readings(conn, w.patient_a, w.device_a, Metric.SYSTOLIC_BP, [(T0, 142)])
        insert_readings(conn, w.patient_a, w.device_a, Metric.DIASTOLIC_BP, [(T0, 91)])
        insert_readings(conn, w.patient_a, w.device_a, Metric.MEAN_ARTERIAL_PRESSURE,
                        [(T0, 108)])
        insert_readings(conn, w.patient_a, w.device_a, Metric.SYSTOLIC_BP,
                        [(T0 + timedelta(hours=1), 150)])  # a lone systolic
        insert_readings(conn, w.patient_a, w.device_a, Metric.SPO2,
                        [(T0 + timedelta(hours=2), 93)], origin="late",
                        quality=("poor_signal",))
        conn.commit()
    return w


def test_observations_blood_pressure_panel_and_markers(own_client: TestClient,
                                                       clinic: World) -> None:
    response = own_client.get(
        "/fhir/Observation", headers=clinic.headers("alice"),
        params=[("patient", f"Patient/{clinic.patient_a}"), ("date", "ge2024-05-01"),
                ("date", "lt2024-05-02")])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    resources = validate_bundle(response.json())
    assert response.json()["total"] == len(resources) == 3
    spo2, lone, panel = resources  # newest first
    assert codes(panel["code"]) == {(fhir.LOINC, "85354-9"), (fhir.MDC, "150020")}
    parts = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"]
             for c in panel["component"]}
    assert parts == {"8480-6": 142, "8462-4": 91, "8478-0": 108}
    assert all(c["valueQuantity"]["code"] == "mm[Hg]" for c in panel["component"])
    assert "valueQuantity" not in panel
    assert (fhir.LOINC, "8480-6") in codes(lone["code"]) and lone["valueQuantity"]["value"] == 150
    assert (fhir.LOINC, "2708-6") in codes(spo2["code"])
    assert spo2["meta"]["tag"][0]["code"] == "late"
    assert "poor_signal" in spo2["note"][0]["text"]
    only_bp = own_client.get("/fhir/Observation", headers=clinic.headers("alice"), params={
        "patient": clinic.patient_a, "code": "http://loinc.org|85354-9",
        "date": "ge2024-05-01"}).json()
    assert [r["resource"]["code"]["coding"][0]["code"] for r in only_bp["entry"]] == [
        "8480-6", "85354-9"]


def test_everything_bundle(own_client: TestClient, clinic: World) -> None:
    headers = clinic.headers("alice")
    own_client.post(f"/alerts/{clinic.alert_a}/resolve", headers=headers,
                    json={"note": "checked"})
    response = own_client.get(f"/fhir/Patient/{clinic.patient_a}/$everything",
                              headers=headers, params={"date": "ge2024-01-01"})
    assert response.status_code == 200
    resources = validate_bundle(response.json())
    kinds = [r["resourceType"] for r in resources]
    assert kinds[0] == "Patient" and {"Device", "Observation", "Flag"} <= set(kinds)
    patient = resources[0]
    assert patient["identifier"] == [{"system": "https://fhir.nhs.uk/Id/nhs-number",
                                      "value": patient["identifier"][0]["value"]}]
    assert len(patient["identifier"][0]["value"]) == 10
    flag = next(r for r in resources if r["resourceType"] == "Flag")
    assert flag["status"] == "inactive" and "end" in flag["period"]
    assert flag["code"]["coding"][0] == {"system": fhir.VIGIL_RULE, "code": "threshold:spo2"}
    assert flag["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "PM"
    device = next(r for r in resources if r["resourceType"] == "Device")
    assert device["patient"] == {"reference": f"Patient/{clinic.patient_a}"}
    assert device["status"] == "active"


def test_single_resources_and_searches(own_client: TestClient, clinic: World) -> None:
    headers = clinic.headers("alice")
    patient = own_client.get(f"/fhir/Patient/{clinic.patient_a}", headers=headers).json()
    Patient.model_validate(patient)
    flags = own_client.get(f"/fhir/Flag?patient={clinic.patient_a}&status=active",
                           headers=headers).json()
    assert [r["resource"]["status"] for r in flags["entry"]] == ["active"]
    validate_bundle(flags)
    devices = own_client.get(f"/fhir/Device?patient={clinic.patient_a}",
                             headers=headers).json()
    assert [r["identifier"][0]["value"] for r in validate_bundle(devices)] == [
        "AA:00:00:00:00:01"]


@pytest.mark.parametrize("query", [
    {"patient": "Practitioner/1"},
    {"patient": "{patient}", "date": "2024-05-01"},
    {"patient": "{patient}", "date": "ge2024-13-45"},
    {"patient": "{patient}", "code": "1234-5"},
])
def test_bad_searches_are_422(own_client: TestClient, clinic: World,
                              query: dict[str, str]) -> None:
    params = {k: v.replace("{patient}", str(clinic.patient_a)) for k, v in query.items()}
    response = own_client.get("/fhir/Observation", headers=clinic.headers("alice"),
                              params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_exports_are_audited(own_client: TestClient, clinic: World) -> None:
    own_client.get(f"/fhir/Observation?patient={clinic.patient_a}",
                   headers=clinic.headers("alice"))
    with psycopg.connect(clinic.url) as conn:
        row = conn.execute("SELECT action, actor_id, patient_id, entity_type FROM audit_log"
                           ).fetchone()
    assert row == ("fhir.export", clinic.alice, clinic.patient_a, "Observation")
