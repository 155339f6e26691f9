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
_METRICS_OF = {name: tuple(m for m in _ORDER if METRIC_PARAMETER[m] == name)
               for name in DEVICE_PARAMETERS}


@lru_cache(maxsize=16384)
def _score(parameter: str, value: float, scale: int, on_oxygen: bool | None) -> int | None:
    return parameter_score(parameter, value, spo2_scale=1 if scale == 1 else 2,
                           on_oxygen=on_oxygen)


class Unscorable(Exception):
    """A value NEWS2 refuses (implausible): the caller lets evaluate_news2 say so."""


class _Parameter:
    """One device parameter's current reading as NEWS2 would take it, and its score."""

    __slots__ = ("reading", "expires", "points", "plausible", "fresh")

    def __init__(self) -> None:
        self.reading: Observation | None = None
        self.expires: datetime | None = None  # when it becomes stale
        self.points: int | None = None
        self.plausible = True
        self.fresh = False


class News2Stream:
    """Latest trusted NEWS2 readings along a timeline, with the engine's NEWS2 verdicts.

    Running totals over the parameters are kept as readings come in and as they go stale, so
    a verdict costs a handful of operations whatever the number of parameters."""

    def __init__(self, rule: News2Rule, history: Iterable[Observation],
                 batch: Iterable[Observation], *, consciousness: str | None,
                 on_oxygen: bool | None) -> None:
        self.rule = rule
        self.window = rule.window
        self.scale = rule.spo2_scale
        self.on_oxygen = on_oxygen if on_oxygen is not None else rule.on_oxygen
        # Context the engine would refuse: leave every verdict to evaluate_news2.
        self.valid = (consciousness is None or consciousness in CONSCIOUSNESS_LEVELS) and (
            self.on_oxygen is None or isinstance(self.on_oxygen, bool))
        fixed: list[int] = []
        missing = 0
        if self.on_oxygen is None:
            missing += 1
        else:
            fixed.append(2 if self.on_oxygen else 0)
        if consciousness is None:
            missing += 1
        else:
            fixed.append(0 if consciousness == "A" else 3)
        # Running totals over the fixed inputs and the fresh device parameters.
        self.total = sum(fixed)
        self.threes = fixed.count(3)
        self.missing = missing + len(DEVICE_PARAMETERS)
        self.implausible = 0
        self.expires: datetime | None = None  # the soonest a fresh parameter goes stale
        self.params = {name: _Parameter() for name in DEVICE_PARAMETERS}
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
                r = stored[i]
                i += 1
            elif j < len(fresh) and fresh[j].measured_at <= t:
                r = fresh[j]
                j += 1
            else:
                break
            latest[r.metric] = r
            self._choose(METRIC_PARAMETER[r.metric])
        self._i, self._j = i, j

    def _choose(self, name: str) -> None:
        # inputs_from_readings keeps, per parameter, the latest reading, the later in the
        # engine's metric order on a tie.
        chosen: Observation | None = None
        for metric in _METRICS_OF[name]:
            r = self._latest.get(metric)
            if r is not None and (chosen is None or r.measured_at >= chosen.measured_at):
                chosen = r
        param = self.params[name]
        if chosen is param.reading or chosen is None:
            return
        self._drop(param)
        param.reading = chosen
        param.plausible = _plausible(name, chosen.value)
        param.points = _score(name, chosen.value, self.scale, self.on_oxygen) \
            if param.plausible else None
        param.fresh = True
        self.missing -= 1
        if param.points is not None:
            self.total += param.points
            self.threes += param.points == 3
        self.implausible += not param.plausible
        try:
            param.expires = chosen.measured_at + self.window
        except OverflowError:  # pragma: no cover - a reading near the end of time
            param.expires = None
        if param.expires is not None and (self.expires is None or param.expires < self.expires):
            self.expires = param.expires

    def _drop(self, param: _Parameter) -> None:
        """Take a fresh parameter out of the totals (it went stale, or is replaced)."""
        if not param.fresh:
            return
        param.fresh = False
        self.missing += 1
        if param.points is not None:
            self.total -= param.points
            self.threes -= param.points == 3
        self.implausible -= not param.plausible

    def _expire(self, t: datetime) -> None:
        if self.expires is None or t <= self.expires:
            return
        soonest: datetime | None = None
        for param in self.params.values():
            if not param.fresh or param.expires is None:
                continue
            if t > param.expires:
                self._drop(param)
            elif soonest is None or param.expires < soonest:
                soonest = param.expires
        self.expires = soonest

    def latest(self) -> list[Observation]:
        """What the engine passes evaluate_news2 as `readings` at the current time."""
        return [r for r in (self._latest.get(m) for m in _ORDER) if r is not None]

    def verdict(self, obs: Observation) -> tuple[Status, Severity | None]:
        """evaluate_news2's status and severity for trusted `obs`, after `advance(obs time)`.
        Raises Unscorable where evaluate_news2 would raise."""
        if not self.valid:
            raise Unscorable
        self._expire(obs.measured_at)
        own = self.params[METRIC_PARAMETER[obs.metric]]
        # The reading itself stands for its parameter, whatever else was measured with it.
        total, threes, missing, implausible = (
            self.total, self.threes, self.missing, self.implausible)
        if own.fresh:
            if own.points is not None:
                total -= own.points
                threes -= own.points == 3
            implausible -= not own.plausible
        else:
            missing -= 1
        name = METRIC_PARAMETER[obs.metric]
        if implausible or not _plausible(name, obs.value):
            raise Unscorable
        points = _score(name, obs.value, self.scale, self.on_oxygen)
        if points is not None:
            total += points
            threes += points == 3
        any_3 = threes > 0
        if not missing:
            if total >= 7:
                return Status.BREACH, Severity.HIGH
            if total >= 5 or any_3:
                return Status.BREACH, Severity.MEDIUM
            if total >= 1 and self.rule.low_enabled:
                return Status.BREACH, Severity.LOW
            return Status.CLEAR, None
        if total >= 7:
            return Status.BREACH, Severity.HIGH
        if total >= 5 or any_3:
            return Status.BREACH, Severity.MEDIUM
        return Status.UNCHANGED, None


def _plausible(name: str, value: float) -> bool:
    spec = _RANGE[name]
    return spec.plausible_min <= value <= spec.plausible_max


def _measured_at(r: Observation) -> datetime:
    return r.measured_at
