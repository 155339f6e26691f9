"""Readings over a time range: raw points or time buckets (min/max/mean/count)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from vigil.metrics import Metric


class Resolution(StrEnum):
    AUTO = "auto"
    RAW = "raw"
    MINUTE = "1m"
    FIVE_MINUTES = "5m"
    FIFTEEN_MINUTES = "15m"
    HOUR = "1h"
    SIX_HOURS = "6h"
    DAY = "1d"


RESOLUTION_SECONDS: dict[Resolution, int] = {
    Resolution.MINUTE: 60,
    Resolution.FIVE_MINUTES: 300,
    Resolution.FIFTEEN_MINUTES: 900,
    Resolution.HOUR: 3600,
    Resolution.SIX_HOURS: 6 * 3600,
    Resolution.DAY: 86400,
}


class ReadingPoint(BaseModel):
    id: str
    measured_at: datetime
    received_at: datetime
    value: float
    device_id: int
    origin: Literal["live", "stored", "late"]
    late: bool = Field(description="Delivered late (backfill): shown, never paged as new")
    quality: list[str]
    questionable: bool = Field(description="Carries a flag that makes it unfit to alert on")


class Bucket(BaseModel):
    start: datetime
    min: float
    max: float
    mean: float
    count: int


class ReadingSeries(BaseModel):
    patient_id: int
    metric: Metric
    unit: str = Field(description="UCUM unit of every value")
    since: datetime
    until: datetime
    resolution: Resolution = Field(description="What was served (auto is resolved)")
    bucket_seconds: int | None = Field(description="Bucket width; None for raw readings")
    source: Literal["readings", "readings_hourly", "readings_daily"] = Field(
        description="Raw rows (aggregated at query time when bucketed) or a rollup")
    points: list[ReadingPoint] = Field(description="Raw readings, oldest first (raw only)")
    buckets: list[Bucket] = Field(description="Buckets, oldest first (bucketed only)")
    truncated: bool = Field(description="More raw readings exist than were returned")
