"""The alert queue page and the clinician actions on it.

The queue is the API's own query (`api.alerts.list_alerts`: snoozed last, most severe first,
longest waiting first) and the actions are the API's `api.alerts.act` with the pure lifecycle
of vigil.rules, so the dashboard and the API cannot disagree about a transition; each action
is recorded in alert_events by trigger and audited in the same transaction.

Actions answer an htmx request with the re-rendered queue (and a notice), and a plain form
post (no JavaScript) with the whole page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Request, Response
from fastapi.responses import RedirectResponse

from api import alerts
from api.auth import client_ip
from api.db import Conn, Connection
from api.models.alerts import AlertOut
from api.problems import ProblemError
from api.routes.rules import load_ruleset
from api.web import present
from api.web.guard import Acting, UiUser, User
from api.web.htmlroute import HtmlRoute
from api.web.queries import db_now, user_names
from api.web.settings import web_settings
from api.web.templating import render
from vigil.rules import AlertStatus, acknowledge, resolve, snooze

router = APIRouter(route_class=HtmlRoute)

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
LIVE = [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]
QUEUE_LIMIT = 300
SNOOZE_CHOICES = (15, 30, 60, 120, 240, 480)
NoteField = Annotated[str, Form(max_length=2000)]


@dataclass(frozen=True, slots=True)
class QueueItem:
    alert: AlertOut
    evidence: present.Shown
    waiting: present.Shown
    waiting_text: str
    acknowledged_by: str | None
    snoozed_by: str | None
    snoozed_until_text: str


async def queue_context(conn: Connection, user: UiUser, *,
                        notice: tuple[str, str] | None = None) -> dict[str, Any]:
    zone = ZoneInfo(web_settings().timezone)
    found = await alerts.list_alerts(conn, user.viewer, states=LIVE, severities=[],
                                     patient_id=None, since=None, limit=QUEUE_LIMIT, offset=0)
    now = await db_now(conn)
    names = await user_names(conn, {a.acknowledged_by for a in found if a.acknowledged_by}
                             | {a.snoozed_by for a in found if a.snoozed_by})
    items = [QueueItem(
        alert=a,
        evidence=present.recorded(a.trigger_measured_at or a.last_evidence_at, now, zone),
        waiting=present.recorded(a.opened_at, now, zone),
        waiting_text=present.waiting_for((now - a.opened_at).total_seconds()),
        acknowledged_by=names.get(a.acknowledged_by) if a.acknowledged_by else None,
        snoozed_by=names.get(a.snoozed_by) if a.snoozed_by else None,
        snoozed_until_text=present.local_time(a.snoozed_until, now, zone)
        if a.snoozed_until else "",
    ) for a in found]
    active = [i for i in items if not i.alert.snoozed]
    counts = {s: sum(1 for i in active if i.alert.severity.value == s)
              for s in ("high", "medium", "low")}
    return {"user": user, "items": active, "snoozed": [i for i in items if i.alert.snoozed],
            "counts": counts, "now": now, "now_text": now.astimezone(zone).strftime("%H:%M:%S"),
            "notice": notice, "snooze_choices": SNOOZE_CHOICES,
            "refresh_s": web_settings().refresh_s, "truncated": len(found) >= QUEUE_LIMIT}


@router.get("/alerts")
async def queue_page(request: Request, user: User, conn: Conn) -> Response:
    return render(request, "alerts.html", {**await queue_context(conn, user), "page": "alerts"})


@router.get("/alerts/queue")
async def queue_fragment(request: Request, user: User, conn: Conn) -> Response:
    return render(request, "_queue.html", await queue_context(conn, user))


async def _after_action(request: Request, conn: Conn, user: UiUser,
                        notice: tuple[str, str], status: int = 200) -> Response:
    if request.headers.get("hx-request"):
        # htmx swaps only 2xx answers: a refused action still re-renders, with its notice.
        return render(request, "_queue.html", await queue_context(conn, user, notice=notice))
    if notice[0] == "ok":
        return RedirectResponse("/ui/alerts", status_code=303)
    return render(request, "alerts.html",
                  {**await queue_context(conn, user, notice=notice), "page": "alerts"},
                  status=status)


async def _act(request: Request, conn: Conn, user: UiUser, alert_id: int, action: str,
               note: str | None, change: alerts.Change, done: str) -> Response:
    try:
        alert = await alerts.act(conn, user.viewer, alert_id, action=action, change=change,
                                 note=note, client_ip=client_ip(request))
    except ProblemError as exc:
        if exc.status == 404:
            raise
        return await _after_action(request, conn, user, ("error", exc.detail or "refused"),
                                   status=exc.status)
    return await _after_action(
        request, conn, user,
        ("ok", f"{done}: {alert.patient_name}, {present.rule_label(alert.rule_key)}."))


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge_alert(request: Request, alert_id: AlertId, user: Acting, conn: Conn,
                            note: NoteField = "") -> Response:
    return await _act(request, conn, user, alert_id, "acknowledge", note.strip() or None,
                      lambda state, now: acknowledge(state, now=now), "Acknowledged")


@router.post("/alerts/{alert_id}/resolve")
async def resolve_alert(request: Request, alert_id: AlertId, user: Acting, conn: Conn,
                        note: NoteField = "") -> Response:
    reason = note.strip()
    if not reason:
        return await _after_action(
            request, conn, user, ("error", "Resolving an alert needs a note saying why."), 422)
    return await _act(request, conn, user, alert_id, "resolve", reason,
                      lambda state, now: resolve(state, now=now, reason=reason), "Resolved")


@router.post("/alerts/{alert_id}/snooze")
async def snooze_alert(request: Request, alert_id: AlertId, user: Acting, conn: Conn,
                       minutes: Annotated[int, Form(ge=1, le=7 * 24 * 60)],
                       note: NoteField = "") -> Response:
    alert = await alerts.get_alert(conn, user.viewer, alert_id)
    policy = (await load_ruleset(conn, alert.patient_id)).escalation
    until = datetime.now(UTC) + timedelta(minutes=minutes)
    return await _act(request, conn, user, alert_id, "snooze", note.strip() or None,
                      lambda state, now: snooze(state, now=now, until=until, policy=policy),
                      f"Snoozed for {present.humanise_span(minutes * 60)}")


@router.get("/alerts/{alert_id}/history")
async def alert_history(request: Request, alert_id: AlertId, user: User,
                        conn: Conn) -> Response:
    alert = await alerts.get_alert(conn, user.viewer, alert_id)
    events = await alerts.alert_events(conn, alert.id)
    now = await db_now(conn)
    zone = ZoneInfo(web_settings().timezone)
    rows = [(present.local_time(e.at, now, zone), e) for e in events]
    return render(request, "_alert_events.html", {"alert": alert, "rows": rows})
