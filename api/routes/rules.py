"""Per-patient rule settings: choose the condition's defaults, override per patient; every
change audited with the before and after."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from psycopg.types.json import Jsonb

from api import audit
from api.auth import CurrentViewer, client_ip
from api.db import Conn, Connection
from api.models.rules import RuleSettingsIn, RuleSettingsOut
from api.problems import ProblemError, responses
from api.scope import ScopedPatient
from vigil.rules import Condition, InvalidOverride, RuleSet, ruleset_for

router = APIRouter(prefix="/patients", tags=["rules"])

DEFAULT_CONDITION = Condition.GENERAL_ADULT


async def load_ruleset(conn: Connection, patient_id: int) -> RuleSet:
    """The rules in effect for a patient (defaults when nothing was set)."""
    cur = await conn.execute(
        "SELECT condition, overrides FROM rule_settings WHERE patient_id = %s", (patient_id,))
    row = await cur.fetchone()
    if row is None:
        return ruleset_for(DEFAULT_CONDITION)
    try:
        return ruleset_for(row[0], row[1])
    except InvalidOverride:
        # Stored overrides that newer defaults no longer accept: fall back to the defaults
        # rather than evaluate nothing; the settings endpoint shows the problem.
        return ruleset_for(row[0])


def _out(patient_id: int, condition: Condition, overrides: dict[str, Any], version: int,
         updated_at: Any, updated_by: int | None) -> RuleSettingsOut:
    ruleset = ruleset_for(condition, overrides)
    return RuleSettingsOut(
        patient_id=patient_id, condition=condition, overrides=overrides, ruleset=ruleset,
        spo2_scale=ruleset.news2.spo2_scale if ruleset.news2 is not None else None,
        version=version, updated_at=updated_at, updated_by=updated_by)


@router.get("/{patient_id}/rules", response_model=RuleSettingsOut,
            responses=responses(401, 404, 422))
async def get_rules(patient: ScopedPatient, conn: Conn) -> RuleSettingsOut:
    cur = await conn.execute(
        "SELECT condition, overrides, version, updated_at, updated_by FROM rule_settings "
        "WHERE patient_id = %s", (patient.id,))
    row = await cur.fetchone()
    if row is None:
        return _out(patient.id, DEFAULT_CONDITION, {}, 0, None, None)
    try:
        return _out(patient.id, Condition(row[0]), row[1], row[2], row[3], row[4])
    except InvalidOverride as exc:
        raise ProblemError(409, f"stored overrides no longer apply: {exc}; "
                                "save new settings to replace them") from None


@router.put("/{patient_id}/rules", response_model=RuleSettingsOut,
            responses=responses(401, 404, 409, 422))
async def put_rules(
    body: RuleSettingsIn, patient: ScopedPatient, conn: Conn, viewer: CurrentViewer,
    request: Request,
) -> RuleSettingsOut:
    """Set the patient's condition and overrides (validated into a complete rule set)."""
    try:
        ruleset_for(body.condition, body.overrides)
    except InvalidOverride as exc:
        raise ProblemError(422, str(exc)) from None
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT condition, overrides, version FROM rule_settings WHERE patient_id = %s "
            "FOR UPDATE", (patient.id,))
        before = await cur.fetchone()
        current_version = before[2] if before is not None else 0
        if body.version is not None and body.version != current_version:
            raise ProblemError(409, f"the settings changed meanwhile (version {current_version},"
                                    f" you edited {body.version}); reload and retry")
        cur = await conn.execute(
            """
            INSERT INTO rule_settings (patient_id, condition, overrides, updated_by)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (patient_id) DO UPDATE SET condition = EXCLUDED.condition,
                overrides = EXCLUDED.overrides, updated_by = EXCLUDED.updated_by,
                updated_at = now(), version = rule_settings.version + 1
            RETURNING version, updated_at
            """,
            (patient.id, body.condition.value, Jsonb(body.overrides), viewer.id))
        row = await cur.fetchone()
        assert row is not None
        await audit.record(
            conn, actor_id=viewer.id, action="rules.update", entity_type="rule_settings",
            entity_id=patient.id, patient_id=patient.id, client_ip=client_ip(request),
            details={
                "before": None if before is None else {"condition": before[0],
                                                       "overrides": before[1]},
                "after": {"condition": body.condition.value, "overrides": body.overrides},
                "version": row[0],
            })
    return _out(patient.id, body.condition, body.overrides, row[0], row[1], viewer.id)
