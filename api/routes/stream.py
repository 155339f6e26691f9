"""Server-Sent Events: alert changes for the patients the signed-in user may see.

Events: `ready` once subscribed; `alert` with the alert's full current state (id = its
updated_at in epoch microseconds, so a reconnecting EventSource's Last-Event-ID replays what it
missed); `resync` when changes may have been lost (re-read the queue); `token_expired` just
before the stream closes at the token's expiry (sign in again and reconnect). Comment lines
keep idle connections open.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from psycopg import sql
from psycopg.rows import dict_row

from api.alerts import ALERT_COLUMNS, alert_out
from api.auth import Settings, Viewer, oauth2_scheme, viewer_from_token
from api.db import Connection, get_pool
from api.models.alerts import AlertOut
from api.problems import responses
from api.scope import visible
from api.stream import AlertHub, Resync
from api.timerange import within_range

router = APIRouter(tags=["alerts"])

REPLAY_LIMIT = 500
# Transactions commit in a different order than their now(): replay a little further back.
REPLAY_MARGIN = timedelta(seconds=60)


def _event_id(alert: AlertOut) -> str:
    return str(int(alert.updated_at.timestamp() * 1_000_000))


def _sse(event: str, data: str, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


def _alert_event(alert: AlertOut) -> str:
    return _sse("alert", alert.model_dump_json(), _event_id(alert))


async def _replay(conn: Connection, viewer: Viewer, since: datetime) -> list[AlertOut]:
    query = sql.SQL(
        "SELECT {columns} FROM alerts a JOIN patients p ON p.id = a.patient_id "
        "WHERE {visible} AND a.updated_at >= %s ORDER BY a.updated_at, a.id LIMIT %s"
    ).format(columns=ALERT_COLUMNS, visible=visible("a.patient_id", viewer))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (since - REPLAY_MARGIN, REPLAY_LIMIT))
        return [alert_out(row) for row in await cur.fetchall()]


def _resume_point(last_event_id: str | None, since: datetime | None) -> datetime | None:
    if last_event_id and last_event_id.isdigit() and len(last_event_id) <= 18:
        return datetime.fromtimestamp(int(last_event_id) / 1_000_000, UTC)
    return within_range("since", since)


@router.get(
    "/alerts/stream",
    response_class=StreamingResponse,
    responses={200: {"description": "text/event-stream of alert changes",
                     "content": {"text/event-stream": {"schema": {"type": "string"}}}},
               **responses(401, 422)},
)
async def alert_stream(
    request: Request,
    settings: Settings,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    since: Annotated[datetime | None, Query(
        description="Replay alerts changed since then before going live")] = None,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
) -> StreamingResponse:
    """Live alert changes over Server-Sent Events, scoped to the patients you may see."""
    # A connection only for the sign-in check and replay: a stream must not hold one of the
    # pool's connections for its whole life.
    async with get_pool(request).connection() as conn:
        viewer = await viewer_from_token(conn, settings, token)
        resume = _resume_point(last_event_id, since)
        replay = await _replay(conn, viewer, resume) if resume is not None else []
    hub: AlertHub = request.app.state.hub
    heartbeat = settings.sse_heartbeat_s

    async def events() -> AsyncIterator[str]:
        subscription = hub.subscribe(viewer.id)
        try:
            yield "retry: 3000\n\n"
            try:
                async with asyncio.timeout(10):
                    await hub.listening.wait()
            except TimeoutError:
                yield _sse("resync", json.dumps({"reason": "live updates are delayed"}))
            yield _sse("ready", json.dumps({"user_id": viewer.id}))
            for alert in replay:
                yield _alert_event(alert)
            while True:
                left = (viewer.token_expires_at - datetime.now(UTC)).total_seconds()
                if left <= 0:
                    yield _sse("token_expired", "{}")
                    return
                if subscription.overflowed:
                    yield _sse("resync", json.dumps({"reason": "client too slow"}))
                    subscription.overflowed = False
                try:
                    async with asyncio.timeout(min(heartbeat, left)):
                        event = await subscription.queue.get()
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if isinstance(event, Resync):
                    yield _sse("resync", json.dumps({"reason": event.reason}))
                else:
                    yield _alert_event(event)
        finally:
            hub.unsubscribe(subscription)

    return StreamingResponse(
        events(), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
