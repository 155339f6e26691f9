"""Errors as RFC 9457 problem details (`application/problem+json`), one shape for every route.

Routes raise `ProblemError` (or FastAPI's HTTPException, which is converted); validation errors
become 422 problems listing each invalid field. `responses(...)` documents them in OpenAPI.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_TYPE_BASE = "https://vigil.example/problems/"
MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("vigil.api")


class InvalidField(BaseModel):
    location: list[str | int]
    message: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="URI identifying the problem type")
    title: str = Field(description="Short summary of the problem type")
    status: int = Field(description="HTTP status code")
    detail: str | None = Field(default=None, description="What went wrong in this occurrence")
    instance: str | None = Field(default=None, description="The request path")
    errors: list[InvalidField] | None = Field(
        default=None, description="Each invalid field (validation problems only)"
    )


# status -> (type slug, title)
_KINDS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    422: ("invalid-request", "Invalid request"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal-error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


class ProblemError(Exception):
    """Raise from anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or str(status))
        default_slug, default_title = _KINDS.get(status, ("error", HTTPStatus(status).phrase))
        self.status = status
        self.detail = detail
        self.slug = slug or default_slug
        self.title = title or default_title
        self.headers = headers or {}


def not_found(what: str) -> ProblemError:
    return ProblemError(404, f"{what} not found")


def unauthenticated(detail: str) -> ProblemError:
    return ProblemError(401, detail, headers={"WWW-Authenticate": "Bearer"})


def problem_response(
    status: int,
    detail: str | None,
    request: Request,
    *,
    slug: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[InvalidField] | None = None,
) -> JSONResponse:
    default_slug, default_title = _KINDS.get(status, ("error", HTTPStatus(status).phrase))
    body = Problem(
        type=PROBLEM_TYPE_BASE + (slug or default_slug),
        title=title or default_title,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=headers,
        media_type=MEDIA_TYPE,
    )


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.detail, request, slug=exc.slug, title=exc.title,
                            headers=exc.headers)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(exc.status_code, detail, request,
                            headers=dict(exc.headers or {}))


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        InvalidField(location=[p for p in e.get("loc", ()) if isinstance(p, str | int)],
                     message=str(e.get("msg", "invalid")), type=str(e.get("type", "invalid")))
        for e in exc.errors()
    ]
    where = ", ".join(".".join(str(p) for p in err.location) for err in errors[:5])
    return problem_response(422, f"invalid request: {where}", request, errors=errors)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "an unexpected error occurred; it has been logged", request)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(Exception, _on_unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the problem responses a route can give."""
    return {
        status: {
            "model": Problem,
            "description": _KINDS.get(status, ("", HTTPStatus(status).phrase))[1],
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
