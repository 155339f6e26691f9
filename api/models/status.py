"""Monitoring status: gateways, devices and the latest value of each metric, every value with
its time, age and staleness (never stale data presented as current)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.models.common import Freshness
from vigil.metrics import Metric


class GatewayStatusOut(BaseModel):
    id: str
    label: str | None
    state: Literal["online", "offline", "unknown"] = Field(
        description="Effective state: offline when silent past its heartbeat allowance even "
                    "if its last status said online")
    reported_state: Literal["online", "offline", "unknown"] = Field(
        description="What the gateway (or its last will) last reported")
    state_since: datetime | None
    state_reason: str | None
    last_seen: Freshness = Field(description="Last message of any kind from the gateway")
    heartbeat_interval_s: float | None
    outbox_depth: int | None = Field(description="Readings waiting on the gateway, as reported")
    oldest_pending_at: datetime | None
    software_version: str | None


class DeviceStatusOut(BaseModel):
    id: int
    address: str
    model: str | None
    manufacturer: str | None
    gateway_id: str
    enrolled_since: datetime
    last_seen: Freshness = Field(description="Last contact or reading, against the shortest "
                                             "expected interval of the metrics it measures")
    battery_level: int | None
    battery: Freshness = Field(description="When the battery level was reported")
    metrics: list[Metric] = Field(description="Metrics whose latest reading came from it")


class LatestValue(BaseModel):
    metric: Metric
    display: str
    value: float
    unit: str
    device_id: int
    late: bool
    questionable: bool
    reading: Freshness = Field(
        description="Measurement time; stale after the rule set's expected interval plus "
                    "grace for this metric (missing-data rule), else the default allowance")


class PatientStatus(BaseModel):
    patient_id: int
    checked_at: datetime
    monitoring: Literal["ok", "degraded", "stopped", "not_enrolled"] = Field(
        description="ok: everything fresh; degraded: something stale; stopped: no gateway "
                    "online or every device silent; not_enrolled: no active enrolment")
    gateways: list[GatewayStatusOut]
    devices: list[DeviceStatusOut]
    latest: list[LatestValue]


class GatewayList(BaseModel):
    checked_at: datetime
    gateways: list[GatewayStatusOut]
