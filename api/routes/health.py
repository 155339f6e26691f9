"""Liveness and readiness: the database must answer."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.db import get_pool

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    checked_at: datetime
    live_stream: str
    stream_subscribers: int


@router.get("/healthz", response_model=Health,
            responses={503: {"model": Health, "description": "The database is unreachable"}})
async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers (within 2 s), 503 otherwise; no authentication."""
    hub = request.app.state.hub
    stream = "listening" if hub.listening.is_set() else "reconnecting"
    try:
        async with get_pool(request).connection(timeout=2.0) as conn:
            cur = await conn.execute("SELECT now()")
            row = await cur.fetchone()
        assert row is not None
        body = Health(status="ok", database="ok", checked_at=row[0], live_stream=stream,
                      stream_subscribers=hub.subscriber_count)
        return JSONResponse(body.model_dump(mode="json"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        body = Health(status="unavailable", database=f"error: {type(exc).__name__}",
                      checked_at=datetime.now().astimezone(), live_stream=stream,
                      stream_subscribers=hub.subscriber_count)
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
