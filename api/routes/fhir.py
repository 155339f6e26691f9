"""FHIR R4 export for one patient: Patient, Device, Observation and Flag searchsets.

Every export is audited (a disclosure of patient data), and goes through the same patient
scoping as the rest of the API: another team's patient is 404."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from api import audit, fhir
from api.auth import CurrentViewer, Viewer, client_ip
from api.db import Conn, Connection
from api.problems import ProblemError, responses
from api.scope import MAX_ID, PatientRow, find_patient
from api.timerange import within_range
from vigil.metrics import CATALOGUE

router = APIRouter(prefix="/fhir", tags=["fhir"])

MEDIA_TYPE = "application/fhir+json"
_PATIENT_REF = re.compile(r"^(?:Patient/)?([0-9]{1,10})$")
_DATE = re.compile(r"^(ge|gt|le|lt)(\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2}))?)$")
_LOINC_TO_NUMBERS: dict[str, list[int]] = {}
for _spec in CATALOGUE.values():
    _LOINC_TO_NUMBERS.setdefault(_spec.loinc, []).append(_spec.number)
for _code, _parts in {fhir.BP_PANEL[0]: fhir.BP_PARTS}.items():
    _LOINC_TO_NUMBERS[_code] = [CATALOGUE[m].number for m in _parts]


class FhirResponse(JSONResponse):
    media_type = MEDIA_TYPE


class FhirResource(BaseModel):
    """A FHIR R4 resource (see hl7.org/fhir/R4 for its full definition)."""

    model_config = ConfigDict(extra="allow")
    resourceType: str
    id: str | None = None


class BundleSearch(BaseModel):
    mode: Literal["match", "include"]


class BundleEntry(BaseModel):
    fullUrl: str
    resource: FhirResource
    search: BundleSearch


class BundleLink(BaseModel):
    relation: str
    url: str


class FhirBundle(BaseModel):
    """A FHIR R4 searchset Bundle."""

    resourceType: Literal["Bundle"]
    type: Literal["searchset"]
    total: int
    link: list[BundleLink]
    entry: list[BundleEntry]


PatientParam = Annotated[str, Query(
    description="Patient id, or reference Patient/<id>", pattern=r"^(Patient/)?[0-9]{1,10}$")]


async def _patient_from_param(conn: Connection, viewer: Viewer, value: str) -> PatientRow:
    match = _PATIENT_REF.match(value.strip())
    if match is None:
        raise ProblemError(422, "`patient` must be a patient id or Patient/<id>")
    return await find_patient(conn, viewer, int(match.group(1)))


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _dates(values: list[str] | None) -> tuple[datetime, datetime]:
    """FHIR `date` search prefixes ge/gt (from) and le/lt (until); default the last day."""
    since: datetime | None = None
    until: datetime | None = None
    for value in values or []:
        match = _DATE.match(value.strip())
        if match is None:
            raise ProblemError(422, f"unsupported date filter {value!r}: use ge/gt/le/lt with "
                                    "a date or date-time, e.g. ge2024-05-01")
        prefix, text = match.groups()
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ProblemError(422, f"invalid date {text!r}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        when = within_range("date", when) or when
        if prefix in ("ge", "gt"):
            since = when
        else:
            until = when
    end = until or datetime.now(UTC)
    return since or end - timedelta(days=1), end


async def _audit(conn: Connection, viewer: Viewer, patient_id: int, request: Request,
                 what: str, count: int) -> None:
    await audit.record(conn, actor_id=viewer.id, action="fhir.export", entity_type=what,
                       patient_id=patient_id, client_ip=client_ip(request),
                       details={"resources": count, "query": str(request.url.query)[:500]})


def _respond(body: dict[str, Any]) -> FhirResponse:
    return FhirResponse(body)


def _patient_record(row: PatientRow) -> fhir.PatientRecord:
    return fhir.PatientRecord(row.id, row.nhs_number.strip(), row.display_name,
                              row.date_of_birth, row.active)


async def _devices(conn: Connection, patient_id: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        """
        SELECT d.id, d.address, d.model, d.manufacturer, d.serial,
               bool_or(e.period @> now())
        FROM enrolments e JOIN devices d ON d.id = e.device_id
        WHERE e.patient_id = %s GROUP BY d.id ORDER BY d.id
        """, (patient_id,))
    return [fhir.device(fhir.DeviceRecord(r[0], r[1], r[2], r[3], r[4], patient_id, r[5]))
            for r in await cur.fetchall()]


async def _observations(conn: Connection, patient_id: int, since: datetime, until: datetime,
                        numbers: list[int] | None, count: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        """
        SELECT reading_id::text, metric, value, measured_at, received_at, device_id, origin,
               quality
        FROM readings
        WHERE patient_id = %s AND measured_at >= %s AND measured_at < %s
          AND (%s::smallint[] IS NULL OR metric = ANY(%s::smallint[]))
        ORDER BY measured_at DESC, metric, reading_id LIMIT %s
        """, (patient_id, since, until, numbers, numbers, count))
    records = [fhir.ReadingRecord(*row) for row in await cur.fetchall()]
    return fhir.observations(records, patient_id)


async def _flags(conn: Connection, patient_id: int, status: str | None) -> list[dict[str, Any]]:
    cur = await conn.execute(
        """
        SELECT id, patient_id, rule_key, severity, state, message, opened_at, resolved_at
        FROM alerts WHERE patient_id = %s
          AND (%s::text IS NULL OR (%s = 'active') = (state <> 'resolved'))
        ORDER BY opened_at DESC, id DESC LIMIT 1000
        """, (patient_id, status, status))
    return [fhir.flag(fhir.AlertRecord(*row)) for row in await cur.fetchall()]


_FHIR_ERRORS = responses(401, 404, 422)


@router.get("/Patient/{patient_id}", response_model=FhirResource,
            response_class=FhirResponse, responses=_FHIR_ERRORS)
async def read_patient(
    patient_id: Annotated[int, Path(ge=1, le=MAX_ID)], conn: Conn, viewer: CurrentViewer,
    request: Request,
) -> FhirResponse:
    row = await find_patient(conn, viewer, patient_id)
    await _audit(conn, viewer, row.id, request, "Patient", 1)
    return _respond(fhir.patient(_patient_record(row)))


@router.get("/Patient/{patient_id}/$everything", response_model=FhirBundle,
            response_class=FhirResponse, responses=_FHIR_ERRORS)
async def patient_everything(
    patient_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    conn: Conn,
    viewer: CurrentViewer,
    request: Request,
    date: Annotated[list[str] | None, Query(description="e.g. ge2024-05-01&date=lt2024-05-08"
                                            )] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=5000)] = 1000,
) -> FhirResponse:
    """The patient with their devices, observations in the date range and all flags."""
    row = await find_patient(conn, viewer, patient_id)
    since, until = _dates(date)
    resources = [fhir.patient(_patient_record(row)),
                 *await _devices(conn, row.id),
                 *await _observations(conn, row.id, since, until, None, count),
                 *await _flags(conn, row.id, None)]
    await _audit(conn, viewer, row.id, request, "Bundle", len(resources))
    return _respond(fhir.bundle(resources, _base(request), str(request.url)))


@router.get("/Observation", response_model=FhirBundle, response_class=FhirResponse,
            responses=_FHIR_ERRORS)
async def search_observations(
    patient: PatientParam,
    conn: Conn,
    viewer: CurrentViewer,
    request: Request,
    date: Annotated[list[str] | None, Query()] = None,
    code: Annotated[str | None, Query(description="LOINC code, optionally "
                                      "http://loinc.org|<code>", max_length=64)] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=5000)] = 100,
) -> FhirResponse:
    """Vital-signs Observations for a patient, newest first (last 24 h by default)."""
    row = await _patient_from_param(conn, viewer, patient)
    since, until = _dates(date)
    numbers: list[int] | None = None
    if code is not None:
        loinc = code.removeprefix(f"{fhir.LOINC}|")
        if loinc not in _LOINC_TO_NUMBERS:
            raise ProblemError(422, f"unknown LOINC code {loinc!r}")
        numbers = _LOINC_TO_NUMBERS[loinc]
    resources = await _observations(conn, row.id, since, until, numbers, count)
    await _audit(conn, viewer, row.id, request, "Observation", len(resources))
    return _respond(fhir.bundle(resources, _base(request), str(request.url)))


@router.get("/Flag", response_model=FhirBundle, response_class=FhirResponse,
            responses=_FHIR_ERRORS)
async def search_flags(
    patient: PatientParam,
    conn: Conn,
    viewer: CurrentViewer,
    request: Request,
    status: Annotated[Literal["active", "inactive"] | None, Query()] = None,
) -> FhirResponse:
    """The patient's alerts as Flags (active: open or acknowledged; inactive: resolved)."""
    row = await _patient_from_param(conn, viewer, patient)
    resources = await _flags(conn, row.id, status)
    await _audit(conn, viewer, row.id, request, "Flag", len(resources))
    return _respond(fhir.bundle(resources, _base(request), str(request.url)))


@router.get("/Device", response_model=FhirBundle, response_class=FhirResponse,
            responses=_FHIR_ERRORS)
async def search_devices(
    patient: PatientParam, conn: Conn, viewer: CurrentViewer, request: Request,
) -> FhirResponse:
    """Devices ever enrolled for the patient (status active while enrolled)."""
    row = await _patient_from_param(conn, viewer, patient)
    resources = await _devices(conn, row.id)
    await _audit(conn, viewer, row.id, request, "Device", len(resources))
    return _respond(fhir.bundle(resources, _base(request), str(request.url)))

