"""sweep_due (the sweeper's cheap question) agrees with sweep_alert (what it would do), and
missing_causes with the causes evaluate_missing names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.metrics import Metric
from vigil.rules import (
    Action,
    AlertState,
    AlertStatus,
    DevicePresence,
    EscalationPolicy,
    GatewayPresence,
    MissingDataRule,
    Severity,
    evaluate_missing,
    missing_causes,
    sweep_alert,
    sweep_due,
)

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
moments = st.sampled_from([-7200, -3601, -3600, -901, -900, -899, -60, -1, 0, 1, 60]).map(
    lambda s: NOW + timedelta(seconds=s))


@st.composite
def alerts(draw: st.DrawFn) -> AlertState:
    status = draw(st.sampled_from(list(AlertStatus)))
    opened = draw(moments)
    return AlertState(
        rule_key="threshold:spo2", status=status, severity=draw(st.sampled_from(list(Severity))),
        opened_at=opened, updated_at=opened, last_evidence_at=opened,
        paged_at=draw(st.none() | moments),
        acknowledged_at=opened if status is AlertStatus.ACKNOWLEDGED else None,
        snoozed_until=draw(st.none() | moments), escalation_level=draw(st.integers(0, 4)),
        late=draw(st.booleans()),
        resolved_at=opened if status is AlertStatus.RESOLVED else None)


@settings(max_examples=500, deadline=None)
@given(alerts(), st.sampled_from([EscalationPolicy(), EscalationPolicy(max_escalations=1)]))
def test_sweep_due_is_exactly_when_sweep_alert_acts(alert: AlertState,
                                                    policy: EscalationPolicy) -> None:
    acts = sweep_alert(alert, now=NOW, policy=policy).action is not Action.NO_OP
    assert sweep_due(alert, now=NOW, policy=policy) is acts


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["continuous", "on_use"]), st.sampled_from([True, False, None]),
       st.none() | moments, st.none() | moments, st.sampled_from([None, 5, 20, 21, 90]))
def test_missing_causes_are_the_evaluations_causes(
        presence: str, online: bool | None, gateway_seen: datetime | None,
        device_seen: datetime | None, battery: int | None) -> None:
    rule = MissingDataRule(metric=Metric.SPO2, every=timedelta(minutes=1),
                           grace=timedelta(minutes=10), device_presence=presence)
    gateway = GatewayPresence(online, gateway_seen)
    device = DevicePresence(device_seen, battery)
    ev = evaluate_missing(rule, now=NOW, last_reading_at=None,
                          monitoring_started_at=NOW - timedelta(days=1), gateway=gateway,
                          device=device)
    assert missing_causes(rule, now=NOW, gateway=gateway, device=device) == ev.causes
