"""Monitoring status of a patient: gateways, devices, latest values, with their ages."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from api.auth import Settings
from api.db import Conn
from api.models.status import PatientStatus
from api.problems import responses
from api.routes.rules import load_ruleset
from api.scope import ScopedPatient
from api.settings import ApiSettings
from api.status import Allowances, patient_status

router = APIRouter(prefix="/patients", tags=["status"])


def allowances(settings: ApiSettings) -> Allowances:
    return Allowances(gateway_heartbeat=timedelta(seconds=settings.gateway_heartbeat_s),
                      stale_factor=settings.stale_factor,
                      default_stale_after=timedelta(seconds=settings.default_stale_after_s))


@router.get("/{patient_id}/status", response_model=PatientStatus,
            responses=responses(401, 404, 422))
async def get_status(patient: ScopedPatient, conn: Conn, settings: Settings) -> PatientStatus:
    """Is monitoring working? Each gateway, device and latest value with its time and age;
    `stale` marks anything older than expected, which must not be shown as current."""
    ruleset = await load_ruleset(conn, patient.id)
    return await patient_status(conn, patient.id, ruleset, allowances(settings))
