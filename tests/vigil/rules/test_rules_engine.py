"""The engine as ingest and the sweeper use it: batches, state between calls, history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from vigil.messages import Origin, Reading
from vigil.metrics import Metric
from vigil.quality import QualityFlag
from vigil.rules import (
    Action,
    AlertState,
    DevicePresence,
    Evaluation,
    GatewayPresence,
    HistoryNeed,
    MissingCause,
    Observation,
    RuleState,
    Severity,
    Status,
    decide_all,
    defaults_for,
    evaluate_readings,
    required_history,
    ruleset_for,
    sweep,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
GENERAL = defaults_for("general_adult")


def reading(
    metric: Metric, value: float, seconds: float, *, quality: tuple[QualityFlag, ...] = (),
    origin: Origin = Origin.LIVE, device: str = "AA:BB:CC:DD:EE:01",
) -> Observation:
    at = T0 + timedelta(seconds=seconds)
    return Observation.from_reading(Reading.create(
        device_id=device, metric=metric, value=value, measured_at=at, received_at=at,
        quality=quality, origin=origin,
    ))


def spo2_stream(
    values: Sequence[float], start: float = 0, **kwargs: object
) -> list[Observation]:
    return [reading(Metric.SPO2, v, start + i, **kwargs)  # type: ignore[arg-type]
            for i, v in enumerate(values)]


def keyed(evaluations: list[Evaluation], key: str) -> list[Evaluation]:
    return [e for e in evaluations if e.rule_key == key]


def test_from_reading_keeps_what_rules_need() -> None:
    obs = reading(Metric.SPO2, 91, 0, quality=(QualityFlag.LOW_PERFUSION,), origin=Origin.LATE)
    assert obs.metric is Metric.SPO2 and obs.value == 91 and obs.measured_at == T0
    assert obs.questionable and obs.late and obs.id is not None


def test_sustained_breach_spans_batches_through_stored_state() -> None:
    first = evaluate_readings(GENERAL, spo2_stream([90] * 10), state=None, now=T0)
    assert {e.status for e in keyed(first.evaluations, "threshold:spo2")} == {Status.PENDING}
    stored = first.state.model_dump_json()  # what ingest keeps in the database
    second = evaluate_readings(
        GENERAL, spo2_stream([90] * 10, start=10), state=RuleState.model_validate_json(stored),
        now=T0 + timedelta(seconds=20),
    )
    statuses = [e.status for e in keyed(second.evaluations, "threshold:spo2")]
    assert statuses[:5] == [Status.PENDING] * 5
    assert statuses[5] is Status.BREACH  # 15 s after the first reading of the first batch
    transitions = decide_all({}, keyed(second.evaluations, "threshold:spo2"),
                             now=T0 + timedelta(seconds=20))
    assert [t.action for t in transitions] == [Action.CREATE] + [Action.UPDATE] * 4
    assert transitions[0].page and transitions[0].severity is Severity.MEDIUM


def test_batch_order_does_not_matter() -> None:
    values = [97, 96, 83, 82, 90]
    forward = evaluate_readings(GENERAL, spo2_stream(values), state=None, now=T0)
    backward = evaluate_readings(GENERAL, spo2_stream(values)[::-1], state=None, now=T0)
    assert forward == backward


def test_questionable_readings_open_nothing() -> None:
    flagged = spo2_stream([70] * 30, quality=(QualityFlag.SENSOR_DISPLACED,))
    result = evaluate_readings(GENERAL, flagged, state=None, now=T0)
    assert all(e.status is Status.UNCHANGED and e.questionable for e in result.evaluations)
    assert decide_all({}, result.evaluations, now=T0) == []


def test_late_backfill_is_recorded_without_paging() -> None:
    backfill = spo2_stream([83, 83], origin=Origin.LATE)
    result = evaluate_readings(GENERAL, backfill, state=None, now=T0 + timedelta(minutes=1))
    transitions = [t for t in decide_all({}, result.evaluations, now=T0 + timedelta(minutes=1))
                   if t.action is not Action.UPDATE]
    # SpO2 83 is past the critical limit, and a single NEWS2 parameter scoring 3.
    assert {(t.rule_key, t.severity) for t in transitions} == {
        ("threshold:spo2", Severity.HIGH), ("news2", Severity.MEDIUM),
    }
    for created in transitions:
        assert created.action is Action.CREATE
        assert not created.page and created.state is not None and created.state.late


def test_old_evidence_is_late_whatever_its_origin() -> None:
    stored = spo2_stream([83], origin=Origin.STORED)
    recent = evaluate_readings(GENERAL, stored, state=None, now=T0 + timedelta(minutes=59))
    assert all(not e.late for e in recent.evaluations)
    old = evaluate_readings(GENERAL, stored, state=None, now=T0 + timedelta(minutes=61))
    assert all(e.late and not e.page for e in old.evaluations)


def test_history_and_batch_may_overlap_without_double_counting() -> None:
    rules = defaults_for("hypertension")
    batch: list[Observation] = []
    for day in range(5):
        for hour in (-4, 8):  # 08:00 and 20:00 UTC (T0 is noon)
            seconds = (day * 24 + hour) * 3600
            batch += [reading(Metric.SYSTOLIC_BP, 150 if day == 0 else 137, seconds),
                      reading(Metric.DIASTOLIC_BP, 80, seconds)]
    history, new = batch[:-2], batch[-2:]
    now = new[-1].measured_at
    alone = evaluate_readings(rules, new, state=None, history=history, now=now)
    overlapping = evaluate_readings(rules, new, state=None, history=batch, now=now)
    assert alone.evaluations == overlapping.evaluations
    [bp, *_] = keyed(alone.evaluations, "bp_average")
    assert bp.status is Status.BREACH and bp.severity is Severity.LOW
    assert "home average 137/80 over 4 day(s) (16 readings" in bp.reason


def test_weight_trend_through_the_engine() -> None:
    rules = defaults_for("heart_failure")
    day = 24 * 3600
    history = [reading(Metric.BODY_WEIGHT, 70.0, 0), reading(Metric.BODY_WEIGHT, 69.8, day)]
    new = [reading(Metric.BODY_WEIGHT, 72.0, 3 * day)]
    result = evaluate_readings(rules, new, state=None, history=history, now=T0 + timedelta(days=3))
    [trend] = keyed(result.evaluations, "trend:body_weight")
    assert trend.status is Status.BREACH
    assert required_history(rules)[Metric.BODY_WEIGHT] == HistoryNeed(timedelta(days=3), False)


def test_news2_through_the_engine_uses_the_latest_fresh_values() -> None:
    history = [
        reading(Metric.RESPIRATORY_RATE, 22, -600),  # 2
        reading(Metric.SYSTOLIC_BP, 105, -600),  # 1
        reading(Metric.PULSE_RATE, 70, -900),  # superseded by the newer heart rate
        reading(Metric.HEART_RATE, 95, -300),  # 1
        reading(Metric.BODY_TEMPERATURE, 38.5, -2 * 3600),  # stale after an hour
        reading(Metric.BODY_TEMPERATURE, 37.0, -300),  # 0
        reading(Metric.SPO2, 97, -60),
    ]
    new = [reading(Metric.SPO2, 96, 0)]  # 0
    unknown = evaluate_readings(GENERAL, new, state=None, history=history, now=T0)
    [news2] = keyed(unknown.evaluations, "news2")
    assert news2.status is Status.UNCHANGED  # partial 4, consciousness and oxygen unknown
    known = evaluate_readings(GENERAL, new, state=None, history=history, now=T0,
                              consciousness="C", on_oxygen=False)
    [news2] = keyed(known.evaluations, "news2")
    assert news2.status is Status.BREACH and news2.severity is Severity.HIGH
    assert news2.news2 is not None and news2.news2.total == 7


def test_required_history() -> None:
    needs = required_history(GENERAL)
    assert needs[Metric.SPO2] == HistoryNeed(timedelta(hours=1), latest_only=True)
    assert Metric.BODY_WEIGHT not in needs
    bp = required_history(defaults_for("hypertension"))
    assert bp[Metric.DIASTOLIC_BP] == HistoryNeed(timedelta(days=8), latest_only=False)
    both = required_history(ruleset_for("hypertension", {"news2": {}}))
    assert both[Metric.SYSTOLIC_BP] == HistoryNeed(timedelta(days=8), latest_only=False)
    assert both[Metric.SPO2] == HistoryNeed(timedelta(hours=1), latest_only=True)


def test_state_of_removed_rules_is_dropped() -> None:
    result = evaluate_readings(GENERAL, spo2_stream([90]), state=None, now=T0)
    assert "threshold:spo2" in result.state.thresholds
    without = ruleset_for("general_adult", {"thresholds": {"spo2": None}})
    again = evaluate_readings(without, [reading(Metric.PULSE_RATE, 70, 5)],
                              state=result.state, now=T0)
    assert set(again.state.thresholds) == {"threshold:pulse_rate"}


def test_sweeper_flow_missing_data_then_resumption() -> None:
    rules = defaults_for("general_adult")
    started = T0 - timedelta(days=1)
    last = {Metric.SPO2: T0, Metric.SYSTOLIC_BP: T0, Metric.BODY_TEMPERATURE: T0}
    now = T0 + timedelta(minutes=20)
    swept = sweep(
        rules, state=None, now=now, monitoring_started_at=started, last_reading_at=last,
        gateway=GatewayPresence(online=False, last_seen=T0 + timedelta(minutes=1)),
        devices={Metric.SPO2: DevicePresence(last_seen=T0, battery_level=60)},
    )
    [missing] = [e for e in swept.evaluations if e.status is Status.BREACH]
    assert missing.rule_key == "missing:spo2" and missing.cause is MissingCause.GATEWAY_OFFLINE
    assert missing.severity is Severity.MEDIUM
    [created] = decide_all({}, swept.evaluations, now=now)
    assert created.action is Action.CREATE and created.page
    alerts: dict[str, AlertState] = {}
    assert created.state is not None
    alerts[created.rule_key] = created.state
    # Readings resume: the next sweep clears, and missing data auto-resolves with the reason.
    later = now + timedelta(minutes=5)
    resumed = sweep(
        rules, state=swept.state, now=later, monitoring_started_at=started,
        last_reading_at={**last, Metric.SPO2: later},
        gateway=GatewayPresence(online=True, last_seen=later),
        devices={Metric.SPO2: DevicePresence(last_seen=later, battery_level=60)},
    )
    [resolved] = decide_all(alerts, resumed.evaluations, now=later)
    assert resolved.action is Action.AUTO_RESOLVE
    assert resolved.state is not None and "on schedule" in (resolved.state.resolution or "")


def test_sweeper_raises_a_single_spot_check_breach() -> None:
    result = evaluate_readings(GENERAL, spo2_stream([89]), state=None, now=T0)
    assert keyed(result.evaluations, "threshold:spo2")[0].status is Status.PENDING
    swept = sweep(
        GENERAL, state=result.state, now=T0 + timedelta(seconds=31),
        monitoring_started_at=T0, last_reading_at={Metric.SPO2: T0},
        gateway=GatewayPresence(online=True, last_seen=T0), devices={},
    )
    [raised] = keyed(swept.evaluations, "threshold:spo2")
    assert raised.status is Status.BREACH and raised.severity is Severity.MEDIUM


def test_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        evaluate_readings(GENERAL, [], state=None, now=datetime(2024, 3, 1))
    with pytest.raises(ValueError, match="measured_at must be timezone-aware"):
        Observation(Metric.SPO2, 97, datetime(2024, 3, 1))
    with pytest.raises(ValueError, match="finite"):
        Observation(Metric.SPO2, float("nan"), T0)


def test_non_numeric_values_are_refused() -> None:
    with pytest.raises(ValueError, match="must be a number"):
        Observation(Metric.SPO2, "97", T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a number"):
        Observation(Metric.SPO2, True, T0)


def test_latest_only_history_gives_the_same_news2_as_the_full_window() -> None:
    full = [reading(Metric.SPO2, 94 + (i % 4), -3000 + 10 * i) for i in range(300)]
    full += [reading(Metric.PULSE_RATE, 60 + (i % 50), -3000 + 60 * i) for i in range(50)]
    latest = [max((r for r in full if r.metric is m), key=lambda r: r.measured_at)
              for m in (Metric.SPO2, Metric.PULSE_RATE)]
    batch = spo2_stream([91, 96, 89])
    kwargs = {"state": None, "now": T0, "consciousness": "A", "on_oxygen": False}
    with_full = evaluate_readings(GENERAL, batch, history=full, **kwargs)  # type: ignore[arg-type]
    with_latest = evaluate_readings(GENERAL, batch, history=latest, **kwargs)  # type: ignore[arg-type]
    assert keyed(with_full.evaluations, "news2") == keyed(with_latest.evaluations, "news2")
