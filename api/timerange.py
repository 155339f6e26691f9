"""Bounds on client-supplied instants: far outside any monitoring period they are input
errors (422), not arithmetic overflows deep in a query."""

from __future__ import annotations

from datetime import UTC, datetime

from api.problems import ProblemError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def within_range(name: str, value: datetime | None) -> datetime | None:
    """The instant in UTC, or None; 422 when it lies outside 1970..2200."""
    if value is None:
        return None
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ProblemError(422, f"`{name}` must lie between {EARLIEST:%Y} and {LATEST:%Y}")
    return utc
