"""NEWS2 along one patient's stream of readings: what vigil.rules.news2_rule decides about each
reading, without building its inputs, result or reason text.

The engine (vigil.rules.engine) scores NEWS2 for every SpO2 and pulse reading from the latest
trusted reading of each parameter measured up to it. `News2Stream` walks the same timeline
(stored history and the batch, merged as vigil.rules.history orders them) once, keeps the
latest reading per metric as it goes, and scores each parameter's value through a cache -- the
values of a stream repeat. Only the status and severity come out; when an alert is going to
change, the caller builds the evaluation itself with `evaluate_news2` from `latest()`, so the
reason and result are exactly the engine's. Tests check both agree on random streams
(tests/vigil/rules/test_rules_stream.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

from vigil.metrics import CATALOGUE, Metric
from vigil.news2 import CONSCIOUSNESS_LEVELS, DEVICE_PARAMETERS, METRIC_PARAMETER, parameter_score
from vigil.rules.config import News2Rule
from vigil.rules.evaluation import Severity, Status
from vigil.rules.news2_rule import NEWS2_METRICS
from vigil.rules.observation import Observation

# The engine asks History for the latest reading of each metric in this order, and NEWS2 keeps
# the later of two readings of one parameter measured at the same time: keep the same order.
_ORDER: tuple[Metric, ...] = tuple(NEWS2_METRICS)
_RANGE = {name: CATALOGUE[metric] for name, metric in DEVICE_PARAMETERS.items()}


@lru_cache(maxsize=16384)
def _score(parameter: str, value: float, scale: int, on_oxygen: bool | None) -> int | None:
    return parameter_score(parameter, value, spo2_scale=1 if scale == 1 else 2,
                           on_oxygen=on_oxygen)


class Unscorable(Exception):
    """A value NEWS2 refuses (implausible): the caller lets evaluate_news2 say so."""


class News2Stream:
    """Latest trusted NEWS2 readings along a timeline, with the engine's NEWS2 verdicts."""

    def __init__(self, rule: News2Rule, history: Iterable[Observation],
                 batch: Iterable[Observation], *, consciousness: str | None,
                 on_oxygen: bool | None) -> None:
        self.rule = rule
        self.window = rule.window
        self.scale = rule.spo2_scale
        self.on_oxygen = on_oxygen if on_oxygen is not None else rule.on_oxygen
        self.consciousness = consciousness
        # Context the engine would refuse: leave every verdict to evaluate_news2.
        self.valid = (consciousness is None or consciousness in CONSCIOUSNESS_LEVELS) and (
            self.on_oxygen is None or isinstance(self.on_oxygen, bool))
        fixed: list[int] = []
        self.fixed_missing = 0
        if self.on_oxygen is None:
            self.fixed_missing += 1
        else:
            fixed.append(2 if self.on_oxygen else 0)
        if consciousness is None:
            self.fixed_missing += 1
        else:
            fixed.append(0 if consciousness == "A" else 3)
        self.fixed_sum = sum(fixed)
        self.fixed_3 = 3 in fixed
        # History's order: stored readings (stable by time), then the batch's readings after
        # any stored ones measured at the same time. Duplicates and questionable readings are
        # left out as History leaves them out.
        seen: set[tuple[object, ...]] = set()
        stored: list[Observation] = []
        for r in history:
            if not r.questionable and r.key not in seen:
                seen.add(r.key)
                if r.metric in NEWS2_METRICS:
                    stored.append(r)
        stored.sort(key=_measured_at)
        fresh: list[Observation] = []
        for r in batch:
            if not r.questionable and r.key not in seen:
                seen.add(r.key)
                if r.metric in NEWS2_METRICS:
                    fresh.append(r)
        self._stored, self._fresh = stored, fresh
        self._i = self._j = 0
        self._latest: dict[Metric, Observation] = {}

    def advance(self, t: datetime) -> None:
        """Take in every reading measured at or before `t` (calls must not go back in time)."""
        stored, fresh, latest = self._stored, self._fresh, self._latest
        i, j = self._i, self._j
        while True:
            if i < len(stored) and stored[i].measured_at <= t and (
                j >= len(fresh) or stored[i].measured_at <= fresh[j].measured_at
            ):
                latest[stored[i].metric] = stored[i]
                i += 1
            elif j < len(fresh) and fresh[j].measured_at <= t:
                latest[fresh[j].metric] = fresh[j]
                j += 1
            else:
                break
        self._i, self._j = i, j

    def latest(self) -> list[Observation]:
        """What the engine passes evaluate_news2 as `readings` at the current time."""
        return [r for r in (self._latest.get(m) for m in _ORDER) if r is not None]

    def verdict(self, obs: Observation) -> tuple[Status, Severity | None]:
        """evaluate_news2's status and severity for trusted `obs`, after `advance(obs time)`.
        Raises Unscorable where evaluate_news2 would raise."""
        if not self.valid:
            raise Unscorable
        t = obs.measured_at
        chosen: dict[str, Observation] = {}
        for metric in _ORDER:
            r = self._latest.get(metric)
            if r is not None:
                parameter = METRIC_PARAMETER[metric]
                c = chosen.get(parameter)
                if c is None or r.measured_at >= c.measured_at:
                    chosen[parameter] = r
        chosen[METRIC_PARAMETER[obs.metric]] = obs
        total = self.fixed_sum
        any_3 = self.fixed_3
        missing = self.fixed_missing
        window = self.window
        for parameter in DEVICE_PARAMETERS:
            r = chosen.get(parameter)
            if r is None or t - r.measured_at > window:
                missing += 1
                continue
            value = r.value
            spec = _RANGE[parameter]
            if not spec.plausible_min <= value <= spec.plausible_max:
                raise Unscorable
            points = _score(parameter, value, self.scale, self.on_oxygen)
            if points is not None:
                total += points
                any_3 = any_3 or points == 3
        rule = self.rule
        if not missing:
            if total >= 7:
                return Status.BREACH, Severity.HIGH
            if total >= 5 or any_3:
                return Status.BREACH, Severity.MEDIUM
            if total >= 1 and rule.low_enabled:
                return Status.BREACH, Severity.LOW
            return Status.CLEAR, None
        if total >= 7:
            return Status.BREACH, Severity.HIGH
        if total >= 5 or any_3:
            return Status.BREACH, Severity.MEDIUM
        return Status.UNCHANGED, None


def _measured_at(r: Observation) -> datetime:
    return r.measured_at
