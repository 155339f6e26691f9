"""The FastAPI application: settings, pool, live-stream hub, routers, problem handlers."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.db import create_pool
from api.routes import alerts, audit, auth, fhir, gateways, health, patients, readings, rules
from api.routes import status as status_routes
from api.routes import stream as stream_routes
from api.settings import ApiSettings
from api.stream import AlertHub
from vigil import __version__

log = logging.getLogger("vigil.api")
access_log = logging.getLogger("vigil.api.access")


class AccessLog:
    """One structured line per request, with an id echoed in X-Request-ID. Pure ASGI, so
    streaming responses (SSE) pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "%s %s %s", scope["method"], scope["path"], status,
                extra={"request_id": request_id, "method": scope["method"],
                       "path": scope["path"], "status": status,
                       "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                       "client": (scope.get("client") or ("", 0))[0]})


async def _on_data_error(request: Request, exc: Exception) -> JSONResponse:
    # SQLSTATE class 22 (data exception): a value the database cannot take, e.g. a NUL
    # character in text. The input was at fault, not the server.
    return problems.problem_response(422, f"a value was not acceptable: {exc}".split("\n")[0],
                                     request)


def create_app(settings: ApiSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = create_pool(settings)
        # Do not wait for the database: the API starts and /healthz reports 503 until the
        # database answers.
        await pool.open(wait=False)
        app.state.pool = pool
        app.state.rollups = None  # detected at the first trend query (api.routes.readings)
        hub = AlertHub(settings.database_url, pool)
        app.state.hub = hub
        await hub.start()
        log.info("api started")
        try:
            yield
        finally:
            await hub.stop()
            await pool.close()

    app = FastAPI(
        title="Vigil clinician API",
        version=__version__,
        description=(
            "Alerts, patients, readings, monitoring status, FHIR R4 export and a live alert "
            "stream for remote patient monitoring. Sign in at /auth/token (OAuth2 password "
            "flow) and send the token as `Authorization: Bearer <token>`. Errors are RFC 9457 "
            "problem details (application/problem+json). A patient you may not see is 404."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    problems.install(app)
    app.add_exception_handler(psycopg.DataError, _on_data_error)
    app.add_middleware(AccessLog)
    # The stream's fixed path is registered before /alerts/{alert_id}.
    for module in (health, auth, stream_routes, alerts, patients, rules, readings,
                   status_routes, gateways, audit, fhir):
        app.include_router(module.router)
    # The dashboard: server-rendered pages under /ui, outside the OpenAPI document.
    from api import web

    app.include_router(web.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with error responses documented only as problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if code.isdigit() and int(code) >= 400 and problems.MEDIA_TYPE in content:
                    response["content"] = {problems.MEDIA_TYPE: content[problems.MEDIA_TYPE]}
    app.openapi_schema = schema
    return schema
