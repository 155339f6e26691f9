"""Vigil's alert rules: pure functions from readings, state and a clock value to decisions.

No I/O anywhere: ingest calls `evaluate_stream` (the same decisions as `evaluate_readings`
then `decide_all`, made fast: vigil.rules.stream) inside its commit transaction, the sweeper
calls `sweep` and `sweep_alert` on the clock, and both apply `decide` to turn evaluations into
alert transitions. Everything that must survive between calls (RuleSet, RuleState,
AlertState) is a pydantic model the caller stores as JSON. See vigil.rules.engine for the
call sequence.

Rule keys ("one live alert per patient and rule key"): "threshold:<metric>",
"trend:<metric>", "bp_average", "news2", "missing:<metric>".
"""

from vigil.rules.bp_average import evaluate_bp_average
from vigil.rules.config import (
    BpAverageRule,
    BpLimit,
    Condition,
    EscalationPolicy,
    Limit,
    MissingDataRule,
    News2Rule,
    RuleSet,
    ThresholdRule,
    TrendLimit,
    TrendRule,
)
from vigil.rules.defaults import defaults_for
from vigil.rules.engine import (
    EngineResult,
    HistoryNeed,
    RuleState,
    equivalent,
    evaluate_readings,
    required_history,
    sweep,
)
from vigil.rules.evaluation import Evaluation, MissingCause, Severity, Status
from vigil.rules.history import History
from vigil.rules.lifecycle import (
    Action,
    AlertState,
    AlertStatus,
    InvalidTransition,
    Transition,
    acknowledge,
    collapse_updates,
    decide,
    decide_all,
    resolve,
    snooze,
    sweep_alert,
    sweep_due,
)
from vigil.rules.missing import (
    DevicePresence,
    GatewayPresence,
    due_by,
    evaluate_missing,
    missing_causes,
)
from vigil.rules.news2_rule import evaluate_news2
from vigil.rules.observation import Observation, Sample
from vigil.rules.overrides import InvalidOverride, apply_overrides, merge_patch, ruleset_for
from vigil.rules.stream import CompiledRuleSet, StreamResult, StreamState, evaluate_stream
from vigil.rules.threshold import (
    BandState,
    ThresholdState,
    ThresholdStep,
    evaluate_threshold,
    sweep_threshold,
)
from vigil.rules.trend import evaluate_trend

__all__ = [
    "Action",
    "AlertState",
    "AlertStatus",
    "BandState",
    "BpAverageRule",
    "BpLimit",
    "CompiledRuleSet",
    "Condition",
    "DevicePresence",
    "EngineResult",
    "EscalationPolicy",
    "Evaluation",
    "GatewayPresence",
    "History",
    "HistoryNeed",
    "InvalidOverride",
    "InvalidTransition",
    "Limit",
    "MissingCause",
    "MissingDataRule",
    "News2Rule",
    "Observation",
    "RuleSet",
    "RuleState",
    "Sample",
    "Severity",
    "Status",
    "StreamResult",
    "StreamState",
    "ThresholdRule",
    "ThresholdState",
    "ThresholdStep",
    "Transition",
    "TrendLimit",
    "TrendRule",
    "acknowledge",
    "apply_overrides",
    "collapse_updates",
    "decide",
    "decide_all",
    "defaults_for",
    "due_by",
    "equivalent",
    "evaluate_bp_average",
    "evaluate_missing",
    "evaluate_news2",
    "evaluate_readings",
    "evaluate_stream",
    "evaluate_threshold",
    "evaluate_trend",
    "merge_patch",
    "missing_causes",
    "required_history",
    "resolve",
    "ruleset_for",
    "snooze",
    "sweep",
    "sweep_alert",
    "sweep_due",
    "sweep_threshold",
]
