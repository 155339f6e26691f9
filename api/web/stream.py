"""The live alert stream for the dashboard: the API's own SSE stream (`GET /alerts/stream`,
PostgreSQL LISTEN/NOTIFY through the app's AlertHub), authorised by the session cookie.

A browser's EventSource cannot send an Authorization header, so this route reads the session
and hands the API's stream handler a token for the session's user that expires with the
session: the stream then ends with `token_expired`, the EventSource reconnects, and a session
still alive (the open page keeps renewing it) continues seamlessly while an ended one gets 401.
No database connection is held for the life of the stream (the API's handler takes one only
to check the user and replay).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from api.auth import Settings
from api.routes.stream import alert_stream
from api.web.guard import api_token, read_session
from api.web.htmlroute import HtmlRoute
from api.web.settings import web_settings

router = APIRouter(route_class=HtmlRoute)


@router.get("/stream")
async def ui_stream(
    request: Request, settings: Settings,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
) -> StreamingResponse:
    now = datetime.now(UTC)
    session = read_session(request, settings, web_settings(), now)
    token = api_token(session, settings, now, session.expires_at - now)
    return await alert_stream(request, settings, token, since=None,
                              last_event_id=last_event_id)
