"""What a rule sees of a reading: metric, value, time, quality flags and origin."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from vigil.messages import Origin, Reading
from vigil.metrics import Metric
from vigil.quality import QUESTIONABLE, QualityFlag


def require_aware(name: str, value: datetime) -> datetime:
    """Rules compare instants; a naive datetime has no instant, so it is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


@dataclass(frozen=True, slots=True)
class Observation:
    metric: Metric
    value: float
    measured_at: datetime
    quality: frozenset[QualityFlag] = field(default_factory=frozenset)
    origin: Origin = Origin.LIVE
    # The reading id, when known: lets history and a batch overlap without double counting.
    id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", Metric(self.metric))
        object.__setattr__(self, "origin", Origin(self.origin))
        object.__setattr__(self, "quality", frozenset(QualityFlag(f) for f in self.quality))
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise ValueError(f"{self.metric.value} value must be a number, not {self.value!r}")
        if not math.isfinite(self.value):
            raise ValueError(f"{self.metric.value} value must be a finite number")
        object.__setattr__(self, "value", float(self.value))
        require_aware("measured_at", self.measured_at)

    @property
    def questionable(self) -> bool:
        """Carries a flag that forbids it from opening, raising or clearing an alert."""
        return not self.quality.isdisjoint(QUESTIONABLE)

    @property
    def questionable_flags(self) -> list[str]:
        return sorted(flag.value for flag in self.quality & QUESTIONABLE)

    @property
    def late(self) -> bool:
        return self.origin is Origin.LATE

    @property
    def key(self) -> tuple[object, ...]:
        if self.id is not None:
            return ("id", self.id)
        return ("value", self.metric, self.measured_at, self.value)

    @classmethod
    def trusted(
        cls, metric: Metric, value: float, measured_at: datetime,
        quality: frozenset[QualityFlag] = frozenset(), origin: Origin = Origin.LIVE,
        id: str | None = None,
    ) -> Observation:
        """An observation of values validated already -- a Reading, a stored row -- without
        checking them again: on the data path the checks cost more than the rules."""
        obs = object.__new__(cls)
        _set(obs, "metric", metric)
        _set(obs, "value", float(value))
        _set(obs, "measured_at", measured_at)
        _set(obs, "quality", quality)
        _set(obs, "origin", origin)
        _set(obs, "id", id)
        return obs

    @classmethod
    def from_reading(cls, reading: Reading) -> Observation:
        # A Reading is validated: a Metric, a finite float, an aware measured_at, flags and
        # origin of their enums.
        return cls.trusted(
            reading.metric, reading.value, reading.measured_at,
            frozenset(reading.quality) if reading.quality else _NO_FLAGS, reading.origin,
            reading.id,
        )


_set = object.__setattr__
_NO_FLAGS: frozenset[QualityFlag] = frozenset()


class Sample(Protocol):
    """What the data path reads of a reading: an Observation, or a validated Reading as it
    is (making an Observation of every reading of a stream costs more than the rules)."""

    @property
    def metric(self) -> Metric: ...
    @property
    def value(self) -> float: ...
    @property
    def measured_at(self) -> datetime: ...
    @property
    def quality(self) -> Collection[QualityFlag]: ...
    @property
    def origin(self) -> Origin: ...
    @property
    def id(self) -> str | None: ...


def questionable(sample: Sample) -> bool:
    """Observation.questionable of any sample."""
    quality = sample.quality
    return bool(quality) and not QUESTIONABLE.isdisjoint(quality)


def sample_key(sample: Sample) -> tuple[object, ...]:
    """Observation.key of any sample."""
    if sample.id is not None:
        return ("id", sample.id)
    return ("value", sample.metric, sample.measured_at, sample.value)


def observation_of(sample: Sample) -> Observation:
    if isinstance(sample, Observation):
        return sample
    return Observation.trusted(sample.metric, sample.value, sample.measured_at,
                               frozenset(sample.quality) if sample.quality else _NO_FLAGS,
                               sample.origin, sample.id)
