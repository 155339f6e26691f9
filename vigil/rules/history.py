"""Trusted readings per metric in time order: the windows stateless rules look back over."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import datetime

from vigil.metrics import Metric
from vigil.rules.observation import Observation


class History:
    """Time-ordered, deduplicated trusted readings. Questionable readings are left out: they
    never count towards a trend, an average or a NEWS2 set."""

    def __init__(self, readings: Iterable[Observation] = ()) -> None:
        self._keys: set[tuple[object, ...]] = set()
        self._readings: dict[Metric, list[Observation]] = {}
        for reading in readings:
            key = reading.key
            if key not in self._keys and not reading.questionable:
                self._keys.add(key)
                self._readings.setdefault(reading.metric, []).append(reading)
        # One sort per metric (stable, so equal times keep their given order).
        self._times: dict[Metric, list[datetime]] = {}
        for metric, series in self._readings.items():
            series.sort(key=lambda r: r.measured_at)
            self._times[metric] = [r.measured_at for r in series]

    def add(self, reading: Observation) -> bool:
        """Add a trusted reading not already present; True if it was added."""
        key = reading.key
        if reading.questionable or key in self._keys:
            return False
        self._keys.add(key)
        times = self._times.setdefault(reading.metric, [])
        readings = self._readings.setdefault(reading.metric, [])
        index = bisect_right(times, reading.measured_at)
        times.insert(index, reading.measured_at)
        readings.insert(index, reading)
        return True

    def between(self, metric: Metric, start: datetime, end: datetime) -> list[Observation]:
        """Readings of `metric` measured in [start, end]."""
        times = self._times.get(metric, [])
        return self._readings.get(metric, [])[bisect_left(times, start):bisect_right(times, end)]

    def latest(self, metric: Metric, at: datetime) -> Observation | None:
        """The newest reading of `metric` measured at or before `at`."""
        times = self._times.get(metric, [])
        index = bisect_right(times, at)
        return self._readings[metric][index - 1] if index else None

