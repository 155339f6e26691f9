"""The data path (vigil.rules.stream) against the reference: on random streams, evaluate_stream
decides exactly what evaluate_readings + decide_all + collapse_updates decide -- the same
transitions (evaluations, reasons and alert states included) and the same rule state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.messages import Origin
from vigil.metrics import Metric
from vigil.quality import QualityFlag
from vigil.rules import (
    Action,
    AlertState,
    AlertStatus,
    BandState,
    CompiledRuleSet,
    InvalidOverride,
    News2Rule,
    Observation,
    RuleSet,
    RuleState,
    Severity,
    StreamState,
    Transition,
    collapse_updates,
    decide_all,
    equivalent,
    evaluate_readings,
    evaluate_stream,
    ruleset_for,
)
from vigil.rules.news2_stream import cannot_breach

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

# Values around every default limit and NEWS2 band edge, plus halves for the rounding.
VALUES: dict[Metric, list[float]] = {
    Metric.SPO2: [70, 79.5, 84, 84.5, 85, 87, 88, 89, 90, 91, 91.5, 92, 93, 94, 95, 96, 97,
                  100],
    Metric.PULSE_RATE: [30, 40, 40.5, 45, 50, 51, 55, 72, 90.5, 106, 110, 111, 116, 130.5,
                        131, 140],
    Metric.HEART_RATE: [38, 50, 72, 111, 131],
    Metric.RESPIRATORY_RATE: [6, 8, 9, 11.5, 16, 20.5, 21, 24, 25, 26],
    Metric.SYSTOLIC_BP: [85, 90, 95, 100, 105, 110.5, 120, 136, 151, 179, 180, 186, 219.5, 221],
    Metric.DIASTOLIC_BP: [60, 84, 86, 96, 119, 121],
    Metric.BODY_TEMPERATURE: [34.9, 35.0, 35.05, 35.2, 36.0, 36.05, 37.2, 37.9, 38.0, 38.1,
                              38.15, 38.3, 39.0, 39.1, 39.3],
    Metric.BODY_WEIGHT: [70.0, 70.5, 71.2, 72.1, 72.6, 73.0],
}
FULL_SET = {Metric.RESPIRATORY_RATE: 16.0, Metric.SYSTOLIC_BP: 120.0,
            Metric.BODY_TEMPERATURE: 37.2, Metric.SPO2: 97.0, Metric.PULSE_RATE: 72.0}
IMPLAUSIBLE: dict[Metric, float] = {Metric.SPO2: 120.0, Metric.PULSE_RATE: 400.0}
QUESTIONABLE = QualityFlag.LOW_PERFUSION
RULE_KEYS = ["threshold:spo2", "threshold:pulse_rate", "threshold:systolic_bp",
             "threshold:body_temperature", "news2", "bp_average", "trend:body_weight"]

OVERRIDES: list[dict[str, object]] = [
    {},
    {"news2": {"low_enabled": True, "auto_resolve": True}},
    {"news2": {"auto_resolve": True, "on_oxygen": False}},
    {"news2": {"spo2_scale": 2, "on_oxygen": True}, "late_after": "PT2M"},
    {"thresholds": {"spo2": {"auto_resolve": True, "sustain": 0},
                    "pulse_rate": {"auto_resolve": True, "max_gap": "PT5S"},
                    "body_temperature": {"hysteresis": 0.15, "auto_resolve": True}}},
    {"thresholds": {"spo2": {"limits": [{"op": "<=", "value": 91.5, "severity": "medium"},
                                        {"op": "<", "value": 88.3, "severity": "high"}],
                             "hysteresis": 0.7, "sustain": "PT3S", "max_gap": "PT4S"}}},
    {"thresholds": {"systolic_bp": {"sustain": "PT2S", "auto_resolve": True}},
     "news2": {"window": "PT20S", "auto_resolve": True}},
]


@dataclass(frozen=True)
class Raw:
    """A sample that is not an Observation (as ingest passes validated Readings)."""

    metric: Metric
    value: float
    measured_at: datetime
    quality: tuple[QualityFlag, ...]
    origin: Origin
    id: str | None


def raw(samples: list[Observation]) -> list[Raw]:
    return [Raw(o.metric, o.value, o.measured_at, tuple(sorted(o.quality)), o.origin, o.id)
            for o in samples]


@dataclass(frozen=True)
class Case:
    ruleset: RuleSet
    flushes: list[tuple[list[Observation], list[Observation], datetime]]
    # The rule set of each flush: the patient's rules may change between flushes.
    rulesets: list[RuleSet]
    alerts: dict[str, AlertState]
    consciousness: str | None
    on_oxygen: bool | None


@st.composite
def observations(draw: st.DrawFn, start: float, count: int, ids: list[str]
                 ) -> tuple[list[Observation], float]:
    metrics = draw(st.lists(st.sampled_from(list(VALUES)), min_size=1, max_size=3,
                            unique=True))
    found: list[Observation] = []
    t = start
    for _ in range(count):
        # Mostly a second apart, some readings together, some gaps past max_gap or the NEWS2
        # window, some out of order.
        t += draw(st.sampled_from([0, 1, 1, 1, 2, 7, 40, -3, 4000]))
        metric = draw(st.sampled_from(metrics))
        if draw(st.integers(0, 60)) == 0 and metric in IMPLAUSIBLE:
            value = IMPLAUSIBLE[metric]
        elif metric in FULL_SET and draw(st.booleans()):
            value = FULL_SET[metric]  # calm, so that alerts also clear
        else:
            value = draw(st.one_of(st.sampled_from(VALUES[metric]),
                                   st.floats(min(VALUES[metric]), max(VALUES[metric]))))
        quality = frozenset([QUESTIONABLE]) if draw(st.integers(0, 7)) == 0 else frozenset()
        origin = draw(st.sampled_from([Origin.LIVE] * 6 + [Origin.LATE, Origin.STORED]))
        choice = draw(st.integers(0, 9))
        if choice == 0:
            reading_id = None  # deduplicated by value
        elif choice == 1 and ids:
            reading_id = draw(st.sampled_from(ids))  # the same reading again
        else:
            reading_id = f"r{len(ids)}"
            ids.append(reading_id)
        found.append(Observation(metric, value, T0 + timedelta(seconds=t), quality, origin,
                                 reading_id))
    return found, t


@st.composite
def alerts(draw: st.DrawFn) -> dict[str, AlertState]:
    found: dict[str, AlertState] = {}
    for key in draw(st.lists(st.sampled_from(RULE_KEYS), max_size=3, unique=True)):
        at = T0 + timedelta(seconds=draw(st.sampled_from([-5000, -10, 0, 3, 20])))
        found[key] = AlertState(
            rule_key=key, severity=draw(st.sampled_from(list(Severity))),
            status=draw(st.sampled_from(list(AlertStatus))), opened_at=at, updated_at=at,
            last_evidence_at=at, last_value=draw(st.sampled_from([None, 90.0])),
            late=draw(st.booleans()),
            snoozed_until=draw(st.sampled_from([None, T0 + timedelta(hours=1)])))
    return found


@st.composite
def cases(draw: st.DrawFn) -> Case:
    condition = draw(st.sampled_from(["general_adult", "copd", "heart_failure",
                                      "hypertension"]))
    choices = []
    for _ in range(2):
        try:
            choices.append(ruleset_for(condition, draw(st.sampled_from(OVERRIDES))))
        except InvalidOverride:  # an override for a rule the condition does not have
            choices.append(ruleset_for(condition))
    ruleset = choices[0]
    ids: list[str] = []
    history, t = draw(observations(-60, draw(st.integers(0, 8)), ids))
    if draw(st.booleans()):  # a full NEWS2 set, so that complete scores happen too
        history += [Observation(m, v, T0 + timedelta(seconds=-30), id=f"set-{m}")
                    for m, v in FULL_SET.items()]
    flushes = []
    rulesets = []
    for _ in range(draw(st.integers(1, 3))):
        rulesets.append(draw(st.sampled_from(choices)))
        batch, t = draw(observations(t, draw(st.integers(1, 25)), ids))
        now = T0 + timedelta(seconds=t + draw(st.sampled_from([0, 1, 200, 7200])))
        flushes.append((batch, list(history), now))
        history = history + batch
    return Case(ruleset, flushes, rulesets, draw(alerts()),
                draw(st.sampled_from([None, "A", "A", "V"])),
                draw(st.sampled_from([None, True, False])))


def unquiet(state: RuleState) -> dict[str, object]:
    """The state up to quiet bands, which stored states leave out (a missing band is quiet)."""
    return {key: (t.last_at, t.last_value,
                  {k: b for k, b in t.bands.items() if b != BandState()})
            for key, t in state.thresholds.items()}


def reference(ruleset: RuleSet, case: Case, batch: list[Observation],
              history: list[Observation], state: RuleState | None,
              live: dict[str, AlertState], now: datetime) -> tuple[list[Transition], RuleState]:
    result = evaluate_readings(ruleset, batch, state=state, history=history, now=now,
                               consciousness=case.consciousness, on_oxygen=case.on_oxygen)
    return collapse_updates(decide_all(live, result.evaluations, now=now)), result.state


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_stream_decides_as_the_engine(case: Case) -> None:
    compiled = {id(r): CompiledRuleSet.of(r) for r in case.rulesets}
    slow_state: RuleState | None = None
    fast_state: RuleState | StreamState | None = None
    slow_live, fast_live = dict(case.alerts), dict(case.alerts)
    for (batch, history, now), ruleset in zip(case.flushes, case.rulesets, strict=True):
        try:
            expected, slow_state = reference(ruleset, case, batch, history, slow_state,
                                             slow_live, now)
        except ValueError as exc:  # an implausible NEWS2 value: both refuse it
            with pytest.raises(ValueError, match=str(exc)[:40].replace("(", r"\(")):
                evaluate_stream(compiled[id(ruleset)], batch, state=fast_state, history=history,
                                alerts=fast_live, now=now, consciousness=case.consciousness,
                                on_oxygen=case.on_oxygen)
            return
        # Every other flush from samples that are not Observations.
        samples = raw(batch) if len(batch) % 2 else batch
        got = evaluate_stream(compiled[id(ruleset)], samples, state=fast_state,
                              history=raw(history) if len(history) % 2 else history,
                              alerts=fast_live, now=now, consciousness=case.consciousness,
                              on_oxygen=case.on_oxygen)
        assert got.transitions == expected
        assert unquiet(got.state) == unquiet(slow_state)
        assert unquiet(RuleState.model_validate_json(got.stream_state.json())) == unquiet(
            slow_state)
        assert got.changed or unquiet(got.state) == unquiet(
            fast_state.model() if isinstance(fast_state, StreamState)
            else fast_state or RuleState())
        # Next flush from the state as ingest keeps it (in memory) or as it reads it back.
        fast_state = got.stream_state if len(batch) % 2 else RuleState.model_validate_json(
            got.stream_state.json())
        for t in expected:
            assert t.state is not None
            slow_live[t.rule_key] = t.state
        fast_live = {k: a for k, a in slow_live.items() if a.live}
        slow_live = dict(fast_live)


def test_a_quiet_stream_decides_nothing_and_keeps_state() -> None:
    ruleset = ruleset_for("general_adult")
    batch = [Observation(m, v, T0 + timedelta(seconds=s), id=f"{m}{s}")
             for s in range(10) for m, v in ((Metric.SPO2, 97.0), (Metric.PULSE_RATE, 72.0))]
    got = evaluate_stream(CompiledRuleSet.of(ruleset), batch, state=None, alerts={},
                          now=T0 + timedelta(seconds=10))
    expected = evaluate_readings(ruleset, batch, state=None, now=T0 + timedelta(seconds=10))
    assert got.transitions == []
    assert got.state == expected.state


def test_a_run_of_updates_is_built_once_as_the_last() -> None:
    ruleset = ruleset_for("general_adult", {"thresholds": {"spo2": {"sustain": 0}}})
    batch = [Observation(Metric.SPO2, 91.0 - (s % 2), T0 + timedelta(seconds=s), id=f"s{s}")
             for s in range(6)]
    now = T0 + timedelta(seconds=6)
    got = evaluate_stream(CompiledRuleSet.of(ruleset), batch, state=None, alerts={}, now=now)
    actions = [(t.rule_key, t.action) for t in got.transitions]
    # Opened at 91 %; 90 % then raises nothing (medium either way); the last update carries
    # the newest evidence.
    assert actions == [("threshold:spo2", Action.CREATE), ("news2", Action.CREATE),
                       ("threshold:spo2", Action.UPDATE), ("news2", Action.UPDATE)]
    assert got.transitions[-1].state is not None
    assert got.transitions[-1].state.last_evidence_at == T0 + timedelta(seconds=5)


def test_news2_auto_resolves_as_the_engine() -> None:
    ruleset = ruleset_for("general_adult", {"news2": {"auto_resolve": True, "on_oxygen": False}})
    history = [Observation(m, v, T0 - timedelta(seconds=30), id=f"set-{m}")
               for m, v in FULL_SET.items()]
    batch = [Observation(Metric.SPO2, v, T0 + timedelta(seconds=s), id=f"b{s}")
             for s, v in enumerate([91.0, 97.0, 97.0])]
    alert = AlertState(rule_key="news2", severity=Severity.MEDIUM, opened_at=T0,
                       updated_at=T0, last_evidence_at=T0 - timedelta(seconds=10))
    now = T0 + timedelta(seconds=5)
    case = Case(ruleset, [], [], {"news2": alert}, "A", None)
    expected, state = reference(ruleset, case, batch, history, None, {"news2": alert}, now)
    got = evaluate_stream(CompiledRuleSet.of(ruleset), batch, state=None, history=history,
                          alerts={"news2": alert}, now=now, consciousness="A")
    assert [t.action for t in expected] == [Action.AUTO_RESOLVE]
    assert got.transitions == expected
    assert got.state == state


def test_a_state_stored_without_its_quiet_bands_is_equivalent() -> None:
    ruleset = ruleset_for("general_adult")
    batch = [Observation(Metric.SPO2, 97.0, T0, id="a")]
    got = evaluate_stream(CompiledRuleSet.of(ruleset), batch, state=None, alerts={}, now=T0)
    stored = RuleState.model_validate_json(got.stream_state.json())
    assert stored.thresholds["threshold:spo2"].bands == {}  # compact: quiet bands left out
    assert stored != got.state and equivalent(stored, got.state)
    later = stored.model_copy(update={"thresholds": {
        "threshold:spo2": stored.thresholds["threshold:spo2"].model_copy(
            update={"last_at": T0 + timedelta(seconds=1)})}})
    assert not equivalent(later, got.state)


@pytest.mark.parametrize(("values", "context", "rule", "expected"), [
    ({Metric.SPO2: 97.0, Metric.PULSE_RATE: 72.0}, (None, None), {}, True),
    ({Metric.SPO2: 91.0}, (None, None), {}, False),  # a single 3
    ({Metric.SPO2: 95.0, Metric.PULSE_RATE: 105.0, Metric.RESPIRATORY_RATE: 22.0},
     (None, True), {}, False),  # 1 + 1 + 2 + oxygen 2 could reach 5 together
    ({Metric.SPO2: 97.0}, ("V", None), {}, False),  # consciousness scores 3
    ({Metric.SPO2: 95.0}, ("A", False), {"low_enabled": True}, False),  # a low breach
    ({Metric.SPO2: 95.0}, (None, False), {"low_enabled": True}, True),  # never complete
    ({Metric.SPO2: 120.0}, (None, None), {}, False),  # implausible: NEWS2 refuses it
])
def test_news2_is_skipped_only_when_it_cannot_breach(
    values: dict[Metric, float], context: tuple[str | None, bool | None],
    rule: dict[str, object], expected: bool,
) -> None:
    readings = [Observation(m, v, T0, id=str(m)) for m, v in values.items()]
    consciousness, on_oxygen = context
    news2 = News2Rule.model_validate(rule)
    assert cannot_breach(news2, readings, consciousness=consciousness,
                         on_oxygen=on_oxygen) is expected
