"""Rule configuration: pydantic models a patient's RuleSet is made of, JSON in and out.

Durations are `timedelta`s: JSON accepts seconds or ISO 8601 ("PT15S", "P3D") and emits ISO
8601. Every model forbids unknown fields, so a misspelt override is an error, not a silent
no-op. Condition defaults live in `vigil.rules.defaults`; per-patient overrides in
`vigil.rules.overrides`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vigil.metrics import CATALOGUE, Metric
from vigil.rules.evaluation import Severity

Op = Literal["<", "<=", ">", ">="]
PositiveDuration = Annotated[timedelta, Field(gt=timedelta(0))]
NonNegativeDuration = Annotated[timedelta, Field(ge=timedelta(0))]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def exact(value: float) -> Decimal:
    """The decimal a float was written as: 70.3 - 68.3 is 2.0 here, not 2.0000000000000027."""
    return _decimal(repr(float(value)))


# Rules compare the same few limits and readings over and over; Decimals are immutable.
_decimal = lru_cache(maxsize=4096)(Decimal)


class Limit(_Config):
    """One band of a threshold rule: breached when `value <op> limit`, e.g. SpO2 < 94."""

    op: Op
    value: Annotated[float, Field(allow_inf_nan=False)]
    severity: Severity
    # Fires on the first trusted reading past the limit, without waiting for `sustain`.
    immediate: bool = False

    @property
    def key(self) -> str:
        return f"{self.op}{self.value:g}"

    @property
    def lower(self) -> bool:
        """A lower limit (value too low) rather than an upper one."""
        return self.op in ("<", "<=")

    def breached(self, value: float) -> bool:
        return _compare(self.op, exact(value), exact(self.value))

    def cleared(self, value: float, margin: float) -> bool:
        """Back inside by the margin: the not-breached test against the limit moved inwards."""
        shift = exact(margin) if self.lower else -exact(margin)
        return not _compare(self.op, exact(value), exact(self.value) + shift)


def _compare(op: Op, value: Decimal, limit: Decimal) -> bool:
    match op:
        case "<":
            return value < limit
        case "<=":
            return value <= limit
        case ">":
            return value > limit
        case ">=":
            return value >= limit
    raise AssertionError(op)  # pragma: no cover


class ThresholdRule(_Config):
    """Per-patient limits with hysteresis, optionally sustained (see vigil.rules.threshold)."""

    metric: Metric
    limits: Annotated[list[Limit], Field(min_length=1)]
    # A raised band clears only once the value is back inside its limit by this much.
    hysteresis: NonNegative = 0.0
    # A breach counts only once trusted readings have stayed past the limit this long
    # (0 = at once). Limits marked `immediate` ignore it.
    sustain: NonNegativeDuration = timedelta(0)
    # A longer silence breaks a breach run; a run that ends in silence, neither confirmed nor
    # refuted, is raised rather than forgotten (see vigil.rules.threshold).
    max_gap: PositiveDuration = timedelta(seconds=30)
    auto_resolve: bool = False

    @property
    def rule_key(self) -> str:
        return f"threshold:{self.metric.value}"

    @model_validator(mode="after")
    def _consistent(self) -> ThresholdRule:
        keys = [limit.key for limit in self.limits]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.rule_key}: duplicate limits {keys}")
        spec = CATALOGUE[self.metric]
        lows = [exact(x.value) + exact(self.hysteresis) for x in self.limits if x.lower]
        highs = [exact(x.value) - exact(self.hysteresis) for x in self.limits if not x.lower]
        if lows and highs and max(lows) >= min(highs):
            raise ValueError(
                f"{self.rule_key}: lower and upper limits (with hysteresis {self.hysteresis:g}) "
                "overlap, so no value could ever clear"
            )
        if lows and max(lows) > exact(spec.plausible_max):
            raise ValueError(f"{self.rule_key}: a lower limit plus hysteresis is unreachable")
        if highs and min(highs) < exact(spec.plausible_min):
            raise ValueError(f"{self.rule_key}: an upper limit minus hysteresis is unreachable")
        return self


class TrendLimit(_Config):
    # Strictly more than this change (metric units) within `window` breaches.
    change: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    window: PositiveDuration
    severity: Severity


class TrendRule(_Config):
    """Change of a metric over a window (see vigil.rules.trend)."""

    metric: Metric
    direction: Literal["rise", "fall"] = "rise"
    # "extreme": against the lowest reading in the window for a rise (highest for a fall), so
    # a rise after a dip counts in full. "earliest": against the first reading in the window.
    baseline: Literal["extreme", "earliest"] = "extreme"
    limits: Annotated[list[TrendLimit], Field(min_length=1)]
    hysteresis: NonNegative = 0.0
    auto_resolve: bool = False

    @property
    def rule_key(self) -> str:
        return f"trend:{self.metric.value}"

    @property
    def longest_window(self) -> timedelta:
        return max(limit.window for limit in self.limits)


class BpLimit(_Config):
    systolic: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    diastolic: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    severity: Severity

    def reached(self, systolic: Decimal | None, diastolic: Decimal | None) -> bool:
        """NICE thresholds are "X/Y or higher": either pressure at or above its limit."""
        return (systolic is not None and systolic >= exact(self.systolic)) or (
            diastolic is not None and diastolic >= exact(self.diastolic)
        )


class BpAverageRule(_Config):
    """Home blood pressure averages after NICE NG136 (see vigil.rules.bp_average)."""

    window_days: Annotated[int, Field(ge=2, le=31)] = 7
    min_days: Annotated[int, Field(ge=2, le=31)] = 4
    discard_first_day: bool = True
    stage1: BpLimit = BpLimit(systolic=135, diastolic=85, severity=Severity.LOW)
    stage2: BpLimit = BpLimit(systolic=150, diastolic=95, severity=Severity.MEDIUM)
    # Applied to every single trusted reading, at once.
    severe: BpLimit = BpLimit(systolic=180, diastolic=120, severity=Severity.HIGH)
    # Days are the patient's calendar days ("discard the first day").
    timezone: str = "Europe/London"
    auto_resolve: bool = False

    @property
    def rule_key(self) -> str:
        return "bp_average"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BpAverageRule:
        if self.min_days > self.window_days:
            raise ValueError("min_days cannot exceed window_days")
        return self


class News2Rule(_Config):
    """NEWS2 aggregate: 5-6 or a single 3 -> medium, 7+ -> high, 1-4 -> low if enabled."""

    # Scale 2 only for clinician-documented hypercapnic respiratory failure.
    spo2_scale: Literal[1, 2] = 1
    # The patient's recorded oxygen use; None (unknown) leaves the set incomplete unless the
    # caller supplies it with the evaluation.
    on_oxygen: bool | None = None
    # A parameter's latest reading older than this is missing, not current.
    window: PositiveDuration = timedelta(hours=1)
    low_enabled: bool = False
    auto_resolve: bool = False

    @property
    def rule_key(self) -> str:
        return "news2"


class MissingDataRule(_Config):
    """Expected schedule of one metric (see vigil.rules.missing)."""

    metric: Metric
    # Expected interval between readings: 12 h for "BP twice daily", a minute for continuous.
    every: PositiveDuration
    grace: NonNegativeDuration = timedelta(0)
    # "continuous": the device is expected to stay in touch (wearable oximeter), so its
    # silence is a cause of its own. "on_use": it wakes only to measure (cuff, scale), so its
    # silence is what a patient not measuring looks like.
    device_presence: Literal["continuous", "on_use"] = "on_use"
    severity: Severity = Severity.LOW
    low_battery_percent: Annotated[int, Field(ge=0, le=100)] = 20
    # A gateway silent for longer than this counts as offline even if its last status said
    # online (heartbeats stopped, last will not yet delivered).
    gateway_timeout: PositiveDuration = timedelta(minutes=5)
    # Readings resuming resolve the alert, with the reason recorded.
    auto_resolve: bool = True

    @property
    def rule_key(self) -> str:
        return f"missing:{self.metric.value}"


class EscalationPolicy(_Config):
    # An open alert not acknowledged this long after its last page escalates; a severity
    # without an entry (or with null) never escalates.
    ack_within: dict[Severity, PositiveDuration | None] = {
        Severity.HIGH: timedelta(minutes=15),
        Severity.MEDIUM: timedelta(hours=1),
        Severity.LOW: None,
    }
    max_escalations: Annotated[int, Field(ge=0, le=10)] = 2
    max_snooze: PositiveDuration = timedelta(hours=24)


class Condition(StrEnum):
    GENERAL_ADULT = "general_adult"
    COPD = "copd"
    HEART_FAILURE = "heart_failure"
    HYPERTENSION = "hypertension"


class RuleSet(_Config):
    """Everything Vigil evaluates for one patient. Stored as JSONB (audited) by the API."""

    v: Literal[1] = 1
    condition: Condition
    thresholds: dict[Metric, ThresholdRule] = {}
    trends: dict[Metric, TrendRule] = {}
    bp_average: BpAverageRule | None = None
    news2: News2Rule | None = None
    missing: dict[Metric, MissingDataRule] = {}
    escalation: EscalationPolicy = EscalationPolicy()
    # Evidence measured longer ago than this when evaluated is late whatever its origin
    # (a device's stored records, a slow backfill): recorded, never paged.
    late_after: PositiveDuration = timedelta(hours=1)

    @model_validator(mode="before")
    @classmethod
    def _metric_from_key(cls, data: object) -> object:
        # In JSON the metric is the map key; repeating it inside each rule is optional.
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name in ("thresholds", "trends", "missing"):
            rules = data.get(name)
            if isinstance(rules, dict):
                data[name] = {
                    key: {"metric": key, **rule} if isinstance(rule, dict) else rule
                    for key, rule in rules.items()
                }
        return data

    @model_validator(mode="after")
    def _keys_match(self) -> RuleSet:
        for name, rules in (
            ("thresholds", self.thresholds),
            ("trends", self.trends),
            ("missing", self.missing),
        ):
            for key, rule in rules.items():
                if rule.metric is not key:
                    raise ValueError(f"{name}.{key.value} holds a rule for {rule.metric.value}")
        return self

    def rule_keys(self) -> list[str]:
        keys = [rule.rule_key for rule in self.thresholds.values()]
        keys += [rule.rule_key for rule in self.trends.values()]
        keys += [rule.rule_key for rule in (self.bp_average, self.news2) if rule is not None]
        keys += [rule.rule_key for rule in self.missing.values()]
        return keys
