"""The rules editor's form, free of I/O: the fields it shows, and from a submitted form the
per-patient overrides (a JSON Merge Patch against the condition's defaults, as
vigil.rules.overrides stores them).

The form edits the values a clinician tunes per patient -- threshold limits, hysteresis and
sustain, NEWS2 scale, oxygen use and window, expected measurement schedules, the longest
snooze -- and leaves band structure (operators, severities) to the advanced JSON editor. The
patch is computed by difference, so a value put back to its default stops being an override.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from vigil.rules import Condition, InvalidOverride, RuleSet, defaults_for, ruleset_for

Json = Any


class FormError(ValueError):
    """A field that cannot be read; `field` is its form name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def diff_patch(base: Json, target: Json) -> Json:
    """The JSON Merge Patch (RFC 7396) that turns `base` into `target`: keys gone from
    `target` become null, objects recurse, anything else that differs is replaced whole."""
    if not isinstance(base, dict) or not isinstance(target, dict):
        return target
    patch: dict[str, Json] = {}
    for key in base:
        if key not in target:
            patch[key] = None
    for key, value in target.items():
        if key not in base:
            patch[key] = value
        elif isinstance(value, dict) and isinstance(base[key], dict):
            sub = diff_patch(base[key], value)
            if sub != {}:
                patch[key] = sub
        elif value != base[key]:
            patch[key] = value
    return patch


def overrides_for(condition: Condition, target: RuleSet) -> dict[str, Json]:
    """The overrides that make the condition's defaults into `target`. Raises InvalidOverride
    if no merge patch can (a value only expressible as JSON null that differs from a
    default), which the caller reports rather than saving something else."""
    base = defaults_for(condition).model_dump(mode="json")
    wanted = target.model_dump(mode="json")
    patch = diff_patch(base, wanted)
    assert isinstance(patch, dict)
    if ruleset_for(condition, patch).model_dump(mode="json") != wanted:
        raise InvalidOverride("these settings cannot be expressed as overrides of the "
                              f"{condition.value} defaults; use the JSON editor")
    return patch


def _number(form: Mapping[str, str], name: str, *, minimum: float | None = None) -> float:
    raw = (form.get(name) or "").strip()
    if not raw:
        raise FormError(name, "enter a number")
    try:
        value = float(raw)
    except ValueError:
        raise FormError(name, f"{raw!r} is not a number") from None
    if not math.isfinite(value):
        raise FormError(name, "enter a finite number")
    if minimum is not None and value < minimum:
        raise FormError(name, f"must be at least {minimum:g}")
    return value


def _seconds(hours: float) -> str:
    return f"PT{round(hours * 3600)}S"


def apply_form(current: RuleSet, form: Mapping[str, str]) -> RuleSet:
    """The rule set the structured form asks for, starting from the rules now in effect.
    Raises FormError for an unreadable field; InvalidOverride (via pydantic) when the values
    do not make a consistent rule set (e.g. overlapping limits)."""
    data: dict[str, Json] = current.model_dump(mode="json")
    for metric, rule in current.thresholds.items():
        key = f"th.{metric.value}"
        if form.get(f"{key}.present") != "1":
            continue
        if form.get(f"{key}.enabled") != "on":
            data["thresholds"].pop(metric.value)
            continue
        entry = data["thresholds"][metric.value]
        for index, _limit in enumerate(rule.limits):
            entry["limits"][index]["value"] = _number(form, f"{key}.limit.{index}")
        entry["hysteresis"] = _number(form, f"{key}.hysteresis", minimum=0)
        entry["sustain"] = f"PT{round(_number(form, f'{key}.sustain', minimum=0))}S"
    if current.news2 is not None and form.get("news2.present") == "1":
        news2 = data["news2"]
        scale = form.get("news2.spo2_scale", "1")
        if scale not in ("1", "2"):
            raise FormError("news2.spo2_scale", "choose scale 1 or 2")
        news2["spo2_scale"] = int(scale)
        oxygen = form.get("news2.on_oxygen", "unknown")
        if oxygen not in ("unknown", "yes", "no"):
            raise FormError("news2.on_oxygen", "choose unknown, air or oxygen")
        news2["on_oxygen"] = None if oxygen == "unknown" else oxygen == "yes"
        window = _number(form, "news2.window_min", minimum=1)
        news2["window"] = f"PT{round(window * 60)}S"
    for metric in current.missing:
        key = f"missing.{metric.value}"
        if form.get(f"{key}.present") != "1":
            continue
        entry = data["missing"][metric.value]
        every = _number(form, f"{key}.every_h", minimum=1 / 60)
        entry["every"] = _seconds(every)
        entry["grace"] = _seconds(_number(form, f"{key}.grace_h", minimum=0))
    if form.get("escalation.present") == "1":
        snooze = _number(form, "escalation.max_snooze_h", minimum=0.25)
        data["escalation"]["max_snooze"] = _seconds(snooze)
    try:
        return RuleSet.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidOverride(_first_error(exc)) from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            where = ".".join(str(p) for p in found[0].get("loc", ()))
            return f"{where}: {found[0].get('msg', 'invalid')}" if where else \
                str(found[0].get("msg", "invalid"))
    return str(exc)


def parse_overrides_json(text: str) -> dict[str, Json]:
    """The advanced editor's text: a JSON object, or FormError."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise FormError("overrides", f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise FormError("overrides", "overrides must be a JSON object, e.g. {}")
    return value


def hours(duration: timedelta | None) -> str:
    """A duration as an hours field value: '12', '0.25'."""
    if duration is None:
        return ""
    return f"{duration.total_seconds() / 3600:g}"


def minutes(duration: timedelta) -> str:
    return f"{duration.total_seconds() / 60:g}"


def seconds(duration: timedelta) -> str:
    return f"{duration.total_seconds():g}"
