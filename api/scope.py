"""Object-level authorisation for patient data, expressed once.

Every query that touches a patient's data filters through `visible(column, viewer)`, which
selects from the `patient_access` view (migration 0103: clinicians see their care teams'
patients, admins their organisation's). A patient the viewer may not see is indistinguishable
from one that does not exist: both are 404, so identifiers cannot be probed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Path
from psycopg import sql
from psycopg.rows import class_row
from pydantic import BaseModel

from api.auth import CurrentViewer, Viewer
from api.db import Conn, Connection
from api.problems import not_found

# PostgreSQL integer keys: anything larger is simply not found, never a database error.
MAX_ID = 2**31 - 1
PatientId = Annotated[int, Path(ge=1, le=MAX_ID, description="Patient id")]


def visible(column: str, viewer: Viewer) -> sql.Composed:
    """SQL condition: the patient id in `column` is one the viewer may see."""
    return sql.SQL(
        "{column} IN (SELECT pa.patient_id FROM patient_access pa WHERE pa.user_id = {user})"
    ).format(column=sql.SQL(column), user=sql.Literal(viewer.id))


class PatientRow(BaseModel):
    id: int
    organisation_id: int
    nhs_number: str
    display_name: str
    date_of_birth: date | None
    active: bool
    created_at: datetime


async def find_patient(conn: Connection, viewer: Viewer, patient_id: int) -> PatientRow:
    """The patient if the viewer may see it; raises 404 otherwise."""
    if not 1 <= patient_id <= MAX_ID:
        raise not_found("patient")
    query = sql.SQL(
        "SELECT p.id, p.organisation_id, p.nhs_number, p.display_name, p.date_of_birth, "
        "p.active, p.created_at FROM patients p WHERE p.id = %s AND {visible}"
    ).format(visible=visible("p.id", viewer))
    async with conn.cursor(row_factory=class_row(PatientRow)) as cur:
        await cur.execute(query, (patient_id,))
        row = await cur.fetchone()
    if row is None:
        raise not_found("patient")
    return row


async def scoped_patient(patient_id: PatientId, conn: Conn, viewer: CurrentViewer) -> PatientRow:
    return await find_patient(conn, viewer, patient_id)


# The dependency every /patients/{patient_id}/... route takes.
ScopedPatient = Annotated[PatientRow, Depends(scoped_patient)]


def viewers_of(column: str) -> sql.Composed:
    """SQL expression: the ids of the users who may see the patient in `column` (the same
    rule as `visible`, from the other side; the live stream routes alert changes with it)."""
    return sql.SQL(
        "ARRAY(SELECT pa.user_id FROM patient_access pa WHERE pa.patient_id = {column})"
    ).format(column=sql.SQL(column))
