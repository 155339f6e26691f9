"""The sweeper's shortcut for patients with nothing due (sweep_patient skips the evaluations
that would come out CLEAR against no alert) decides exactly what evaluating everything does:
the same transitions, the same marks and an equivalent rule state, over generated patients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.alerting.presence import Enrolled, Presence
from ingest.alerting.rulesets import rules_for
from ingest.alerting.store import LiveAlert, PatientRules
from ingest.alerting.sweeper import (
    Outcome,
    _news2_stale,
    _unchanged_absence,
    silence_quiet,
    sweep_patient,
    sweep_state,
)
from vigil.rules import (
    Action,
    AlertState,
    AlertStatus,
    BandState,
    DevicePresence,
    Evaluation,
    GatewayPresence,
    MissingCause,
    RuleState,
    Severity,
    ThresholdState,
    Transition,
    decide,
    equivalent,
    evaluate_missing,
    missing_causes,
    sweep,
    sweep_alert,
)

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
CONDITIONS = [None, "copd", "heart_failure", "hypertension"]


def reference(patient: PatientRules, live: dict[str, LiveAlert], presence: Presence | None,
              now: datetime) -> Outcome:
    """sweep_patient as it was before the shortcut: every evaluation built and decided."""
    rules = patient.rules
    ruleset = rules.ruleset
    silent = sweep(rules.clock_rules, state=sweep_state(patient), now=now,
                   monitoring_started_at=now, last_reading_at={},
                   gateway=GatewayPresence(None, None), devices={})
    evaluations: list[Evaluation] = list(silent.evaluations)
    if presence is not None:
        for schedule in ruleset.missing.values():
            gateway, device = presence.of(schedule.metric)
            evaluations.append(evaluate_missing(
                schedule, now=now, last_reading_at=presence.last_reading_at(schedule.metric),
                monitoring_started_at=presence.started_at, gateway=gateway, device=device))
    current: dict[str, AlertState | None] = {k: a.alert for k, a in live.items()}
    transitions: list[Transition] = []
    for ev in evaluations:
        t = decide(current.get(ev.rule_key), ev, now=now)
        if t.action is Action.NO_OP or _unchanged_absence(t, live.get(ev.rule_key)):
            continue
        transitions.append(t)
        current[ev.rule_key] = t.state
    for key, alert in list(current.items()):
        if alert is None or not alert.live:
            continue
        t = sweep_alert(alert, now=now, policy=ruleset.escalation)
        if t.action is not Action.NO_OP:
            transitions.append(t)
            current[key] = t.state
    changed = {t.rule_key for t in transitions}
    marks = [m for m in [_news2_stale(patient, live.get("news2"), now)]
             if m is not None and "news2" not in changed]
    return Outcome(silent.state, transitions, marks)


# Offsets around every deadline that matters: max_gap (30 s), the gateway timeout (5 min),
# the schedules' every + grace (11 min .. 30 h), escalation (15 min, 1 h).
ago = st.sampled_from([0, 1, 29, 30, 31, 299, 300, 301, 659, 660, 661, 3600, 3601, 5 * 3600,
                       15 * 3600, 15 * 3600 + 1, 30 * 3600, 30 * 3600 + 1, 3 * 86400]).map(
    lambda s: NOW - timedelta(seconds=s))
maybe_ago = st.none() | ago


@st.composite
def patients(draw: st.DrawFn) -> tuple[PatientRules, dict[str, LiveAlert], Presence | None]:
    rules = rules_for(draw(st.sampled_from(CONDITIONS)), None)
    thresholds: dict[str, ThresholdState] = {}
    for rule in rules.clock_rules.thresholds.values():
        if not draw(st.booleans()):
            continue
        keys = [limit.key for limit in rule.limits] + ["gone"]
        bands = {key: BandState(raised=draw(st.booleans()), breach_since=draw(maybe_ago))
                 for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))}
        last_at = draw(maybe_ago)
        thresholds[rule.rule_key] = ThresholdState(
            last_at=last_at, last_value=None if last_at is None else 90.0, bands=bands)
    patient = PatientRules(1, rules, RuleState(thresholds=thresholds))

    presence: Presence | None = None
    if draw(st.integers(0, 9)) > 0:  # mostly enrolled
        enrolled = [Enrolled(
            device_id=d, gateway_id=f"g{d}", since=draw(ago),
            gateway=GatewayPresence(draw(st.sampled_from([True, False, None])), draw(maybe_ago)),
            device=DevicePresence(draw(maybe_ago), draw(st.sampled_from([None, 5, 20, 21, 80]))),
        ) for d in range(1, draw(st.integers(1, 2)) + 1)]
        presence = Presence(enrolled)
        for schedule in rules.ruleset.missing.values():
            at = draw(maybe_ago)
            if at is not None:
                presence.last[schedule.metric] = (at, draw(st.sampled_from([1, 2, 3])))

    keys = (3 * [s.rule_key for s in rules.ruleset.missing.values()]
            + [r.rule_key for r in rules.clock_rules.thresholds.values()] + ["news2"])
    live: dict[str, LiveAlert] = {}
    for n, key in enumerate(draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))):
        opened = draw(ago)
        acknowledged = draw(st.booleans())
        alert = AlertState(
            rule_key=key, severity=draw(st.sampled_from(list(Severity))),
            status=AlertStatus.ACKNOWLEDGED if acknowledged else AlertStatus.OPEN,
            opened_at=opened, updated_at=opened, last_evidence_at=opened,
            paged_at=draw(st.none() | st.just(opened)),
            acknowledged_at=opened if acknowledged else None,
            snoozed_until=draw(st.none() | st.sampled_from(
                [NOW - timedelta(minutes=1), NOW, NOW + timedelta(minutes=1)])),
            escalation_level=draw(st.integers(0, 3)),
            late=draw(st.sampled_from([False, False, True])))
        cause = draw(st.none() | st.sampled_from([c.value for c in MissingCause]))
        schedules = {s.rule_key: s for s in rules.ruleset.missing.values()}
        if key in schedules and presence is not None and draw(st.booleans()):
            # Mostly the cause the sweep finds now: an unchanged absence.
            gateway, device = presence.of(schedules[key].metric)
            cause = missing_causes(schedules[key], now=NOW, gateway=gateway,
                                   device=device)[0].value
        live[key] = LiveAlert(n + 1, 1, alert, cause,
                              draw(st.sampled_from([{}, {"stale": True}])))
    return patient, live, presence


@settings(max_examples=600, deadline=None)
@given(patients())
def test_skipping_what_is_not_due_decides_as_evaluating_everything(
        case: tuple[PatientRules, dict[str, LiveAlert], Presence | None]) -> None:
    patient, live, presence = case
    fast = sweep_patient(patient, live, presence, NOW)
    full = reference(patient, live, presence, NOW)
    assert fast.transitions == full.transitions
    assert fast.marks == full.marks
    assert equivalent(fast.state, full.state)
    if fast.quiet:  # nothing due: nothing would have changed
        assert not full.transitions and not full.marks
        assert equivalent(full.state, sweep_state(patient))


def test_silence_is_quiet_only_without_runs_waiting_on_it() -> None:
    rules = rules_for(None, None)
    rule = rules.clock_rules.thresholds[next(iter(rules.clock_rules.thresholds))]
    key = rule.limits[0].key
    old = NOW - rule.max_gap - timedelta(seconds=1)

    def state(last_at: datetime | None, **bands: BandState) -> RuleState:
        return RuleState(thresholds={rule.rule_key: ThresholdState(
            last_at=last_at, last_value=1.0, bands=bands)})

    running = BandState(breach_since=old)
    assert silence_quiet(rules.clock_rules, RuleState(), NOW)
    assert silence_quiet(rules.clock_rules, state(None), NOW)
    assert silence_quiet(rules.clock_rules, state(NOW, **{key: running}), NOW)  # within gap
    assert not silence_quiet(rules.clock_rules, state(old, **{key: running}), NOW)
    assert silence_quiet(rules.clock_rules, state(old, **{key: BandState(raised=True)}), NOW)
    # The gap drops a raised band whose limit the rule no longer has: not equivalent.
    assert not silence_quiet(rules.clock_rules, state(old, gone=BandState(raised=True)), NOW)
