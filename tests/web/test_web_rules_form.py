"""The rules editor's form -> overrides (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.web.rules_form import (
    FormError,
    apply_form,
    diff_patch,
    overrides_for,
    parse_overrides_json,
)
from vigil.metrics import Metric
from vigil.rules import Condition, InvalidOverride, defaults_for, merge_patch, ruleset_for

json_leaf = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.booleans(),
                      st.lists(st.integers(0, 3), max_size=3))
json_object = st.recursive(
    st.dictionaries(st.text(max_size=3), json_leaf, max_size=4),
    lambda children: st.dictionaries(st.text(max_size=3), st.one_of(json_leaf, children),
                                     max_size=4),
    max_leaves=12)


@given(base=json_object, target=json_object)
def test_diff_patch_turns_base_into_target(base: dict[str, Any], target: dict[str, Any]) -> None:
    # RFC 7396 cannot express a null value in the target; the generator makes none.
    assert merge_patch(base, diff_patch(base, target)) == target


@given(target=json_object)
def test_no_change_no_patch(target: dict[str, Any]) -> None:
    assert diff_patch(target, target) == {}


def spo2_form(*values: str, sustain: str = "15", enabled: bool = True) -> dict[str, str]:
    form = {"th.spo2.present": "1", "th.spo2.hysteresis": "1", "th.spo2.sustain": sustain}
    if enabled:
        form["th.spo2.enabled"] = "on"
    form |= {f"th.spo2.limit.{i}": v for i, v in enumerate(values)}
    return form


def test_unchanged_form_gives_no_overrides() -> None:
    current = defaults_for(Condition.GENERAL_ADULT)
    form = spo2_form("94", "92", "88", "85")
    assert overrides_for(Condition.GENERAL_ADULT, apply_form(current, form)) == {}


def test_changed_limit_and_sustain_become_overrides_that_round_trip() -> None:
    current = defaults_for(Condition.GENERAL_ADULT)
    target = apply_form(current, spo2_form("93", "91", "88", "85", sustain="30"))
    patch = overrides_for(Condition.GENERAL_ADULT, target)
    assert patch["thresholds"]["spo2"]["sustain"] == "PT30S"
    assert [limit["value"] for limit in patch["thresholds"]["spo2"]["limits"]] == [93, 91, 88, 85]
    assert ruleset_for(Condition.GENERAL_ADULT, patch) == target


def test_back_to_the_default_is_no_longer_an_override() -> None:
    current = ruleset_for(Condition.GENERAL_ADULT,
                          {"thresholds": {"spo2": {"sustain": "PT30S"}}})
    target = apply_form(current, spo2_form("94", "92", "88", "85", sustain="15"))
    assert overrides_for(Condition.GENERAL_ADULT, target) == {}


def test_unticking_removes_the_rule() -> None:
    current = defaults_for(Condition.GENERAL_ADULT)
    target = apply_form(current, spo2_form("94", "92", "88", "85", enabled=False))
    assert Metric.SPO2 not in target.thresholds
    assert overrides_for(Condition.GENERAL_ADULT, target) == {"thresholds": {"spo2": None}}


def test_news2_and_schedule_fields() -> None:
    current = defaults_for(Condition.COPD)
    form = {"news2.present": "1", "news2.spo2_scale": "1", "news2.on_oxygen": "yes",
            "news2.window_min": "90", "missing.spo2.present": "1", "missing.spo2.every_h": "6",
            "missing.spo2.grace_h": "1.5", "escalation.present": "1",
            "escalation.max_snooze_h": "4"}
    patch = overrides_for(Condition.COPD, apply_form(current, form))
    assert patch == {"news2": {"spo2_scale": 1, "on_oxygen": True, "window": "PT1H30M"},
                     "missing": {"spo2": {"every": "PT6H", "grace": "PT1H30M"}},
                     "escalation": {"max_snooze": "PT4H"}}


@pytest.mark.parametrize(("form", "field"), [
    (spo2_form("", "92", "88", "85"), "th.spo2.limit.0"),
    (spo2_form("abc", "92", "88", "85"), "th.spo2.limit.0"),
    (spo2_form("nan", "92", "88", "85"), "th.spo2.limit.0"),
    ({**spo2_form("94", "92", "88", "85"), "th.spo2.hysteresis": "-1"}, "th.spo2.hysteresis"),
    ({"news2.present": "1", "news2.spo2_scale": "3"}, "news2.spo2_scale"),
    ({"news2.present": "1", "news2.on_oxygen": "maybe"}, "news2.on_oxygen"),
])
def test_unreadable_fields_name_themselves(form: dict[str, str], field: str) -> None:
    with pytest.raises(FormError) as caught:
        apply_form(defaults_for(Condition.GENERAL_ADULT), form)
    assert caught.value.field == field


def test_inconsistent_limits_are_refused_with_the_reason() -> None:
    current = defaults_for(Condition.GENERAL_ADULT)
    form = {"th.systolic_bp.present": "1", "th.systolic_bp.enabled": "on",
            "th.systolic_bp.limit.0": "200", "th.systolic_bp.limit.1": "100",
            "th.systolic_bp.limit.2": "180", "th.systolic_bp.limit.3": "220",
            "th.systolic_bp.hysteresis": "5", "th.systolic_bp.sustain": "0"}
    with pytest.raises(InvalidOverride, match="overlap"):
        apply_form(current, form)


@pytest.mark.parametrize(("text", "ok"), [
    ("{}", True), ('{"news2": null}', True), ("", True),
    ("[1, 2]", False), ("{bad json", False), ('"x"', False),
])
def test_json_editor_text(text: str, ok: bool) -> None:
    if ok:
        assert isinstance(parse_overrides_json(text), dict)
    else:
        with pytest.raises(FormError):
            parse_overrides_json(text)
