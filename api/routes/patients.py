"""Patients and enrolments: who is monitored, with which devices, through which gateway."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import psycopg
from fastapi import APIRouter, Path, Query, Request, status
from psycopg import sql
from psycopg.rows import class_row

from api import audit
from api.auth import AdminViewer, CurrentViewer, client_ip
from api.db import Conn, Connection
from api.models.patients import (
    EnrolmentCreate,
    EnrolmentEnd,
    EnrolmentList,
    EnrolmentOut,
    PatientCreate,
    PatientList,
    PatientOut,
)
from api.problems import ProblemError, not_found, responses
from api.scope import MAX_ID, PatientRow, ScopedPatient, visible

router = APIRouter(prefix="/patients", tags=["patients"])

_PATIENT_COLUMNS = sql.SQL(
    "p.id, p.nhs_number, p.display_name, p.date_of_birth, p.active, p.created_at, "
    "ARRAY(SELECT pt.team_id FROM patient_teams pt WHERE pt.patient_id = p.id "
    "ORDER BY pt.team_id) AS team_ids"
)


async def _patient_out(conn: Connection, patient: PatientRow) -> PatientOut:
    query = sql.SQL("SELECT {cols} FROM patients p WHERE p.id = %s").format(
        cols=_PATIENT_COLUMNS)
    async with conn.cursor(row_factory=class_row(PatientOut)) as cur:
        await cur.execute(query, (patient.id,))
        row = await cur.fetchone()
    assert row is not None
    return row


@router.get("", response_model=PatientList, responses=responses(401, 422))
async def list_patients(
    conn: Conn,
    viewer: CurrentViewer,
    active: Annotated[bool | None, Query(description="Only active (or inactive)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PatientList:
    """The patients the signed-in user may see, by name."""
    query = sql.SQL(
        "SELECT {cols} FROM patients p WHERE {visible} AND (%(active)s::boolean IS NULL "
        "OR p.active = %(active)s) ORDER BY p.display_name, p.id LIMIT %(limit)s "
        "OFFSET %(offset)s"
    ).format(cols=_PATIENT_COLUMNS, visible=visible("p.id", viewer))
    async with conn.cursor(row_factory=class_row(PatientOut)) as cur:
        await cur.execute(query, {"active": active, "limit": limit, "offset": offset})
        return PatientList(patients=await cur.fetchall())


@router.post("", response_model=PatientOut, status_code=status.HTTP_201_CREATED,
             responses=responses(401, 403, 409, 422))
async def create_patient(
    body: PatientCreate, conn: Conn, viewer: AdminViewer, request: Request
) -> PatientOut:
    """Register a patient in the admin's organisation and assign their care teams."""
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT count(*) FROM care_teams WHERE id = ANY(%s) AND organisation_id = %s",
            (body.team_ids, viewer.organisation_id))
        found = await cur.fetchone()
        if found is None or found[0] != len(set(body.team_ids)):
            raise ProblemError(422, "every team must be a care team of your organisation")
        try:
            cur = await conn.execute(
                "INSERT INTO patients (organisation_id, nhs_number, display_name, "
                "date_of_birth) VALUES (%s, %s, %s, %s) RETURNING id, organisation_id, "
                "nhs_number, display_name, date_of_birth, active, created_at",
                (viewer.organisation_id, body.nhs_number, body.display_name,
                 body.date_of_birth))
        except psycopg.errors.UniqueViolation:
            raise ProblemError(409, "a patient with this NHS number exists") from None
        row = await cur.fetchone()
        assert row is not None
        patient = PatientRow(id=row[0], organisation_id=row[1], nhs_number=row[2],
                             display_name=row[3], date_of_birth=row[4], active=row[5],
                             created_at=row[6])
        for team_id in sorted(set(body.team_ids)):
            await conn.execute(
                "INSERT INTO patient_teams (patient_id, team_id) VALUES (%s, %s)",
                (patient.id, team_id))
        await audit.record(conn, actor_id=viewer.id, action="patient.create",
                           entity_type="patient", entity_id=patient.id, patient_id=patient.id,
                           client_ip=client_ip(request),
                           details={"team_ids": sorted(set(body.team_ids))})
        return await _patient_out(conn, patient)


@router.get("/{patient_id}", response_model=PatientOut, responses=responses(401, 404, 422))
async def get_patient(patient: ScopedPatient, conn: Conn) -> PatientOut:
    return await _patient_out(conn, patient)


_ENROLMENT_SELECT = """
    SELECT e.id, e.patient_id, e.gateway_id, e.device_id, d.address AS device_address,
           d.model, d.manufacturer, lower(e.period) AS starts_at, upper(e.period) AS ends_at,
           (e.period @> now()) AS active, e.ended_reason
    FROM enrolments e JOIN devices d ON d.id = e.device_id
"""


