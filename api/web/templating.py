"""Jinja2 templates for the dashboard: one environment, autoescaped, with the presentation
helpers as filters and fingerprinted static URLs (so a new release is never served a stale
cached script)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.web import present

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@functools.cache
def static_files() -> dict[str, Path]:
    """Every servable file by its path under static/, fixed at start: a request can name
    only these, so no path traversal is possible."""
    return {path.relative_to(STATIC).as_posix(): path
            for path in sorted(STATIC.rglob("*")) if path.is_file()}


@functools.cache
def _fingerprint(name: str) -> str:
    return hashlib.sha256(static_files()[name].read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/ui/static/{name}?v={_fingerprint(name)}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a misspelt variable is an error, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(static_url=static_url, severity_label=present.SEVERITY_LABEL,
                       cause_label=present.CAUSE_LABEL)
    env.filters.update(
        value=present.format_value, rule_label=present.rule_label,
        metric_label=present.metric_label, unit=present.unit_label,
        metric_unit=present.metric_unit,
        age=present.humanise_age, span=present.humanise_span, nhs=present.nhs_display)
    return env


ENV = _environment()


def render(request: Request, name: str, context: dict[str, Any], status: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    html = ENV.get_template(name).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=headers)
