"""What a rule decides about one reading (or one sweep): the Evaluation.

An Evaluation is a statement about the patient at time `at`; it does not know about alerts.
`vigil.rules.lifecycle.decide` turns it into a transition of the alert for its `rule_key`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field, model_validator

from vigil.metrics import Metric
from vigil.news2 import News2Result


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}


def highest(severities: list[Severity]) -> Severity | None:
    return max(severities, key=lambda s: s.rank) if severities else None


class Status(StrEnum):
    BREACH = "breach"  # the condition is present at `severity`
    CLEAR = "clear"  # the condition is absent (back inside its limits by the hysteresis margin)
    PENDING = "pending"  # a breach is building but has not lasted long enough to count yet
    UNCHANGED = "unchanged"  # nothing can be concluded (questionable, incomplete, too little data)


class MissingCause(StrEnum):
    """Why readings stopped, in order of precedence: an offline gateway explains a silent
    device, a silent device explains a missing reading, a flat battery explains a patient
    who could not measure."""

    GATEWAY_OFFLINE = "gateway_offline"
    DEVICE_NOT_SEEN = "device_not_seen"
    LOW_BATTERY = "low_battery"
    NOT_MEASURED = "patient_did_not_measure"


class Evaluation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_key: str
    metric: Metric | None = None
    status: Status
    severity: Severity | None = None
    # When the evidence was measured (the reading's measured_at); the clock for time-driven
    # rules (missing data).
    at: AwareDatetime
    value: float | None = None
    reason: str
    # Evidence delivered late (backfill, or older than the rule set's late_after): recorded,
    # may open or raise an alert for the record, never pages.
    late: bool = False
    # From the rule's configuration: may a CLEAR resolve an open alert without a clinician?
    auto_resolve: bool = False
    # The reading carried a QUESTIONABLE quality flag and was not used.
    questionable: bool = False
    cause: MissingCause | None = None
    causes: list[MissingCause] = Field(default_factory=list)
    news2: News2Result | None = None

    @model_validator(mode="before")
    @classmethod
    def _derived_page(cls, data: object) -> object:
        # `page` is serialised for consumers but always derived from `late` on the way in.
        if isinstance(data, dict) and "page" in data:
            data = {k: v for k, v in data.items() if k != "page"}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def page(self) -> bool:
        """Whether a transition driven by this evaluation may page someone."""
        return not self.late
