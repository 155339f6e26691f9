"""The pure parts of ingest.alerting, from tables: which transitions are written, which
evaluations reach the lifecycle, which history a batch needs, and the rule-set cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.alerting.hook import lifecycle_relevant
from ingest.alerting.persist import significant
from ingest.alerting.rulesets import history_metrics, rules_for
from ingest.cli import build_parser
from ingest.settings import load_settings
from vigil.metrics import Metric
from vigil.rules import Action, AlertState, Evaluation, Severity, Status, Transition
from vigil.rules.news2_rule import NEWS2_METRICS

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def transition(action: Action, key: str = "threshold:spo2") -> Transition:
    return Transition(action=action, rule_key=key, at=T0, reason=action.value)


@pytest.mark.parametrize(("actions", "kept"), [
    ([], []),
    (["update"], ["update"]),
    (["update", "update", "update"], ["update"]),
    (["create", "update", "update"], ["create", "update"]),
    (["create", "update", "raise_severity", "update"], ["create", "raise_severity", "update"]),
    (["update", "escalate"], ["escalate"]),
    (["update", "auto_resolve", "create"], ["auto_resolve", "create"]),
])
def test_only_superseded_evidence_updates_are_dropped(actions: list[str], kept: list[str]
                                                      ) -> None:
    assert [t.action.value for t in significant([transition(Action(a)) for a in actions])] \
        == kept


def test_other_rule_keys_do_not_supersede_an_update() -> None:
    kept = significant([transition(Action.UPDATE), transition(Action.UPDATE, "news2")])
    assert [t.rule_key for t in kept] == ["threshold:spo2", "news2"]


def evaluation(status: Status, key: str = "threshold:spo2") -> Evaluation:
    return Evaluation(rule_key=key, status=status, at=T0, reason=status.value,
                      severity=Severity.LOW if status is Status.BREACH else None)


LIVE = {"threshold:spo2": AlertState(rule_key="threshold:spo2", severity=Severity.LOW,
                                     opened_at=T0, updated_at=T0, last_evidence_at=T0)}


@pytest.mark.parametrize(("statuses", "live", "kept"), [
    (["clear", "pending", "unchanged"], {}, []),
    (["clear", "pending"], LIVE, ["clear", "pending"]),
    (["clear", "breach", "clear"], {}, ["breach", "clear"]),  # a CLEAR after a new breach
    (["breach"], {}, ["breach"]),
])
def test_only_evaluations_that_can_change_an_alert_reach_the_lifecycle(
    statuses: list[str], live: dict[str, AlertState], kept: list[str]
) -> None:
    found = lifecycle_relevant([evaluation(Status(s)) for s in statuses], live)
    assert [e.status.value for e in found] == kept


@pytest.mark.parametrize(("condition", "batch", "wanted"), [
    ("general_adult", {Metric.BODY_WEIGHT}, set()),
    ("general_adult", {Metric.SPO2}, set(NEWS2_METRICS)),
    ("heart_failure", {Metric.BODY_WEIGHT}, {Metric.BODY_WEIGHT}),
    ("heart_failure", {Metric.SPO2}, set()),  # thresholds need no history
    ("hypertension", {Metric.DIASTOLIC_BP}, {Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP}),
])
def test_a_batch_asks_only_for_the_history_its_rules_need(
    condition: str, batch: set[Metric], wanted: set[Metric]
) -> None:
    needs = history_metrics(rules_for(condition, None), batch)
    assert set(needs) == wanted
    if Metric.BODY_WEIGHT in needs:
        assert needs[Metric.BODY_WEIGHT].window == timedelta(days=3)
        assert not needs[Metric.BODY_WEIGHT].latest_only


def test_rules_come_from_the_stored_settings_or_fall_back_to_defaults() -> None:
    assert rules_for(None, None).ruleset.condition.value == "general_adult"
    custom = rules_for("copd", '{"news2": {"spo2_scale": 1}}')
    assert custom.ruleset.news2 is not None and custom.ruleset.news2.spo2_scale == 1
    assert rules_for("copd", '{"news2": {"spo2_scale": 1}}') is custom  # parsed once
    broken = rules_for("copd", '{"thresholds": {"spo2": {"limitz": []}}}')
    assert broken.problem is not None and "limitz" in broken.problem
    assert broken.ruleset == rules_for("copd", None).ruleset
    assert broken.clock_rules.missing == {} and broken.ruleset.missing


def test_the_sweep_interval_comes_from_flag_environment_or_default(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings(None).sweep_interval_s == 15.0
    monkeypatch.setenv("VIGIL_SWEEP_INTERVAL_S", "30")
    assert load_settings(None).sweep_interval_s == 30.0
    args = build_parser().parse_args(["--sweep-interval-s", "0"])
    assert load_settings(None, sweep_interval_s=args.sweep_interval_s).sweep_interval_s == 0
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        load_settings(None, sweep_interval_s=-1)
