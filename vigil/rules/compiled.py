"""Threshold rules compiled for the data path: the decisions of vigil.rules.threshold made with
float comparisons on plain tuples, without Decimals, pydantic models or reason strings.

vigil.rules.threshold compares readings with limits in decimal (`exact`: the decimal a float
was written as), so 35.2 is 35.2, not 35.20000000000000284. Those comparisons are exact here
too, without a Decimal per reading: for a decimal limit D, the floats whose `exact` value is
below D are exactly the floats below one float boundary (`exact` is strictly increasing over
the floats, because the shortest repr of a float rounds back to it). `_boundaries` finds that
float once per rule set, so `value < D` in decimal is `value < boundary` in float for every
finite float.

The state here (`FastState`) is a tuple-backed equivalent of ThresholdState; `step` applies
one reading and says what vigil.rules.threshold would have decided (status and severity for
each evaluation it would return), leaving the evaluation itself -- reason text and all -- to
be built by vigil.rules.threshold only when an alert is going to change. Tests check both
agree on random streams (tests/vigil/rules/test_rules_compiled.py).
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import NamedTuple

from vigil.rules.config import Limit, ThresholdRule, exact
from vigil.rules.evaluation import Severity, Status
from vigil.rules.threshold import BandState, ThresholdState

# (raised, breach_since) per band, in the order of the rule's limits.
Band = tuple[bool, datetime | None]
QUIET: Band = (False, None)
_QUIET_STATE = BandState()


def _boundaries(limit: Decimal) -> tuple[float, float]:
    """(lowest float whose exact value is >= limit, highest float whose exact value is <= limit).

    For a finite float v: exact(v) < limit iff v < low; exact(v) <= limit iff v <= high.
    """
    low = float(limit)
    if exact(low) >= limit:
        while not math.isinf(low) and exact(math.nextafter(low, -math.inf)) >= limit:
            low = math.nextafter(low, -math.inf)
    else:
        while exact(low) < limit:
            low = math.nextafter(low, math.inf)
    high = float(limit)
    if exact(high) <= limit:
        while not math.isinf(high) and exact(math.nextafter(high, math.inf)) <= limit:
            high = math.nextafter(high, math.inf)
    else:
        while exact(high) > limit:
            high = math.nextafter(high, -math.inf)
    return low, high


Test = Callable[[float], bool]


def _test(op: str, limit: Decimal) -> tuple[Test, float, float]:
    """`exact(v) <op> limit` as a float test (a C-level partial), and the closed float range
    [floor, ceiling] of the values for which it is false."""
    low, high = _boundaries(limit)
    down, up = -math.inf, math.inf
    if op == "<":  # v < low
        return partial(operator.gt, low), low, up
    if op == "<=":  # v <= high
        return partial(operator.ge, high), math.nextafter(high, up), up
    if op == ">":  # v > high
        return partial(operator.lt, high), down, high
    if op == ">=":  # v >= low
        return partial(operator.le, low), down, math.nextafter(low, down)
    raise AssertionError(op)  # pragma: no cover


@dataclass(frozen=True, slots=True)
class CompiledLimit:
    limit: Limit
    key: str
    json_key: str
    severity: Severity
    rank: int
    immediate: bool
    # Limit.breached(v) as a float test, and the float range where it is false.
    breached: Test
    floor: float
    ceiling: float
    # `not Limit.cleared(v, hysteresis)`: still past the limit moved inwards by the margin,
    # so a raised band stays raised.
    short_of_margin: Test


def _compile_limit(limit: Limit, hysteresis: float) -> CompiledLimit:
    shift = exact(hysteresis) if limit.lower else -exact(hysteresis)
    breached, floor, ceiling = _test(limit.op, exact(limit.value))
    return CompiledLimit(
        limit=limit, key=limit.key, json_key=json.dumps(limit.key), severity=limit.severity,
        rank=limit.severity.rank, immediate=limit.immediate, breached=breached, floor=floor,
        ceiling=ceiling,
        short_of_margin=_test(limit.op, exact(limit.value) + shift)[0],
    )


class FastState(NamedTuple):
    """ThresholdState as tuples: the last in-order trusted reading and one Band per limit of
    `rule` (the compiled rule it was made by: a changed rule set re-aligns it by limit key)."""

    rule: CompiledThreshold
    last_at: datetime | None
    last_value: float | None
    bands: tuple[Band, ...]

    def model(self) -> ThresholdState:
        bands = {
            limit.key: _QUIET_STATE if band == QUIET
            else BandState.model_construct(raised=band[0], breach_since=band[1])
            for limit, band in zip(self.rule.limits, self.bands, strict=True)
        }
        return ThresholdState.model_construct(
            last_at=self.last_at, last_value=self.last_value, bands=bands)

    def json(self) -> str:
        """The state as ThresholdState JSON, with only the bands that are not quiet: a missing
        band is a quiet one (BandState()) wherever states are read, and the row is half the
        size to store and read back every flush."""
        rule = self.rule
        if self.bands is rule.quiet:
            bands = "{}"
        else:
            bands = "{" + ",".join(
                f'{limit.json_key}:{{"raised":{"true" if raised else "false"},'
                f'"breach_since":{_json_time(since)}}}'
                for limit, (raised, since) in zip(rule.limits, self.bands, strict=True)
                if raised or since is not None
            ) + "}"
        value = "null" if self.last_value is None else repr(self.last_value)
        return (f'{{"last_at":{_json_time(self.last_at)},"last_value":{value},'
                f'"bands":{bands}}}')


def _json_time(at: datetime | None) -> str:
    return "null" if at is None else f'"{at.isoformat()}"'


@dataclass(frozen=True, slots=True)
class Verdict:
    """What vigil.rules.threshold decides about one evaluation, without its reason text."""

    status: Status
    severity: Severity | None
    at: datetime
    value: float | None
    # Index into the evaluations evaluate_threshold returns for the same reading.
    index: int


@dataclass(frozen=True, slots=True, eq=False)
class CompiledThreshold:
    rule: ThresholdRule
    rule_key: str
    json_rule_key: str
    limits: tuple[CompiledLimit, ...]
    sustain: timedelta
    max_gap: timedelta
    auto_resolve: bool
    quiet: tuple[Band, ...]
    # Readings in [floor, ceiling] breach no limit.
    floor: float
    ceiling: float
    # Severity of the highest raised band, by raised pattern: cached as met.
    _highest: dict[tuple[bool, ...], Severity | None]

    @classmethod
    def of(cls, rule: ThresholdRule) -> CompiledThreshold:
        limits = tuple(_compile_limit(limit, rule.hysteresis) for limit in rule.limits)
        return cls(rule, rule.rule_key, json.dumps(rule.rule_key), limits, rule.sustain,
                   rule.max_gap, rule.auto_resolve, tuple(QUIET for _ in limits),
                   max(limit.floor for limit in limits), min(limit.ceiling for limit in limits),
                   {})

    def highest(self, raised: tuple[bool, ...]) -> Severity | None:
        found = self._highest.get(raised, _MISSING)
        if found is _MISSING:
            best: CompiledLimit | None = None
            for limit, up in zip(self.limits, raised, strict=True):
                if up and (best is None or limit.rank > best.rank):
                    best = limit
            found = None if best is None else best.severity
            self._highest[raised] = found
        return found  # type: ignore[return-value]

    # -- state conversions -------------------------------------------------------------

    def fast(self, state: ThresholdState | FastState | None) -> FastState:
        """The state in this rule's compiled form (from a stored one, or from the form of
        another compilation of the rule)."""
        if isinstance(state, FastState):
            if state.rule is self:
                return state
            state = state.model()
        state = state or ThresholdState()
        bands = tuple(
            (band.raised, band.breach_since)
            for band in (state.bands.get(limit.key, _QUIET_STATE) for limit in self.limits)
        )
        return FastState(self, state.last_at, state.last_value,
                         self.quiet if bands == self.quiet else bands)

    # -- one reading -------------------------------------------------------------------

    def step(self, state: FastState, t: datetime, v: float) -> tuple[FastState, list[Verdict]]:
        """Apply one trusted reading measured at or after `state.last_at` (evaluate_threshold
        on an in-order, non-questionable reading)."""
        verdicts: list[Verdict] = []
        bands = state.bands
        if state.last_at is not None and t - state.last_at > self.max_gap:
            # A run that ended in silence is raised; every run is broken by the gap.
            confirmed = False
            for raised, since in bands:
                if since is not None and not raised:
                    confirmed = True
                    break
            bands = tuple((raised or since is not None, None) for raised, since in bands)
            if confirmed:
                verdicts.append(Verdict(
                    Status.BREACH, self.highest(tuple(b[0] for b in bands)), state.last_at,
                    state.last_value, 0))
        index = len(verdicts)
        limits = self.limits
        if self.floor <= v <= self.ceiling and (bands is self.quiet or bands == self.quiet):
            # The stream's usual case: nothing raised or building, and a reading inside every
            # limit changes nothing but the last reading.
            verdicts.append(Verdict(Status.CLEAR, None, t, v, index))
            return FastState(self, t, v, self.quiet), verdicts
        new: list[Band] = []
        pending_rank = 0
        pending: Severity | None = None
        for limit, (raised, since) in zip(limits, bands, strict=True):
            if limit.breached(v):
                if since is None:
                    since = t
                raised = raised or limit.immediate or t - since >= self.sustain
                if not raised and limit.rank > pending_rank:
                    pending_rank, pending = limit.rank, limit.severity
                new.append((raised, since))
            else:
                new.append((raised and limit.short_of_margin(v), None))
        after = tuple(new)
        severity = self.highest(tuple(b[0] for b in after))
        if severity is not None:
            verdicts.append(Verdict(Status.BREACH, severity, t, v, index))
        elif pending is not None:
            verdicts.append(Verdict(Status.PENDING, pending, t, v, index))
        else:
            verdicts.append(Verdict(Status.CLEAR, None, t, v, index))
        return FastState(self, t, v, self.quiet if after == self.quiet else after), verdicts

    def out_of_order(self, t: datetime, v: float) -> Verdict:
        """A trusted reading measured before the state's last one: judged on its own against
        the limits that need no sustain; the state is left as it was."""
        best: CompiledLimit | None = None
        for limit in self.limits:
            if limit.breached(v) and (limit.immediate or not self.sustain) and (
                best is None or limit.rank > best.rank
            ):
                best = limit
        if best is None:
            return Verdict(Status.UNCHANGED, None, t, v, 0)
        return Verdict(Status.BREACH, best.severity, t, v, 0)


_MISSING = object()
