"""Sign-in and the signed-in user."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.security import Role


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")
    expires_at: datetime


class Me(BaseModel):
    id: int
    email: str
    display_name: str
    role: Role
    organisation_id: int
    team_ids: list[int]
    token_expires_at: datetime
