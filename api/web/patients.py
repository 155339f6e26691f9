"""The patient list (monitoring status per patient) and the patient page (status, NEWS2,
trend charts, alert history).

Monitoring status is the API's own `api.status.patient_status` (the same freshness rules as
`GET /patients/{id}/status`); trends are the API's `api.trends.query`; the patient is
resolved through the API's scope, so a patient of another team is a 404 here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response

from api import alerts, trends
from api.auth import Settings
from api.db import Conn, Connection
from api.models.readings import Resolution
from api.models.status import PatientStatus
from api.routes.rules import load_ruleset
from api.routes.status import allowances
from api.scope import PatientId, find_patient
from api.settings import ApiSettings
from api.status import patient_status
from api.web import charts, present, queries
from api.web.guard import UiUser, User
from api.web.htmlroute import HtmlRoute
from api.web.news2_panel import news2_panel
from api.web.settings import web_settings
from api.web.templating import render
from vigil.metrics import CATALOGUE, Metric
from vigil.rules import AlertStatus, RuleSet

router = APIRouter(route_class=HtmlRoute)

PATIENT_LIMIT = 200
RAW_LIMIT = 400  # fewer readings than this are drawn one by one; more, as buckets
MAX_BUCKETS = 360
ORDER = [Metric.SPO2, Metric.PULSE_RATE, Metric.HEART_RATE, Metric.RESPIRATORY_RATE,
         Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.MEAN_ARTERIAL_PRESSURE,
         Metric.BODY_TEMPERATURE, Metric.BODY_WEIGHT, Metric.BMI, Metric.BLOOD_GLUCOSE]
SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1, None: 0}
MONITORING_RANK = {"stopped": 3, "degraded": 2, "not_enrolled": 1, "ok": 0}
MONITORING_LABEL = {"ok": "Monitoring OK", "degraded": "Degraded", "stopped": "Stopped",
                    "not_enrolled": "Not enrolled"}
CONDITION_LABEL = {"general_adult": "General adult", "copd": "COPD",
                   "heart_failure": "Heart failure", "hypertension": "Hypertension"}


class Range(StrEnum):
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"


SPANS = {Range.DAY: timedelta(hours=24), Range.WEEK: timedelta(days=7),
         Range.MONTH: timedelta(days=30)}


@dataclass(frozen=True, slots=True)
class ValueView:
    metric: Metric
    display: str
    value_text: str
    shown: present.Shown
    late: bool
    questionable: bool


@dataclass(frozen=True, slots=True)
class StatusView:
    status: PatientStatus
    label: str
    gateways: list[tuple[Any, present.Shown]]
    devices: list[tuple[Any, present.Shown, present.Shown]]
    values: list[ValueView]


def status_view(status: PatientStatus, zone: ZoneInfo) -> StatusView:
    now = status.checked_at
    values = sorted(status.latest, key=lambda v: ORDER.index(v.metric))
    return StatusView(
        status=status, label=MONITORING_LABEL[status.monitoring],
        gateways=[(g, present.shown(g.last_seen, now, zone)) for g in status.gateways],
        devices=[(d, present.shown(d.last_seen, now, zone), present.shown(d.battery, now, zone))
                 for d in status.devices],
        values=[ValueView(v.metric, v.display, present.format_value(v.value, v.metric),
                          present.shown(v.reading, now, zone), v.late, v.questionable)
                for v in values])


async def _status(conn: Connection, settings: ApiSettings, patient_id: int,
                  ruleset: RuleSet | None = None) -> PatientStatus:
    ruleset = ruleset or await load_ruleset(conn, patient_id)
    return await patient_status(conn, patient_id, ruleset, allowances(settings))


@dataclass(frozen=True, slots=True)
class PatientRowView:
    patient: queries.PatientSummary
    view: StatusView
    condition: str


async def _patient_rows(conn: Connection, settings: ApiSettings,
                        user: UiUser) -> list[PatientRowView]:
    zone = ZoneInfo(web_settings().timezone)
    rows = []
    for patient in await queries.visible_patients(conn, user.viewer, PATIENT_LIMIT):
        view = status_view(await _status(conn, settings, patient.id), zone)
        rows.append(PatientRowView(patient, view,
                                   CONDITION_LABEL.get(patient.condition, patient.condition)))
    # Who needs attention first: worst live alert, then monitoring trouble, then by name.
    rows.sort(key=lambda r: (-SEVERITY_RANK.get(r.patient.top_severity, 0),
                             -MONITORING_RANK[r.view.status.monitoring],
                             r.patient.display_name.lower()))
    return rows


@router.get("/patients")
async def patient_list(request: Request, user: User, conn: Conn,
                       settings: Settings) -> Response:
    rows = await _patient_rows(conn, settings, user)
    now = await queries.db_now(conn)
    zone = ZoneInfo(web_settings().timezone)
    return render(request, "patients.html", {
        "user": user, "page": "patients", "rows": rows,
        "now_text": now.astimezone(zone).strftime("%H:%M:%S"),
        "refresh_s": web_settings().refresh_s, "limit": PATIENT_LIMIT})


@router.get("/patients/rows")
async def patient_rows(request: Request, user: User, conn: Conn,
                       settings: Settings) -> Response:
    rows = await _patient_rows(conn, settings, user)
    now = await queries.db_now(conn)
    zone = ZoneInfo(web_settings().timezone)
    return render(request, "_patient_rows.html", {
        "rows": rows, "now_text": now.astimezone(zone).strftime("%H:%M:%S"),
        "refresh_s": web_settings().refresh_s})


async def _rollups(conn: Connection, request: Request) -> frozenset[str]:
    """The TimescaleDB rollups available, detected once per app as the readings route does."""
    found: frozenset[str] | None = getattr(request.app.state, "rollups", None)
    if found is None:
        found = await trends.available_rollups(conn)
        request.app.state.rollups = found
    return found


async def _chart(conn: Connection, request: Request, patient_id: int, metric: Metric,
                 since: datetime, until: datetime, ruleset: RuleSet,
                 zone: ZoneInfo) -> dict[str, Any]:
    count = await queries.reading_count(conn, patient_id, metric, since, until)
    resolution = Resolution.RAW if count <= RAW_LIMIT else Resolution.AUTO
    trend = await trends.query(conn, patient_id=patient_id, metric=metric, since=since,
                               until=until, resolution=resolution, max_points=MAX_BUCKETS,
                               rollups=await _rollups(conn, request))
    series = trend.model()
    width = timedelta(seconds=series.bucket_seconds or 0)
    rule = ruleset.thresholds.get(metric)
    thresholds = [charts.Threshold(limit.op, limit.value, limit.severity.value)
                  for limit in (rule.limits if rule else [])]
    readings = [charts.Reading(p.measured_at, p.value, p.late, p.questionable,
                               tuple(f for f in p.quality if f in queries.QUESTIONABLE_FLAGS))
                for p in series.points]
    buckets = [charts.Bucket(b.start, width, b.min, b.max, b.mean, b.count)
               for b in series.buckets]
    marks = (await queries.flagged_readings(conn, patient_id, metric, since, until)
             if buckets else [])
    chart = charts.render(charts.Series(metric, since, until, readings, buckets, marks,
                                        thresholds), zone, f"chart-{metric.value}")
    recent = await queries.recent_readings(conn, patient_id, metric)
    return {"metric": metric, "chart": chart, "bucket_seconds": series.bucket_seconds,
            "source": series.source, "recent": recent, "thresholds": thresholds,
            "unit": present.unit_label(CATALOGUE[metric].ucum)}


@router.get("/patients/{patient_id}")
async def patient_page(
    request: Request, patient_id: PatientId, user: User, conn: Conn, settings: Settings,
    range_: Annotated[Range, Query(alias="range")] = Range.DAY,
) -> Response:
    patient = await find_patient(conn, user.viewer, patient_id)
    zone = ZoneInfo(web_settings().timezone)
    ruleset = await load_ruleset(conn, patient.id)
    status = await _status(conn, settings, patient.id, ruleset)
    now = status.checked_at
    since = now - SPANS[range_]
    seen = set(await queries.metrics_seen(conn, patient.id, since))
    seen |= {v.metric for v in status.latest}
    chart_list = [await _chart(conn, request, patient.id, metric, since, now, ruleset, zone)
                  for metric in ORDER if metric in seen]
    latest = {v.metric: v for v in status_view(status, zone).values}
    history = await alerts.list_alerts(conn, user.viewer, states=list(AlertStatus),
                                       severities=[], patient_id=patient.id, since=None,
                                       limit=50, offset=0)
    names = await queries.user_names(
        conn, {a.acknowledged_by for a in history if a.acknowledged_by}
        | {a.resolved_by for a in history if a.resolved_by})
    news2 = news2_panel(await queries.latest_trusted_news2(conn, patient.id), now=now,
                        rule=ruleset.news2, zone=zone)
    return render(request, "patient.html", {
        "user": user, "page": "patients", "patient": patient,
        "condition": CONDITION_LABEL.get(ruleset.condition.value, ruleset.condition.value),
        "view": status_view(status, zone), "news2": news2, "charts": chart_list,
        "latest": latest, "range": range_, "ranges": list(Range),
        "history": [(a, present.local_time(a.opened_at, now, zone),
                     present.local_time(a.resolved_at, now, zone) if a.resolved_at else "",
                     present.local_time(a.acknowledged_at, now, zone)
                     if a.acknowledged_at else "") for a in history],
        "live_alerts": [(a, present.humanise_age((now - a.opened_at).total_seconds()))
                        for a in history if a.state is not AlertStatus.RESOLVED],
        "names": names, "now_text": now.astimezone(zone).strftime("%H:%M:%S"),
        "refresh_s": web_settings().refresh_s,
        "date_of_birth": patient.date_of_birth.strftime("%d %b %Y")
        if patient.date_of_birth else None,
        "fmt_time": lambda at: present.local_time(at, now, zone),
        "age_of": lambda at: present.humanise_age((now - at).total_seconds())})
