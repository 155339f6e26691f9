"""Pieces several resources share: freshness (age and staleness of a value)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field


class Freshness(BaseModel):
    """When a value was measured or last heard, how old it is, and whether it is stale.

    A value is stale once its age exceeds `stale_after_s` (its expected interval plus the
    allowed slack): clients must show it as old, never as current."""

    at: datetime | None = Field(description="Measurement (or last-heard) time, UTC")
    age_seconds: float | None = Field(description="Seconds between `at` and `checked_at`")
    stale_after_s: float = Field(description="Age beyond which the value is stale")
    stale: bool = Field(description="True when there is no value or it is older than allowed")


def freshness(at: datetime | None, now: datetime, stale_after: timedelta) -> Freshness:
    if at is None:
        return Freshness(at=None, age_seconds=None,
                         stale_after_s=stale_after.total_seconds(), stale=True)
    # A device clock ahead of ours gives a small negative age; it is still "now", not future.
    age = max(0.0, (now - at).total_seconds())
    return Freshness(at=at, age_seconds=round(age, 3), stale_after_s=stale_after.total_seconds(),
                     stale=age > stale_after.total_seconds())
