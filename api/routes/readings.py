"""A patient's readings for a time range, raw or downsampled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime

from api import trends
from api.db import Conn
from api.models.readings import ReadingSeries, Resolution
from api.problems import ProblemError, responses
from api.scope import ScopedPatient
from api.timerange import within_range
from vigil.metrics import Metric

router = APIRouter(prefix="/patients", tags=["readings"])

MAX_SPAN = timedelta(days=400)


# response_model documents the body; the route returns it already serialised (api.trends
# Trend.json: the bytes of ReadingSeries.model_dump_json, without FastAPI's dump,
# re-validation and json.dumps of up to 10,000 items, nor a pydantic model per bucket).
@router.get("/{patient_id}/readings", response_model=ReadingSeries,
            responses=responses(401, 404, 422))
async def get_readings(
    patient: ScopedPatient,
    conn: Conn,
    request: Request,
    metric: Annotated[Metric, Query()],
    since: Annotated[AwareDatetime | None, Query(description="Default: 24 h before until")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Default: now")] = None,
    resolution: Annotated[Resolution, Query(description="auto picks buckets for max_points")
                          ] = Resolution.AUTO,
    max_points: Annotated[int, Query(ge=10, le=10_000)] = 1000,
) -> Response:
    """Readings of one metric in [since, until). Bucketed series give min/max/mean/count per
    bucket; raw series give each reading with its quality flags and late marker."""
    end = within_range("until", until) or datetime.now(UTC)
    start = within_range("since", since) or end - timedelta(days=1)
    if end - start > MAX_SPAN:
        raise ProblemError(422, f"the range may span at most {MAX_SPAN.days} days")
    if request.app.state.rollups is None:
        # TimescaleDB continuous aggregates, if the migration created them.
        request.app.state.rollups = await trends.available_rollups(conn)
    trend = await trends.query(
        conn, patient_id=patient.id, metric=metric, since=start, until=end,
        resolution=resolution, max_points=max_points, rollups=request.app.state.rollups)
    return Response(trend.json(), media_type="application/json")
