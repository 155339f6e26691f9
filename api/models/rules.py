"""A patient's alert rules: condition defaults plus per-patient overrides."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from vigil.rules import Condition, RuleSet


class RuleSettingsOut(BaseModel):
    patient_id: int
    condition: Condition
    overrides: dict[str, Any] = Field(
        description="JSON Merge Patch (RFC 7396) applied to the condition's defaults")
    ruleset: RuleSet = Field(description="The rules in effect: defaults with overrides applied")
    spo2_scale: Literal[1, 2] | None = Field(
        description="NEWS2 SpO2 scale in effect (None when NEWS2 is off)")
    version: int = Field(description="0 while the patient has the general_adult defaults")
    updated_at: datetime | None
    updated_by: int | None


class RuleSettingsIn(BaseModel):
    condition: Condition
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description='e.g. {"thresholds": {"spo2": {"sustain": "PT30S"}}, '
                    '"news2": {"spo2_scale": 2}}; null removes a key')
    version: int | None = Field(
        default=None, ge=0, le=2**31 - 1,
        description="The version you edited; a different current version is a 409 conflict")
