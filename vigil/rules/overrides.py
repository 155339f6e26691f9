"""Per-patient overrides of a condition's rule set, as a JSON Merge Patch (RFC 7396).

The override is a JSON object merged into the defaults' JSON form: objects merge key by key,
any other value (number, string, list) replaces what was there, and null removes the key --
so null removes a rule from a map (`{"thresholds": {"spo2": null}}`), disables an optional
rule (`{"news2": null}`) or restores a field's default. Lists (a threshold's `limits`) are
replaced whole: a band set must be stated completely. The result is validated as a RuleSet;
an override that does not make a valid one raises InvalidOverride with pydantic's messages.
Store the override (not the merged result) so later changes to the defaults still apply.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from vigil.rules.config import Condition, RuleSet
from vigil.rules.defaults import defaults_for


class InvalidOverride(ValueError):
    """An override that is not JSON-shaped or does not yield a valid rule set."""


def merge_patch(target: object, patch: object) -> object:
    """RFC 7396: the result of applying `patch` to `target` (neither is modified)."""
    if not isinstance(patch, Mapping):
        return patch
    result: dict[str, object] = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if not isinstance(key, str):
            raise InvalidOverride(f"override keys must be strings, got {key!r}")
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_overrides(base: RuleSet, overrides: Mapping[str, object] | None) -> RuleSet:
    if not overrides:
        return base
    for fixed in ("v", "condition"):
        if fixed in overrides:
            raise InvalidOverride(
                f"{fixed!r} cannot be overridden; choose the condition's defaults instead"
            )
    merged = merge_patch(base.model_dump(mode="json"), overrides)
    try:
        return RuleSet.model_validate(merged)
    except ValidationError as exc:
        raise InvalidOverride(f"override does not give a valid rule set: {exc}") from exc


def ruleset_for(
    condition: Condition | str, overrides: Mapping[str, object] | None = None
) -> RuleSet:
    """A patient's rule set: the condition's defaults with their overrides applied."""
    return apply_overrides(defaults_for(condition), overrides)
