"""Alert lifecycle decisions: create, raise, update, resolve, snooze, escalate, late data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.rules import (
    Action,
    AlertState,
    AlertStatus,
    EscalationPolicy,
    Evaluation,
    InvalidTransition,
    Severity,
    Status,
    Transition,
    acknowledge,
    decide,
    decide_all,
    resolve,
    snooze,
    sweep_alert,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
LOW, MEDIUM, HIGH = Severity.LOW, Severity.MEDIUM, Severity.HIGH
KEY = "threshold:spo2"
POLICY = EscalationPolicy()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(
    status: Status, severity: Severity | None = None, minute: float = 0, *, late: bool = False,
    auto_resolve: bool = False, value: float | None = 90.0, rule_key: str = KEY,
) -> Evaluation:
    return Evaluation(rule_key=rule_key, status=status, severity=severity, at=at(minute),
                      value=value, reason=f"{status.value} test", late=late,
                      auto_resolve=auto_resolve)


def opened(severity: Severity = MEDIUM, minute: float = 0) -> AlertState:
    transition = decide(None, ev(Status.BREACH, severity, minute), now=at(minute))
    assert transition.state is not None
    return transition.state


def test_breach_without_alert_creates_and_pages() -> None:
    transition = decide(None, ev(Status.BREACH, MEDIUM, 0, value=91), now=at(0.5))
    assert transition.action is Action.CREATE and transition.page
    state = transition.state
    assert state is not None
    assert state.status is AlertStatus.OPEN and state.severity is MEDIUM
    assert state.opened_at == at(0) and state.paged_at == at(0.5)
    assert state.last_value == 91 and not state.late
    assert "medium alert opened" in transition.reason


@pytest.mark.parametrize("status", [Status.CLEAR, Status.PENDING, Status.UNCHANGED])
def test_nothing_to_do_without_a_breach(status: Status) -> None:
    transition = decide(None, ev(status, auto_resolve=True), now=T0)
    assert transition.action is Action.NO_OP and transition.state is None and not transition.page


def test_a_breach_after_resolution_opens_a_new_alert() -> None:
    closed = resolve(opened(), now=at(5), reason="reviewed")
    transition = decide(closed, ev(Status.BREACH, LOW, 10), now=at(10))
    assert transition.action is Action.CREATE
    assert transition.state is not None and transition.state.opened_at == at(10)


@pytest.mark.parametrize(
    ("start", "new", "action", "page", "severity"),
    [
        (MEDIUM, HIGH, Action.RAISE_SEVERITY, True, HIGH),
        (LOW, MEDIUM, Action.RAISE_SEVERITY, True, MEDIUM),
        (MEDIUM, MEDIUM, Action.UPDATE, False, MEDIUM),
        (HIGH, LOW, Action.UPDATE, False, HIGH),  # severity only rises while open
    ],
)
def test_open_alert_is_updated_in_place(
    start: Severity, new: Severity, action: Action, page: bool, severity: Severity
) -> None:
    transition = decide(opened(start), ev(Status.BREACH, new, 5, value=80), now=at(5))
    assert (transition.action, transition.page) == (action, page)
    assert transition.state is not None
    assert transition.state.severity is severity
    assert transition.state.last_value == 80 and transition.state.last_evidence_at == at(5)
    assert transition.previous_severity is start


def test_a_rise_returns_an_acknowledged_alert_to_open() -> None:
    acked = acknowledge(opened(LOW), now=at(1))
    transition = decide(acked, ev(Status.BREACH, HIGH, 2), now=at(2))
    assert transition.action is Action.RAISE_SEVERITY and transition.page
    state = transition.state
    assert state is not None
    assert state.status is AlertStatus.OPEN and state.acknowledged_at is None
    assert state.paged_at == at(2) and state.escalation_level == 0
    assert "back to open" in transition.reason


def test_a_snooze_never_hides_a_rise() -> None:
    snoozed = snooze(opened(LOW), now=at(1), until=at(120), policy=POLICY)
    same = decide(snoozed, ev(Status.BREACH, LOW, 2), now=at(2))
    assert same.action is Action.UPDATE and not same.page
    assert same.state is not None and same.state.snoozed_until == at(120)
    rise = decide(snoozed, ev(Status.BREACH, MEDIUM, 3), now=at(3))
    assert rise.action is Action.RAISE_SEVERITY and rise.page
    assert rise.state is not None and rise.state.snoozed_until is None
    assert "un-snoozed" in rise.reason


def test_clear_auto_resolves_only_where_the_rule_says_so() -> None:
    alert = opened(MEDIUM)
    kept = decide(alert, ev(Status.CLEAR, minute=5, auto_resolve=False), now=at(5))
    assert kept.action is Action.NO_OP and kept.state == alert
    assert "awaiting clinician" in kept.reason
    resolved = decide(alert, ev(Status.CLEAR, minute=5, auto_resolve=True), now=at(6))
    assert resolved.action is Action.AUTO_RESOLVE and not resolved.page
    state = resolved.state
    assert state is not None and state.status is AlertStatus.RESOLVED
    assert state.resolved_by == "rule" and state.resolved_at == at(6)
    assert state.resolution == "auto-resolved: clear test"
    assert state.severity is MEDIUM  # history keeps the worst severity


def test_clear_evidence_older_than_the_breach_does_not_resolve() -> None:
    alert = decide(opened(MEDIUM, 0), ev(Status.BREACH, MEDIUM, 10), now=at(10)).state
    assert alert is not None
    transition = decide(alert, ev(Status.CLEAR, minute=5, auto_resolve=True), now=at(11))
    assert transition.action is Action.NO_OP and "older than the latest breach" in transition.reason
    older_breach = decide(alert, ev(Status.BREACH, LOW, 5), now=at(11))
    assert older_breach.action is Action.NO_OP


@pytest.mark.parametrize("status", [Status.PENDING, Status.UNCHANGED])
def test_pending_and_unchanged_leave_an_alert_alone(status: Status) -> None:
    alert = opened()
    transition = decide(alert, ev(status, minute=3), now=at(3))
    assert transition.action is Action.NO_OP and transition.state == alert


def test_late_data_is_recorded_but_never_pages() -> None:
    created = decide(None, ev(Status.BREACH, MEDIUM, -300, late=True), now=T0)
    assert created.action is Action.CREATE and not created.page
    state = created.state
    assert state is not None and state.late and state.paged_at is None
    assert "late data" in created.reason
    # It never escalates while known only from late data.
    assert sweep_alert(state, now=at(600), policy=POLICY).action is Action.NO_OP
    # A late rise records the severity without paging or reopening.
    acked = acknowledge(state, now=at(1))
    raised = decide(acked, ev(Status.BREACH, HIGH, -200, late=True), now=at(2))
    assert raised.action is Action.RAISE_SEVERITY and not raised.page
    assert raised.state is not None
    assert raised.state.severity is HIGH and raised.state.status is AlertStatus.ACKNOWLEDGED
    # Live evidence of the same condition pages now.
    live = decide(state, ev(Status.BREACH, LOW, 5), now=at(5))
    assert live.action is Action.CONFIRM_LIVE and live.page
    assert live.state is not None and not live.state.late and live.state.paged_at == at(5)


def test_late_rise_on_a_live_alert_does_not_page() -> None:
    transition = decide(opened(LOW), ev(Status.BREACH, HIGH, 1, late=True), now=at(2))
    assert transition.action is Action.RAISE_SEVERITY and not transition.page
    assert transition.state is not None and transition.state.paged_at == at(0)


@pytest.mark.parametrize(
    ("severity", "minutes", "expected_level"),
    [
        (HIGH, 14.99, 0),
        (HIGH, 15, 1),
        (MEDIUM, 59, 0),
        (MEDIUM, 60, 1),
        (LOW, 10_000, 0),  # low never escalates by default
    ],
)
def test_escalation_timing(severity: Severity, minutes: float, expected_level: int) -> None:
    transition = sweep_alert(opened(severity), now=at(minutes), policy=POLICY)
    if expected_level:
        assert transition.action is Action.ESCALATE and transition.page
        assert transition.state is not None
        assert transition.state.escalation_level == expected_level
        assert transition.state.paged_at == at(minutes)
    else:
        assert transition.action is Action.NO_OP


def test_escalation_repeats_from_the_last_page_up_to_the_maximum() -> None:
    alert = opened(HIGH)
    levels = []
    for minute in (15, 29, 30, 45, 60, 90):
        transition = sweep_alert(alert, now=at(minute), policy=POLICY)
        if transition.state is not None:
            alert = transition.state
        levels.append((transition.action, alert.escalation_level))
    assert levels == [
        (Action.ESCALATE, 1), (Action.NO_OP, 1), (Action.ESCALATE, 2),
        (Action.NO_OP, 2), (Action.NO_OP, 2), (Action.NO_OP, 2),
    ]


def test_escalation_is_configurable_per_severity() -> None:
    policy = EscalationPolicy(ack_within={LOW: timedelta(minutes=5)}, max_escalations=1)
    assert sweep_alert(opened(LOW), now=at(5), policy=policy).action is Action.ESCALATE
    assert sweep_alert(opened(HIGH), now=at(500), policy=policy).action is Action.NO_OP


def test_acknowledged_alerts_do_not_escalate() -> None:
    acked = acknowledge(opened(HIGH), now=at(1))
    assert sweep_alert(acked, now=at(100), policy=POLICY).action is Action.NO_OP


def test_snoozed_alerts_wait_then_unsnooze_and_page() -> None:
    snoozed = snooze(opened(HIGH), now=at(1), until=at(60), policy=POLICY)
    assert sweep_alert(snoozed, now=at(59), policy=POLICY).action is Action.NO_OP
    expired = sweep_alert(snoozed, now=at(60), policy=POLICY)
    assert expired.action is Action.UNSNOOZE and expired.page
    assert expired.state is not None and expired.state.snoozed_until is None
    # Escalation now counts from the re-page.
    assert sweep_alert(expired.state, now=at(74), policy=POLICY).action is Action.NO_OP
    assert sweep_alert(expired.state, now=at(75), policy=POLICY).action is Action.ESCALATE


def test_resolved_alerts_are_left_alone_by_the_sweeper() -> None:
    closed = resolve(opened(HIGH), now=at(1), reason="false alarm: probe off")
    assert sweep_alert(closed, now=at(100), policy=POLICY).action is Action.NO_OP
    assert closed.resolution == "false alarm: probe off" and closed.resolved_by == "clinician"


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda a: acknowledge(acknowledge(a, now=at(1)), now=at(2)),
         "cannot acknowledge a acknowledged alert"),
        (lambda a: acknowledge(resolve(a, now=at(1), reason="x"), now=at(2)),
         "cannot acknowledge a resolved alert"),
        (lambda a: resolve(resolve(a, now=at(1), reason="x"), now=at(2), reason="y"),
         "already resolved"),
        (lambda a: resolve(a, now=at(1), reason="  "), "needs a reason"),
        (lambda a: snooze(a, now=at(1), until=at(1), policy=POLICY), "in the future"),
        (lambda a: snooze(a, now=at(1), until=at(60 * 25), policy=POLICY), "longer than"),
        (lambda a: snooze(resolve(a, now=at(1), reason="x"), now=at(2), until=at(9),
                          policy=POLICY), "resolved"),
    ],
)
def test_impossible_clinician_actions_raise(action: object, message: str) -> None:
    with pytest.raises(InvalidTransition, match=message):
        action(opened())  # type: ignore[operator]


def test_mismatched_rule_key_is_refused() -> None:
    with pytest.raises(ValueError, match="alert for threshold:spo2 given an evaluation of news2"):
        decide(opened(), ev(Status.BREACH, HIGH, rule_key="news2"), now=T0)


def test_decide_all_threads_each_rule_key() -> None:
    evaluations = [
        ev(Status.BREACH, LOW, 0),
        ev(Status.BREACH, MEDIUM, 1, rule_key="news2"),
        ev(Status.BREACH, MEDIUM, 1),
        ev(Status.PENDING, MEDIUM, 2),
        ev(Status.BREACH, LOW, 3),
        ev(Status.CLEAR, minute=4, auto_resolve=True),
    ]
    transitions = decide_all({}, evaluations, now=at(5))
    assert [(t.rule_key, t.action) for t in transitions] == [
        (KEY, Action.CREATE), ("news2", Action.CREATE), (KEY, Action.RAISE_SEVERITY),
        (KEY, Action.UPDATE), (KEY, Action.AUTO_RESOLVE),
    ]


def test_alert_state_round_trips_through_json() -> None:
    state = snooze(opened(HIGH), now=at(1), until=at(30), policy=POLICY)
    assert AlertState.model_validate_json(state.model_dump_json()) == state


severities = st.sampled_from([LOW, MEDIUM, HIGH])
steps = st.lists(
    st.one_of(
        st.tuples(st.just("breach"), severities, st.booleans()),
        st.tuples(st.just("other"), st.sampled_from([Status.CLEAR, Status.PENDING,
                                                     Status.UNCHANGED]), st.booleans()),
        st.tuples(st.just("snooze"), st.integers(1, 120), st.booleans()),
        st.tuples(st.just("ack"), st.none(), st.booleans()),
        st.tuples(st.just("sweep"), st.none(), st.booleans()),
    ),
    max_size=40,
)


@given(steps)
def test_severity_never_falls_and_snooze_never_hides_a_rise(
    sequence: list[tuple[str, object, bool]],
) -> None:
    alert: AlertState | None = None
    for minute, (kind, arg, late) in enumerate(sequence):
        now = at(minute)
        before = alert
        if kind == "breach":
            assert isinstance(arg, Severity)
            transition = decide(alert, ev(Status.BREACH, arg, minute, late=late), now=now)
            alert = transition.state
            assert alert is not None and alert.live
            if before is not None and before.live:
                assert alert.severity.rank == max(before.severity.rank, arg.rank)
                if arg.rank > before.severity.rank:
                    assert transition.action is Action.RAISE_SEVERITY
                    assert alert.snoozed_until is None  # a rise always shows
                    assert transition.page == (not late)
                else:
                    assert transition.page == (before.late and not late and not
                                               before.snoozed(now))
        elif kind == "other":
            assert isinstance(arg, Status)
            # auto_resolve is never set here, so nothing may resolve the alert.
            alert = decide(alert, ev(arg, minute=minute), now=now).state
            assert alert == before
        elif alert is not None and alert.live:
            if kind == "snooze":
                assert isinstance(arg, int)
                alert = snooze(alert, now=now, until=at(minute + arg), policy=POLICY)
            elif kind == "ack" and alert.status is AlertStatus.OPEN:
                alert = acknowledge(alert, now=now)
            elif kind == "sweep":
                transition = sweep_alert(alert, now=now, policy=POLICY)
                alert = transition.state
                assert alert is not None
                assert alert.severity is before.severity if before else True
                if transition.page:
                    assert not alert.late
        if before is not None and before.live and alert is not None:
            assert alert.live
            assert alert.severity.rank >= before.severity.rank


def test_transitions_and_evaluations_round_trip_through_json() -> None:
    transition = decide(None, ev(Status.BREACH, HIGH, 0, late=True), now=at(1))
    assert transition.evaluation is not None and not transition.evaluation.page
    assert '"page":false' in transition.model_dump_json()
    assert Transition.model_validate_json(transition.model_dump_json()) == transition
    assert Evaluation.model_validate_json(transition.evaluation.model_dump_json()) == (
        transition.evaluation
    )
