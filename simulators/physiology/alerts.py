"""Alert rule keys a scenario expects, as the plain strings the alert engine uses.

The keys are those of ``vigil.rules`` ("one live alert per patient and rule key"):
``threshold:<metric>``, ``trend:<metric>``, ``missing:<metric>``, ``bp_average``, ``news2``.
A key outside that set, or naming no catalogue metric, fails when the scenario is loaded, so
a typo cannot silently expect an alert that can never fire.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from vigil.metrics import Metric

NEWS2 = "news2"
BP_AVERAGE = "bp_average"
_PLAIN = (NEWS2, BP_AVERAGE)
_PER_METRIC = ("threshold", "trend", "missing")


def threshold(metric: Metric | str) -> str:
    return f"threshold:{Metric(metric).value}"


def trend(metric: Metric | str) -> str:
    return f"trend:{Metric(metric).value}"


def missing(metric: Metric | str) -> str:
    return f"missing:{Metric(metric).value}"


def check_rule_key(key: str) -> str:
    name, colon, qualifier = key.partition(":")
    if not colon and name in _PLAIN:
        return key
    if colon and name in _PER_METRIC:
        known = {m.value for m in Metric}
        if qualifier in known:
            return key
        raise ValueError(
            f"alert rule key {key!r} names no metric; use {name}:<metric> with one of "
            f"{', '.join(sorted(known))}"
        )
    raise ValueError(
        f"unknown alert rule key {key!r}; expected one of {', '.join(_PLAIN)}, "
        f"{', '.join(f'{n}:<metric>' for n in _PER_METRIC)}"
    )


RuleKey = Annotated[str, AfterValidator(check_rule_key)]
