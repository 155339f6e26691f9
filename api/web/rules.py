"""The rules editor: a patient's condition defaults and their per-patient overrides.

Reading and saving go through the API's own rule-settings handlers (`get_rules`/`put_rules`):
the same validation into a complete RuleSet, the same optimistic version check (a colleague's
edit made meanwhile is a conflict, never overwritten), and the same audit entry with the
before and after, written in the same transaction as the change.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from api.db import Conn, Connection
from api.models.rules import RuleSettingsIn, RuleSettingsOut
from api.problems import ProblemError
from api.routes.rules import get_rules, put_rules
from api.scope import PatientId, PatientRow, find_patient
from api.web import present, queries
from api.web.guard import Acting, UiUser, User
from api.web.htmlroute import HtmlRoute
from api.web.patients import CONDITION_LABEL
from api.web.rules_form import (
    FormError,
    apply_form,
    hours,
    minutes,
    overrides_for,
    parse_overrides_json,
    seconds,
)
from api.web.settings import web_settings
from api.web.templating import render
from vigil.rules import Condition, InvalidOverride, defaults_for, ruleset_for

router = APIRouter(route_class=HtmlRoute)


async def _settings(conn: Connection, patient: PatientRow) -> tuple[RuleSettingsOut | None,
                                                                     str | None]:
    try:
        return await get_rules(patient, conn), None
    except ProblemError as exc:  # stored overrides newer defaults no longer accept
        return None, exc.detail


async def _page(request: Request, conn: Connection, user: UiUser, patient: PatientRow, *,
                error: str | None = None, error_field: str | None = None,
                saved: bool = False, form: dict[str, str] | None = None,
                status: int = 200) -> Response:
    current, stored_problem = await _settings(conn, patient)
    now = await queries.db_now(conn)
    zone = ZoneInfo(web_settings().timezone)
    if current is None:
        condition, overrides, version = Condition.GENERAL_ADULT, {}, None
        ruleset = ruleset_for(condition)
    else:
        condition, overrides, version = current.condition, current.overrides, current.version
        ruleset = current.ruleset
    names = await queries.user_names(
        conn, {current.updated_by} if current and current.updated_by else set())
    changes = await queries.rule_changes(conn, patient.id)
    return render(request, "rules.html", {
        "user": user, "page": "patients", "patient": patient, "settings": current,
        "condition": condition, "conditions": list(Condition),
        "condition_label": CONDITION_LABEL, "ruleset": ruleset,
        "defaults": defaults_for(condition), "version": version,
        "overrides_json": json.dumps(overrides, indent=2, sort_keys=True),
        "updated_by": names.get(current.updated_by) if current and current.updated_by else None,
        "updated_at": present.local_time(current.updated_at, now, zone)
        if current and current.updated_at else None,
        "changes": [(present.local_time(c.at, now, zone), c) for c in changes],
        "error": error or stored_problem, "error_field": error_field, "saved": saved,
        "form": form or {}, "hours": hours, "minutes": minutes, "seconds": seconds,
    }, status=status)


@router.get("/patients/{patient_id}/rules")
async def rules_page(request: Request, patient_id: PatientId, user: User, conn: Conn,
                     saved: bool = False) -> Response:
    patient = await find_patient(conn, user.viewer, patient_id)
    return await _page(request, conn, user, patient, saved=saved)


def _submitted_overrides(mode: str, condition: Condition, form: dict[str, str],
                         current: RuleSettingsOut | None) -> dict[str, Any]:
    if mode == "json":
        return parse_overrides_json(form.get("overrides", ""))
    if mode == "condition":
        keep = form.get("keep_overrides") == "on" and current is not None
        return dict(current.overrides) if keep and current is not None else {}
    if mode == "values":
        base = current.ruleset if current is not None else ruleset_for(condition)
        return overrides_for(condition, apply_form(base, form))
    raise FormError("mode", "unknown form")


@router.post("/patients/{patient_id}/rules")
async def save_rules(
    request: Request, patient_id: PatientId, user: Acting, conn: Conn,
    mode: Annotated[str, Form(max_length=20)],
    condition: Annotated[str, Form(max_length=40)],
    version: Annotated[int, Form(ge=0, le=2**31 - 1)],
) -> Response:
    patient = await find_patient(conn, user.viewer, patient_id)
    raw = await request.form()
    form = {key: value for key, value in raw.items() if isinstance(value, str)}
    try:
        chosen = Condition(condition)
    except ValueError:
        return await _page(request, conn, user, patient, error="Choose a listed condition.",
                           status=422, form=form)
    current, _ = await _settings(conn, patient)
    try:
        overrides = _submitted_overrides(mode, chosen, form, current)
        await put_rules(RuleSettingsIn(condition=chosen, overrides=overrides, version=version),
                        patient, conn, user.viewer, request)
    except FormError as exc:
        return await _page(request, conn, user, patient, error=str(exc),
                           error_field=exc.field, status=422, form=form)
    except InvalidOverride as exc:
        return await _page(request, conn, user, patient, error=str(exc), status=422,
                           form=form)
    except ProblemError as exc:
        if exc.status == 404:
            raise
        return await _page(request, conn, user, patient, error=exc.detail, status=exc.status,
                           form=form)
    return RedirectResponse(f"/ui/patients/{patient.id}/rules?saved=true", status_code=303)
