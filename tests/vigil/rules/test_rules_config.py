"""Rule configuration: condition defaults, per-patient overrides (JSON Merge Patch), JSON."""

from __future__ import annotations

from datetime import timedelta

import pytest

from vigil.metrics import Metric
from vigil.rules import (
    Condition,
    InvalidOverride,
    Limit,
    RuleSet,
    Severity,
    apply_overrides,
    defaults_for,
    merge_patch,
    ruleset_for,
)


@pytest.mark.parametrize("condition", list(Condition))
def test_defaults_are_valid_and_round_trip_through_json(condition: Condition) -> None:
    rules = defaults_for(condition)
    assert rules.condition is condition
    assert RuleSet.model_validate_json(rules.model_dump_json()) == rules
    keys = rules.rule_keys()
    assert len(keys) == len(set(keys))
    assert any(key.startswith("missing:") for key in keys)


def test_general_adult_defaults() -> None:
    rules = defaults_for("general_adult")
    spo2 = rules.thresholds[Metric.SPO2]
    assert [(x.op, x.value, x.severity) for x in spo2.limits if not x.immediate] == [
        ("<", 94, Severity.LOW), ("<", 92, Severity.MEDIUM), ("<", 88, Severity.HIGH),
    ]
    assert any(x.immediate for x in spo2.limits)
    assert spo2.sustain == timedelta(seconds=15)
    assert rules.news2 is not None and rules.news2.spo2_scale == 1
    assert rules.missing[Metric.SPO2].device_presence == "continuous"
    assert rules.missing[Metric.SYSTOLIC_BP].every == timedelta(hours=12)


def test_copd_defaults_use_scale_2_targets() -> None:
    rules = defaults_for(Condition.COPD)
    assert rules.news2 is not None and rules.news2.spo2_scale == 2
    lowest_alarm = max(x.value for x in rules.thresholds[Metric.SPO2].limits)
    assert lowest_alarm == 88  # target 88-92 %: 88 itself is on target


def test_heart_failure_defaults() -> None:
    rules = defaults_for(Condition.HEART_FAILURE)
    weight = rules.trends[Metric.BODY_WEIGHT]
    assert weight.rule_key == "trend:body_weight"
    assert weight.baseline == "extreme" and weight.direction == "rise"
    [limit] = weight.limits
    assert (limit.change, limit.window) == (2.0, timedelta(days=3))
    assert {Metric.SPO2, Metric.SYSTOLIC_BP} <= set(rules.thresholds)


def test_hypertension_defaults_follow_ng136() -> None:
    rules = defaults_for("hypertension")
    bp = rules.bp_average
    assert bp is not None and bp.rule_key == "bp_average"
    assert (bp.stage1.systolic, bp.stage1.diastolic) == (135, 85)
    assert (bp.stage2.systolic, bp.stage2.diastolic) == (150, 95)
    assert (bp.severe.systolic, bp.severe.diastolic) == (180, 120)
    assert (bp.min_days, bp.window_days, bp.discard_first_day) == (4, 7, True)


def test_unknown_condition_is_refused() -> None:
    with pytest.raises(ValueError, match="'asthma' is not a valid Condition"):
        defaults_for("asthma")


def test_overrides_change_any_field_and_keep_the_rest() -> None:
    base = defaults_for("copd")
    rules = apply_overrides(base, {
        "thresholds": {"spo2": {"hysteresis": 2, "sustain": "PT30S"}},
        "news2": {"spo2_scale": 1, "on_oxygen": True},
        "escalation": {"ack_within": {"high": 300}},
        "late_after": "PT2H",
    })
    assert rules.thresholds[Metric.SPO2].hysteresis == 2
    assert rules.thresholds[Metric.SPO2].sustain == timedelta(seconds=30)
    assert rules.thresholds[Metric.SPO2].limits == base.thresholds[Metric.SPO2].limits
    assert rules.news2 is not None and rules.news2.spo2_scale == 1 and rules.news2.on_oxygen
    assert rules.escalation.ack_within[Severity.HIGH] == timedelta(minutes=5)
    assert rules.escalation.ack_within[Severity.MEDIUM] == timedelta(hours=1)
    assert rules.late_after == timedelta(hours=2)
    # The base is untouched.
    assert base.thresholds[Metric.SPO2].hysteresis == 1


def test_null_removes_rules_and_lists_are_replaced_whole() -> None:
    rules = ruleset_for("general_adult", {
        "thresholds": {
            "heart_rate": None,
            "spo2": {"limits": [{"op": "<", "value": 90, "severity": "high"}]},
        },
        "news2": None,
    })
    assert Metric.HEART_RATE not in rules.thresholds
    assert rules.thresholds[Metric.SPO2].limits == [Limit(op="<", value=90, severity=Severity.HIGH)]
    assert rules.news2 is None


def test_new_rules_take_their_metric_from_the_key() -> None:
    rules = ruleset_for("hypertension", {
        "thresholds": {"diastolic_bp": {"limits": [{"op": ">=", "value": 110,
                                                    "severity": "medium"}]}},
        "trends": {"body_weight": {"limits": [{"change": 2, "window": "P3D",
                                               "severity": "medium"}]}},
    })
    assert rules.thresholds[Metric.DIASTOLIC_BP].rule_key == "threshold:diastolic_bp"
    assert rules.trends[Metric.BODY_WEIGHT].limits[0].window == timedelta(days=3)
    assert RuleSet.model_validate_json(rules.model_dump_json()) == rules


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"thresholds": {"spo2": {"hysterisis": 2}}}, "hysterisis"),  # misspelt: refused
        ({"thresholds": {"spo2": {"metric": "pulse_rate"}}}, "holds a rule for pulse_rate"),
        ({"thresholds": {"oxygen": {"limits": []}}}, "oxygen"),
        ({"thresholds": {"spo2": {"limits": []}}}, "at least 1"),
        ({"thresholds": {"spo2": {"hysteresis": -1}}}, "greater than or equal to 0"),
        ({"news2": {"spo2_scale": 3}}, "spo2_scale"),
        ({"missing": {"spo2": {"every": "PT0S"}}}, "every"),
        ({"escalation": {"ack_within": {"urgent": 60}}}, "urgent"),
        ({"condition": "copd"}, "'condition' cannot be overridden"),
        ({"v": 2}, "'v' cannot be overridden"),
        ({"bp_average": {"timezone": "Nowhere/Special"}}, "unknown IANA time zone"),
    ],
)
def test_invalid_overrides_are_refused_with_the_reason(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidOverride, match=message):
        ruleset_for("general_adult", overrides)


def test_no_overrides_is_the_defaults() -> None:
    assert ruleset_for("copd") == defaults_for("copd")
    assert ruleset_for("copd", {}) == defaults_for("copd")


# RFC 7396, Appendix A.
@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        (["a", "b"], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7396(target: object, patch: object, result: object) -> None:
    assert merge_patch(target, patch) == result


def test_merge_patch_refuses_non_string_keys() -> None:
    with pytest.raises(InvalidOverride, match="keys must be strings"):
        merge_patch({}, {1: "a"})
