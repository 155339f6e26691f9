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
from datetime import datetime, timedelta
from functools import lru_cache

from vigil.metrics import CATALOGUE, Metric
from vigil.news2 import CONSCIOUSNESS_LEVELS, DEVICE_PARAMETERS, METRIC_PARAMETER, parameter_score
from vigil.quality import QUESTIONABLE
from vigil.rules.config import News2Rule
from vigil.rules.evaluation import Severity, Status
from vigil.rules.news2_rule import NEWS2_METRICS
from vigil.rules.observation import Sample, questionable, sample_key

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


def cannot_breach(rule: News2Rule, readings: Iterable[Sample], *,
                  consciousness: str | None, on_oxygen: bool | None) -> bool:
    """True when no NEWS2 verdict over these readings can be a breach, whichever of them are
    the latest at any time: no value scores 3, and even the highest score of every parameter
    together stays below every trigger. Then, with no live NEWS2 alert, NEWS2 decides nothing
    for the batch (its verdicts are all clear or unchanged) -- the usual case of a stream.
    False whenever in doubt (an implausible value, a context evaluate_news2 refuses)."""
    oxygen = on_oxygen if on_oxygen is not None else rule.on_oxygen
    if consciousness is not None and consciousness not in CONSCIOUSNESS_LEVELS:
        return False
    if oxygen is not None and not isinstance(oxygen, bool):
        return False
    fixed = (2 if oxygen else 0) if oxygen is not None else 0
    if consciousness is not None and consciousness != "A":
        return False  # consciousness scores 3
    best: dict[str, int] = {}
    scale = rule.spo2_scale
    # A stream repeats its values: judge each distinct one once.
    values = {(r.metric, r.value) for r in readings
              if not r.quality or QUESTIONABLE.isdisjoint(r.quality)}
    for metric, value in values:
        name = METRIC_PARAMETER.get(metric)
        if name is None:
            continue
        if not _plausible(name, value):
            return False
        points = _score(name, value, scale, oxygen) or 0
        if points == 3:
            return False
        if points > best.get(name, 0):
            best[name] = points
    highest = fixed + sum(best.values())
    can_complete = oxygen is not None and consciousness is not None
    return highest < 5 and not (rule.low_enabled and can_complete and highest >= 1)


class _Parameter:
    """One device parameter's current reading as NEWS2 would take it, and its score."""

    __slots__ = ("expires", "fresh", "plausible", "points", "reading")

    def __init__(self) -> None:
        self.reading: Sample | None = None
        self.expires: datetime | None = None  # when it becomes stale
        self.points: int | None = None
        self.plausible = True
        self.fresh = False


class News2Stream:
    """Latest trusted NEWS2 readings along a timeline, with the engine's NEWS2 verdicts.

    Running totals over the parameters are kept as readings come in and as they go stale, so
    a verdict costs a handful of operations whatever the number of parameters."""

    def __init__(self, rule: News2Rule, history: Iterable[Sample],
                 batch: Iterable[Sample], *, consciousness: str | None,
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
        stored: list[Sample] = []
        for r in history:
            key = sample_key(r)
            if not questionable(r) and key not in seen:
                seen.add(key)
                if r.metric in NEWS2_METRICS:
                    stored.append(r)
        stored.sort(key=_measured_at)
        fresh: list[Sample] = []
        for r in batch:
            key = sample_key(r)
            if not questionable(r) and key not in seen:
                seen.add(key)
                if r.metric in NEWS2_METRICS:
                    fresh.append(r)
        self._stored, self._fresh = stored, fresh
        self._i = self._j = 0
        self._latest: dict[Metric, Sample] = {}

    def advance(self, t: datetime) -> None:
        """Take in every reading measured at or before `t` (calls must not go back in time)."""
        stored, fresh = self._stored, self._fresh
        i, j = self._i, self._j
        while True:
            if i < len(stored) and stored[i].measured_at <= t and (
                j >= len(fresh) or stored[i].measured_at <= fresh[j].measured_at
            ):
                self._take(stored[i])
                i += 1
            elif j < len(fresh) and fresh[j].measured_at <= t:
                self._take(fresh[j])
                j += 1
            else:
                break
        self._i, self._j = i, j

    def _take(self, r: Sample) -> None:
        self._latest[r.metric] = r
        name = METRIC_PARAMETER[r.metric]
        param = self.params[name]
        metrics = _METRICS_OF[name]
        if len(metrics) > 1:
            # inputs_from_readings keeps, per parameter, the latest reading, the later in
            # the engine's metric order on a tie (pulse: oximeter pulse rate or heart rate).
            chosen: Sample | None = None
            for metric in metrics:
                c = self._latest.get(metric)
                if c is not None and (chosen is None or c.measured_at >= chosen.measured_at):
                    chosen = c
            if chosen is None or chosen is param.reading:
                return
            r = chosen
        if param.fresh and param.reading is not None and param.reading.value == r.value:
            # The stream's usual case: the same value again scores the same.
            param.reading = r
            param.expires = _expiry(r.measured_at, self.window)
            if self.expires is None:
                self.expires = param.expires
            return
        self._drop(param)
        param.reading = r
        param.plausible = _plausible(name, r.value)
        param.points = _score(name, r.value, self.scale, self.on_oxygen) \
            if param.plausible else None
        param.fresh = True
        self.missing -= 1
        if param.points is not None:
            self.total += param.points
            self.threes += param.points == 3
        self.implausible += not param.plausible
        param.expires = _expiry(r.measured_at, self.window)
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

    def latest(self) -> list[Sample]:
        """What the engine passes evaluate_news2 as `readings` at the current time (as
        samples: observation_of makes them Observations)."""
        return [r for r in (self._latest.get(m) for m in _ORDER) if r is not None]

    def verdict(self, obs: Sample) -> tuple[Status, Severity | None]:
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


def _expiry(at: datetime, window: timedelta) -> datetime | None:
    """When a reading measured at `at` goes stale (None: never, at the end of time)."""
    try:
        return at + window
    except OverflowError:  # pragma: no cover
        return None


def _plausible(name: str, value: float) -> bool:
    spec = _RANGE[name]
    return spec.plausible_min <= value <= spec.plausible_max


def _measured_at(r: Sample) -> datetime:
    return r.measured_at