async def _enrolments(conn: Connection, patient_id: int,
                      enrolment_id: int | None = None) -> list[EnrolmentOut]:
    query = _ENROLMENT_SELECT + " WHERE e.patient_id = %s AND (%s::int IS NULL OR e.id = %s) " \
        "ORDER BY lower(e.period) DESC, e.id DESC"
    async with conn.cursor(row_factory=class_row(EnrolmentOut)) as cur:
        await cur.execute(query.encode(), (patient_id, enrolment_id, enrolment_id))
        return await cur.fetchall()


@router.get("/{patient_id}/enrolments", response_model=EnrolmentList,
            responses=responses(401, 404, 422))
async def list_enrolments(patient: ScopedPatient, conn: Conn) -> EnrolmentList:
    """Devices enrolled for the patient, current and past."""
    return EnrolmentList(enrolments=await _enrolments(conn, patient.id))


@router.post("/{patient_id}/enrolments", response_model=EnrolmentOut,
             status_code=status.HTTP_201_CREATED, responses=responses(401, 404, 409, 422))
async def enrol_device(
    body: EnrolmentCreate, patient: ScopedPatient, conn: Conn, viewer: CurrentViewer,
    request: Request,
) -> EnrolmentOut:
    """Enrol a device (registered on first use, by its wire address) for the patient through
    one of the organisation's gateways. A device has one enrolment at any instant."""
    address = body.device_address.strip().upper()
    starts_at = body.starts_at or datetime.now(UTC)
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT 1 FROM gateways WHERE id = %s AND organisation_id = %s",
            (body.gateway_id, patient.organisation_id))
        if await cur.fetchone() is None:
            raise not_found("gateway")
        cur = await conn.execute(
            "INSERT INTO devices (address, serial, model, manufacturer) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (address) DO UPDATE SET "
            "serial = coalesce(EXCLUDED.serial, devices.serial), "
            "model = coalesce(EXCLUDED.model, devices.model), "
            "manufacturer = coalesce(EXCLUDED.manufacturer, devices.manufacturer) "
            "RETURNING id",
            (address, body.serial, body.model, body.manufacturer))
        device = await cur.fetchone()
        assert device is not None
        try:
            async with conn.transaction():
                cur = await conn.execute(
                    "INSERT INTO enrolments (patient_id, device_id, gateway_id, period) "
                    "VALUES (%s, %s, %s, tstzrange(%s, NULL, '[)')) RETURNING id",
                    (patient.id, device[0], body.gateway_id, starts_at))
        except psycopg.errors.ExclusionViolation:
            raise ProblemError(
                409, f"device {address} already has an enrolment overlapping "
                     f"{starts_at.isoformat()}; end it first") from None
        row = await cur.fetchone()
        assert row is not None
        await audit.record(conn, actor_id=viewer.id, action="enrolment.create",
                           entity_type="enrolment", entity_id=row[0], patient_id=patient.id,
                           client_ip=client_ip(request),
                           details={"gateway_id": body.gateway_id, "device_address": address,
                                    "starts_at": starts_at.isoformat()})
        return (await _enrolments(conn, patient.id, row[0]))[0]


@router.post("/{patient_id}/enrolments/{enrolment_id}/end", response_model=EnrolmentOut,
             responses=responses(401, 404, 409, 422))
async def end_enrolment(
    patient: ScopedPatient,
    enrolment_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: EnrolmentEnd,
    conn: Conn,
    viewer: CurrentViewer,
    request: Request,
) -> EnrolmentOut:
    """End an active enrolment now: readings measured afterwards are no longer the patient's."""
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT upper_inf(period), lower(period) > now() FROM enrolments "
            "WHERE id = %s AND patient_id = %s FOR UPDATE",
            (enrolment_id, patient.id))
        row = await cur.fetchone()
        if row is None:
            raise not_found("enrolment")
        if not row[0]:
            raise ProblemError(409, "the enrolment has already ended")
        if row[1]:
            raise ProblemError(409, "the enrolment has not started yet")
        await conn.execute(
            "UPDATE enrolments SET period = tstzrange(lower(period), now(), '[)'), "
            "ended_reason = %s WHERE id = %s", (body.reason, enrolment_id))
        await audit.record(conn, actor_id=viewer.id, action="enrolment.end",
                           entity_type="enrolment", entity_id=enrolment_id,
                           patient_id=patient.id, client_ip=client_ip(request),
                           details={"reason": body.reason})
        return (await _enrolments(conn, patient.id, enrolment_id))[0]
