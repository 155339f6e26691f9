"""The alert queue and the clinician actions: acknowledge, snooze, resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api import alerts
from api.auth import CurrentViewer, client_ip
from api.db import Conn
from api.models.alerts import (
    AcknowledgeIn,
    AlertDetail,
    AlertList,
    AlertOut,
    ResolveIn,
    SnoozeIn,
    SnoozeUntil,
)
from api.problems import ProblemError, responses
from api.routes.rules import load_ruleset
from api.scope import MAX_ID, ScopedPatient
from api.timerange import within_range
from vigil.rules import AlertStatus, Severity, acknowledge, resolve, snooze

router = APIRouter(tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Alert id")]
LIVE = [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]


@router.get("/alerts", response_model=AlertList, responses=responses(401, 422))
async def list_alerts(
    conn: Conn,
    viewer: CurrentViewer,
    state: Annotated[list[AlertStatus] | None, Query(
        description="Default: open and acknowledged")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: Annotated[datetime | None, Query(
        description="Only alerts changed at or after this time")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> AlertList:
    """The alert queue of the patients you may see: snoozed last, most severe first, longest
    waiting first."""
    if since is not None and since.tzinfo is None:
        raise ProblemError(422, "`since` needs a time zone (e.g. 2024-05-01T10:00:00Z)")
    found = await alerts.list_alerts(
        conn, viewer, states=state or LIVE, severities=severity or [], patient_id=patient_id,
        since=within_range("since", since), limit=limit, offset=offset)
    return AlertList(alerts=found, limit=limit, offset=offset)


@router.get("/patients/{patient_id}/alerts", response_model=AlertList,
            responses=responses(401, 404, 422))
async def patient_alerts(
    patient: ScopedPatient,
    conn: Conn,
    viewer: CurrentViewer,
    state: Annotated[list[AlertStatus] | None, Query(description="Default: all")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> AlertList:
    """A patient's alerts, resolved ones included (their history is kept)."""
    found = await alerts.list_alerts(
        conn, viewer, states=state or list(AlertStatus), severities=[],
        patient_id=patient.id, since=None, limit=limit, offset=offset)
    return AlertList(alerts=found, limit=limit, offset=offset)


@router.get("/alerts/{alert_id}", response_model=AlertDetail, responses=responses(401, 404, 422))
async def get_alert(alert_id: AlertId, conn: Conn, viewer: CurrentViewer) -> AlertDetail:
    """One alert with its full history."""
    alert = await alerts.get_alert(conn, viewer, alert_id)
    events = await alerts.alert_events(conn, alert_id)
    return AlertDetail(**alert.model_dump(), events=events)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut,
             responses=responses(401, 404, 409, 422))
async def acknowledge_alert(
    alert_id: AlertId, body: AcknowledgeIn, conn: Conn, viewer: CurrentViewer,
    request: Request,
) -> AlertOut:
    """Take an open alert on: it stops escalating. A later rise in severity re-opens it."""
    return await alerts.act(
        conn, viewer, alert_id, action="acknowledge", note=body.note or None,
        change=lambda state, now: acknowledge(state, now=now), client_ip=client_ip(request))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut,
             responses=responses(401, 404, 409, 422))
async def resolve_alert(
    alert_id: AlertId, body: ResolveIn, conn: Conn, viewer: CurrentViewer, request: Request,
) -> AlertOut:
    """Close a live alert with a note; it keeps its history."""
    return await alerts.act(
        conn, viewer, alert_id, action="resolve", note=body.note,
        change=lambda state, now: resolve(state, now=now, reason=body.note),
        client_ip=client_ip(request))


@router.post("/alerts/{alert_id}/snooze", response_model=AlertOut,
             responses=responses(401, 404, 409, 422))
async def snooze_alert(
    alert_id: AlertId, body: SnoozeIn, conn: Conn, viewer: CurrentViewer, request: Request,
) -> AlertOut:
    """Quiet a live alert until a time (at most the patient's policy maximum). A rise in
    severity ends the snooze at once."""
    alert = await alerts.get_alert(conn, viewer, alert_id)
    policy = (await load_ruleset(conn, alert.patient_id)).escalation
    now = datetime.now(UTC)
    until = (within_range("until", body.until) if isinstance(body, SnoozeUntil)
             else now + timedelta(minutes=body.minutes))
    assert until is not None
    return await alerts.act(
        conn, viewer, alert_id, action="snooze", note=body.note or None,
        change=lambda state, at: snooze(state, now=at, until=until, policy=policy),
        client_ip=client_ip(request))

