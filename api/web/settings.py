"""Dashboard-only settings (`VIGIL_UI_*`), kept apart from ApiSettings so the API's settings
object stays the API's. Everything has a safe default; none is needed to run."""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_UI_", extra="ignore")

    # Times are shown in the ward's zone (IANA name); the database keeps UTC.
    timezone: str = "Europe/London"
    # A session ends after this long without a request. An open dashboard refreshes itself,
    # so in practice this is "the tab was closed this long ago".
    idle_timeout_s: int = Field(default=30 * 60, ge=60, le=12 * 3600)
    # ...and in any case this long after sign-in (one shift), whatever the activity.
    max_session_s: int = Field(default=12 * 3600, ge=300, le=24 * 3600)
    # Secure cookies: None follows the request scheme (https behind a TLS proxy, with
    # uvicorn's proxy headers), so plain-http development on 127.0.0.1 still works.
    cookie_secure: bool | None = None
    # How often the open queue and patient list re-render, so ages shown stay true.
    refresh_s: int = Field(default=30, ge=5, le=600)


@functools.cache
def web_settings() -> WebSettings:
    return WebSettings()
