"""FHIR R4 mapping, free of I/O: readings -> vital-signs Observations (LOINC + IEEE 11073 MDC
codes, UCUM units; blood pressure as the 85354-9 panel with systolic and diastolic
components), devices -> Device, the patient -> Patient (NHS number identifier), alerts -> Flag,
all wrapped in searchset Bundles. Resources are plain JSON-shaped dicts; the tests validate
them with fhir.resources' R4B models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from vigil.metrics import BY_NUMBER, CATALOGUE, Metric, MetricSpec
from vigil.quality import QUESTIONABLE

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_PRIORITY_EXT = "http://hl7.org/fhir/StructureDefinition/flag-priority"
FLAG_PRIORITY = "http://hl7.org/fhir/flag-priority-code"
VIGIL_RULE = "urn:vigil:rule-key"
VIGIL_TAG = "urn:vigil:tag"
DEVICE_ADDRESS = "urn:vigil:device-address"

BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_PANEL_MDC = (150020, "MDC_PRESS_BLD_NONINV")
BP_PARTS = (Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.MEAN_ARTERIAL_PRESSURE)
# Base codes the FHIR vital-signs profiles require next to the more specific LOINC code.
PROFILE_CODES: dict[Metric, tuple[str, str]] = {
    Metric.SPO2: ("2708-6", "Oxygen saturation in Arterial blood"),
    Metric.PULSE_RATE: ("8867-4", "Heart rate"),
}
_QUESTIONABLE = frozenset(flag.value for flag in QUESTIONABLE)
_PRIORITY = {"high": ("PH", "High priority"), "medium": ("PM", "Medium priority"),
             "low": ("PL", "Low priority")}


@dataclass(frozen=True, slots=True)
class PatientRecord:
    id: int
    nhs_number: str
    display_name: str
    date_of_birth: date | None
    active: bool


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    id: int
    address: str
    model: str | None
    manufacturer: str | None
    serial: str | None
    patient_id: int
    active: bool


@dataclass(frozen=True, slots=True)
class ReadingRecord:
    id: str
    metric_number: int
    value: float
    measured_at: datetime
    received_at: datetime
    device_id: int
    origin: str
    quality: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    patient_id: int
    rule_key: str
    severity: str
    state: str
    message: str
    opened_at: datetime
    resolved_at: datetime | None


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _code(spec: MetricSpec) -> dict[str, Any]:
    codings = [_coding(LOINC, spec.loinc, spec.loinc_display)]
    if spec.metric in PROFILE_CODES:
        codings.append(_coding(LOINC, *PROFILE_CODES[spec.metric]))
    codings.append(_coding(MDC, str(spec.mdc_code), spec.mdc_reference))
    return {"coding": codings, "text": spec.display}


def _quantity(spec: MetricSpec, value: float) -> dict[str, Any]:
    return {"value": value, "unit": spec.ucum, "system": UCUM, "code": spec.ucum}


def _instant(at: datetime) -> str:
    return at.isoformat()


def patient(record: PatientRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(record.id),
        "identifier": [{"system": NHS_NUMBER, "value": record.nhs_number}],
        "active": record.active,
        "name": [{"text": record.display_name}],
    }
    if record.date_of_birth is not None:
        out["birthDate"] = record.date_of_birth.isoformat()
    return out


def device(record: DeviceRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Device",
        "id": str(record.id),
        "identifier": [{"system": DEVICE_ADDRESS, "value": record.address}],
        "status": "active" if record.active else "inactive",
        "patient": {"reference": f"Patient/{record.patient_id}"},
    }
    if record.manufacturer:
        out["manufacturer"] = record.manufacturer
    if record.model:
        out["modelNumber"] = record.model
    if record.serial:
        out["serialNumber"] = record.serial
    return out


def _observation_base(reading: ReadingRecord, patient_id: int) -> dict[str, Any]:
    spec = BY_NUMBER[reading.metric_number]
    category = "laboratory" if spec.metric is Metric.BLOOD_GLUCOSE else "vital-signs"
    display = "Laboratory" if category == "laboratory" else "Vital Signs"
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "id": reading.id,
        "status": "final",
        "category": [{"coding": [_coding(OBSERVATION_CATEGORY, category, display)]}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": _instant(reading.measured_at),
        "issued": _instant(reading.received_at),
        "device": {"reference": f"Device/{reading.device_id}"},
    }
    questionable = sorted(_QUESTIONABLE.intersection(reading.quality))
    if questionable:
        out["note"] = [{"text": "questionable quality: " + ", ".join(questionable)}]
    if reading.origin == "late":
        out["meta"] = {"tag": [_coding(VIGIL_TAG, "late", "Delivered late (backfill)")]}
    return out


def observation(reading: ReadingRecord, patient_id: int) -> dict[str, Any]:
    spec = BY_NUMBER[reading.metric_number]
    out = _observation_base(reading, patient_id)
    out["code"] = _code(spec)
    out["valueQuantity"] = _quantity(spec, reading.value)
    return out


def blood_pressure_panel(parts: Sequence[ReadingRecord], patient_id: int) -> dict[str, Any]:
    """One 85354-9 panel from readings of one cuff measurement (same device and time)."""
    ordered = sorted(parts, key=lambda r: BP_PARTS.index(BY_NUMBER[r.metric_number].metric))
    flags = sorted({flag for part in ordered for flag in part.quality})
    out = _observation_base(
        ReadingRecord(ordered[0].id, ordered[0].metric_number, ordered[0].value,
                      ordered[0].measured_at, ordered[0].received_at, ordered[0].device_id,
                      "late" if any(p.origin == "late" for p in ordered) else ordered[0].origin,
                      flags), patient_id)
    out["code"] = {"coding": [_coding(LOINC, *BP_PANEL),
                              _coding(MDC, str(BP_PANEL_MDC[0]), BP_PANEL_MDC[1])],
                   "text": "Blood pressure"}
    out["component"] = [
        {"code": _code(BY_NUMBER[part.metric_number]),
         "valueQuantity": _quantity(BY_NUMBER[part.metric_number], part.value)}
        for part in ordered
    ]
    return out


def observations(readings: Iterable[ReadingRecord], patient_id: int) -> list[dict[str, Any]]:
    """Observations in the order given; a systolic and diastolic reading from the same device
    at the same time (with the mean, if measured) become one blood pressure panel. A lone
    systolic or diastolic stays a single Observation with its own code."""
    bp_numbers = {CATALOGUE[m].number for m in BP_PARTS}
    items = list(readings)
    groups: dict[tuple[int, datetime], list[ReadingRecord]] = {}
    for reading in items:
        if reading.metric_number in bp_numbers:
            groups.setdefault((reading.device_id, reading.measured_at), []).append(reading)
    out: list[dict[str, Any]] = []
    emitted: set[tuple[int, datetime]] = set()
    for reading in items:
        key = (reading.device_id, reading.measured_at)
        group = groups.get(key) if reading.metric_number in bp_numbers else None
        metrics = {BY_NUMBER[r.metric_number].metric for r in group} if group else set()
        if group and {Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP} <= metrics:
            if key not in emitted:
                emitted.add(key)
                # One reading per metric (a duplicate time would be a second measurement).
                firsts = {BY_NUMBER[r.metric_number].metric: r for r in reversed(group)}
                out.append(blood_pressure_panel(list(firsts.values()), patient_id))
            continue
        out.append(observation(reading, patient_id))
    return out


def flag(alert: AlertRecord) -> dict[str, Any]:
    code, display = _PRIORITY.get(alert.severity, ("PN", "No alarm"))
    period: dict[str, str] = {"start": _instant(alert.opened_at)}
    if alert.resolved_at is not None:
        period["end"] = _instant(alert.resolved_at)
    return {
        "resourceType": "Flag",
        "id": str(alert.id),
        "status": "inactive" if alert.state == "resolved" else "active",
        "category": [{"coding": [_coding(FLAG_CATEGORY, "clinical", "Clinical")]}],
        "code": {"coding": [_coding(VIGIL_RULE, alert.rule_key)], "text": alert.message},
        "subject": {"reference": f"Patient/{alert.patient_id}"},
        "period": period,
        "extension": [{"url": FLAG_PRIORITY_EXT, "valueCodeableConcept": {
            "coding": [_coding(FLAG_PRIORITY, code, display)]}}],
    }


def bundle(resources: Iterable[dict[str, Any]], base_url: str, self_url: str,
           *, included: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A searchset Bundle; resource types in `included` are marked as included, not matches."""
    entries: list[dict[str, Any]] = []
    matches = 0
    for r in resources:
        mode = "include" if r["resourceType"] in included else "match"
        matches += mode == "match"
        entries.append({"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r,
                        "search": {"mode": mode}})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": matches,
        "link": [{"relation": "self", "url": self_url}],
        "entry": entries,
    }
