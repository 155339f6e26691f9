"""Gateway provisioning: registration and broker credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.models.status import GatewayStatusOut


class GatewayCreate(BaseModel):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(
        description="Gateway id; also its MQTT username and topic segment")
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class GatewayTopics(BaseModel):
    readings: str
    status: str
    events: str
    ack: str


class GatewayCredentials(BaseModel):
    """Shown once: the password is stored only as a hash."""

    gateway_id: str
    username: str
    password: str
    broker_url: str
    topics: GatewayTopics
    broker_updated: bool = Field(
        description="The broker's password file was updated and the broker told to reload")
    issued_at: datetime


class GatewayOut(GatewayStatusOut):
    has_credentials: bool
    credentials_issued_at: datetime | None
    credentials_revoked_at: datetime | None


class GatewayOutList(BaseModel):
    checked_at: datetime
    gateways: list[GatewayOut]
