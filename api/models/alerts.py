"""Alerts, their history and the clinician actions on them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from vigil.metrics import Metric
from vigil.rules import AlertStatus, Severity

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class AlertOut(BaseModel):
    id: int
    patient_id: int
    patient_name: str
    rule_key: str = Field(description='e.g. "threshold:spo2", "news2", "missing:spo2"')
    severity: Severity
    state: AlertStatus
    message: str
    opened_at: datetime = Field(description="When the opening evidence was measured")
    created_at: datetime
    updated_at: datetime
    last_evidence_at: datetime = Field(description="Measurement time of the newest evidence")
    last_value: float | None
    evidence_age_seconds: float = Field(description="Age of the newest evidence now")
    trigger_reading_id: str | None
    trigger_metric: Metric | None
    trigger_value: float | None
    trigger_unit: str | None
    trigger_measured_at: datetime | None
    late: bool = Field(description="Known only from late (backfilled) data: not paged")
    cause: str | None = Field(description="Why monitoring stopped (missing-data alerts)")
    details: dict[str, Any]
    paged_at: datetime | None
    escalation_level: int
    escalated_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    acknowledged_note: str | None
    snoozed_until: datetime | None
    snoozed: bool = Field(description="A snooze is in force now")
    snoozed_by: int | None
    resolved_at: datetime | None
    resolved_by: int | None
    resolution_source: Literal["clinician", "rule"] | None
    resolution: str | None
    last_action: str


class AlertEventOut(BaseModel):
    id: int
    at: datetime
    actor_id: int | None = Field(description="None: the system (ingest, sweeper)")
    actor_name: str | None
    action: str
    from_state: AlertStatus | None
    to_state: AlertStatus
    from_severity: Severity | None
    to_severity: Severity
    snoozed_until: datetime | None
    note: str | None


class AlertDetail(AlertOut):
    events: list[AlertEventOut]


class AlertList(BaseModel):
    alerts: list[AlertOut]
    limit: int
    offset: int


class AcknowledgeIn(BaseModel):
    note: Note | None = None


class ResolveIn(BaseModel):
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=2000)] = Field(
        description="Why it is resolved (required)")


class SnoozeUntil(BaseModel):
    """Snooze until a time."""

    model_config = ConfigDict(extra="forbid")
    until: AwareDatetime
    note: Note | None = None


class SnoozeFor(BaseModel):
    """Snooze for a number of minutes."""

    model_config = ConfigDict(extra="forbid")
    minutes: int = Field(ge=1, le=7 * 24 * 60)
    note: Note | None = None


# Exactly one of the two shapes: a body with both `until` and `minutes` matches neither.
SnoozeIn = SnoozeUntil | SnoozeFor
