"""The audit log as served to administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditEntry(BaseModel):
    seq: int
    at: datetime
    actor_id: int | None
    actor_name: str | None
    action: str = Field(description='e.g. "alert.acknowledge", "rules.update"')
    entity_type: str
    entity_id: str | None
    patient_id: int | None
    client_ip: str | None
    details: dict[str, Any]
    prev_hash: str = Field(description="sha256 of the previous entry, hex")
    hash: str = Field(description="sha256(prev_hash || canonical content), hex")


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_after_seq: int | None = Field(description="Pass as after_seq for the next page")


class AuditVerification(BaseModel):
    ok: bool
    rows_checked: int
    first_bad_seq: int | None
    problem: str | None
    head_seq: int | None = Field(description="Record seq and hash elsewhere: a later "
                                             "verification against them detects truncation")
    head_hash: str | None
