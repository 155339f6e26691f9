"""A patient's rule set from its stored settings, parsed once per distinct setting.

`rule_settings` holds a condition and a JSON Merge Patch of overrides; merging and validating
them costs far more than evaluating a reading, and thousands of patients share a handful of
distinct settings, so parsed (and compiled) rule sets are cached by the exact stored text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from vigil.metrics import CATALOGUE, Metric
from vigil.rules import (
    CompiledRuleSet,
    Condition,
    HistoryNeed,
    InvalidOverride,
    RuleSet,
    required_history,
    ruleset_for,
)
from vigil.rules.bp_average import BP_METRICS
from vigil.rules.news2_rule import NEWS2_METRICS

log = logging.getLogger("vigil.ingest.alerting")

# Patients without a rule_settings row (migration 0101).
DEFAULT_CONDITION = Condition.GENERAL_ADULT


@dataclass(frozen=True, slots=True)
class Rules:
    ruleset: RuleSet
    history: dict[Metric, HistoryNeed]
    # Metrics any rule evaluates when a reading of them arrives.
    evaluated: frozenset[Metric]
    # The rule set without its missing-data schedules: what the sweeper hands to
    # vigil.rules.sweep (it judges each schedule itself, with that metric's gateway).
    clock_rules: RuleSet
    # The rule set prepared for vigil.rules.evaluate_stream (limits as float boundaries).
    compiled: CompiledRuleSet
    # Set when the stored overrides no longer make a valid rule set (defaults are used).
    problem: str | None = None
    # Metrics whose history is the latest reading only (NEWS2's).
    latest_only: frozenset[Metric] = frozenset()
    # history_needs by the set of metrics in a batch, as met.
    needs: dict[frozenset[Metric], tuple[MetricNeed, ...]] = field(
        default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class MetricNeed:
    """Stored readings of one metric a batch's rules look back over (see HistoryNeed)."""

    metric: Metric
    number: int  # MetricSpec.number
    window: timedelta
    latest_only: bool


@lru_cache(maxsize=1024)
def rules_for(condition: str | None, overrides: str | None) -> Rules:
    """The rules of a patient whose rule_settings row holds `condition` and `overrides`
    (JSON text); both None when the patient has no row."""
    chosen = Condition(condition) if condition is not None else DEFAULT_CONDITION
    patch = json.loads(overrides) if overrides else None
    problem = None
    try:
        ruleset = _ruleset_for(chosen, patch)
    except InvalidOverride as exc:
        # Same fallback as the API: evaluate the condition's defaults rather than nothing.
        problem = str(exc)
        log.error("stored rule overrides are invalid; using the condition's defaults",
                  extra={"fields": {"condition": chosen.value, "error": problem}})
        ruleset = _ruleset_for(chosen, None)
    return _rules(ruleset, problem)


def _ruleset_for(condition: Condition, patch: object) -> RuleSet:
    if patch is not None and not isinstance(patch, dict):
        raise InvalidOverride("overrides must be a JSON object")
    return ruleset_for(condition, patch)


def _rules(ruleset: RuleSet, problem: str | None) -> Rules:
    evaluated: set[Metric] = set(ruleset.thresholds) | set(ruleset.trends)
    if ruleset.bp_average is not None:
        evaluated |= set(BP_METRICS)
    if ruleset.news2 is not None:
        evaluated |= NEWS2_METRICS
    clock_rules = ruleset.model_copy(update={"missing": {}})
    history = required_history(ruleset)
    return Rules(ruleset, history, frozenset(evaluated), clock_rules,
                 CompiledRuleSet.of(ruleset), problem,
                 frozenset(m for m, need in history.items() if need.latest_only))


def history_needs(rules: Rules, batch: frozenset[Metric]) -> tuple[MetricNeed, ...]:
    """history_metrics for the metrics of a batch, computed once per rule set and set of
    metrics (a stream's batches hold the same few metrics over and over)."""
    found = rules.needs.get(batch)
    if found is None:
        found = rules.needs[batch] = tuple(
            MetricNeed(metric, CATALOGUE[metric].number, need.window, need.latest_only)
            for metric, need in history_metrics(rules, batch).items())
    return found


def history_metrics(rules: Rules, batch: Iterable[Metric]) -> dict[Metric, HistoryNeed]:
    """The stored history the rules need for a batch holding these metrics: only for the
    rules that the batch's metrics actually trigger (a weight reading never needs the last
    hour of SpO2)."""
    present = set(batch)
    ruleset = rules.ruleset
    wanted: set[Metric] = {m for m in ruleset.trends if m in present}
    if ruleset.bp_average is not None and present & set(BP_METRICS):
        wanted |= set(BP_METRICS)
    if ruleset.news2 is not None and present & NEWS2_METRICS:
        wanted |= NEWS2_METRICS
    return {metric: need for metric, need in rules.history.items() if metric in wanted}
