"""Missing data: schedules with grace, and the most likely cause in order of precedence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigil.metrics import Metric
from vigil.rules import (
    DevicePresence,
    GatewayPresence,
    MissingCause,
    MissingDataRule,
    Severity,
    Status,
    evaluate_missing,
)

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
START = T0 - timedelta(days=30)
HOUR, MINUTE = timedelta(hours=1), timedelta(minutes=1)

BP_TWICE_DAILY = MissingDataRule(metric=Metric.SYSTOLIC_BP, every=12 * HOUR, grace=3 * HOUR)
SPO2_CONTINUOUS = MissingDataRule(
    metric=Metric.SPO2, every=MINUTE, grace=9 * MINUTE, device_presence="continuous",
    severity=Severity.MEDIUM,
)
NOW = T0 + 16 * HOUR
GATEWAY_OK = GatewayPresence(online=True, last_seen=NOW)
DEVICE_OK = DevicePresence(last_seen=NOW, battery_level=80)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (timedelta(0), Status.CLEAR),
        (12 * HOUR, Status.CLEAR),
        (15 * HOUR, Status.CLEAR),  # the deadline itself is still on time
        (15 * HOUR + timedelta(seconds=1), Status.BREACH),
        (3 * 24 * HOUR, Status.BREACH),
    ],
)
def test_schedule_with_grace(after: timedelta, expected: Status) -> None:
    now = T0 + after
    evaluation = evaluate_missing(
        BP_TWICE_DAILY, now=now, last_reading_at=T0, monitoring_started_at=START,
        gateway=GatewayPresence(online=True, last_seen=now),
        device=DevicePresence(last_seen=T0, battery_level=90),
    )
    assert evaluation.status is expected
    assert evaluation.at == now
    assert evaluation.rule_key == "missing:systolic_bp"
    assert evaluation.auto_resolve
    if expected is Status.BREACH:
        assert evaluation.severity is Severity.LOW
        assert evaluation.cause is MissingCause.NOT_MEASURED
        assert "overdue since 2024-03-01T23:00:00+00:00" in evaluation.reason
    else:
        assert evaluation.severity is None and evaluation.cause is None


def test_without_readings_the_schedule_starts_with_monitoring() -> None:
    def at(now: datetime) -> Status:
        return evaluate_missing(
            BP_TWICE_DAILY, now=now, last_reading_at=None, monitoring_started_at=T0,
            gateway=GatewayPresence(online=True, last_seen=now), device=DevicePresence(),
        ).status

    assert at(T0 + 15 * HOUR) is Status.CLEAR
    assert at(T0 + 16 * HOUR) is Status.BREACH
    # A reading from before monitoring started does not move the schedule back.
    evaluation = evaluate_missing(
        BP_TWICE_DAILY, now=T0 + 14 * HOUR, last_reading_at=T0 - timedelta(days=3),
        monitoring_started_at=T0, gateway=GATEWAY_OK, device=DEVICE_OK,
    )
    assert evaluation.status is Status.CLEAR


SILENT_DEVICE = DevicePresence(last_seen=T0, battery_level=80)


@pytest.mark.parametrize(
    ("rule", "gateway", "device", "causes"),
    [
        # An offline gateway explains everything after it.
        (SPO2_CONTINUOUS, GatewayPresence(online=False, last_seen=T0), DevicePresence(
            last_seen=T0, battery_level=5),
         [MissingCause.GATEWAY_OFFLINE, MissingCause.DEVICE_NOT_SEEN, MissingCause.LOW_BATTERY]),
        # "Online" but silent past the timeout (last will not delivered yet) is offline.
        (SPO2_CONTINUOUS, GatewayPresence(online=True, last_seen=NOW - 6 * MINUTE), DEVICE_OK,
         [MissingCause.GATEWAY_OFFLINE]),
        (SPO2_CONTINUOUS, GatewayPresence(online=True, last_seen=NOW - 5 * MINUTE), DEVICE_OK,
         [MissingCause.NOT_MEASURED]),
        (SPO2_CONTINUOUS, GatewayPresence(online=None, last_seen=None), DEVICE_OK,
         [MissingCause.GATEWAY_OFFLINE]),
        # Gateway fine, continuous device silent.
        (SPO2_CONTINUOUS, GATEWAY_OK, SILENT_DEVICE, [MissingCause.DEVICE_NOT_SEEN]),
        (SPO2_CONTINUOUS, GATEWAY_OK, DevicePresence(), [MissingCause.DEVICE_NOT_SEEN]),
        (SPO2_CONTINUOUS, GATEWAY_OK, DevicePresence(last_seen=NOW - 10 * MINUTE),
         [MissingCause.NOT_MEASURED]),
        (SPO2_CONTINUOUS, GATEWAY_OK, DevicePresence(last_seen=NOW - 11 * MINUTE),
         [MissingCause.DEVICE_NOT_SEEN]),
        (SPO2_CONTINUOUS, GATEWAY_OK, DevicePresence(last_seen=T0, battery_level=3),
         [MissingCause.DEVICE_NOT_SEEN, MissingCause.LOW_BATTERY]),
        # Device in touch but flat.
        (SPO2_CONTINUOUS, GATEWAY_OK, DevicePresence(last_seen=NOW, battery_level=20),
         [MissingCause.LOW_BATTERY]),
        (SPO2_CONTINUOUS, GATEWAY_OK, DevicePresence(last_seen=NOW, battery_level=21),
         [MissingCause.NOT_MEASURED]),
        # A cuff only wakes to measure: its silence is the patient not measuring.
        (BP_TWICE_DAILY, GATEWAY_OK, SILENT_DEVICE, [MissingCause.NOT_MEASURED]),
        (BP_TWICE_DAILY, GATEWAY_OK, DevicePresence(last_seen=T0, battery_level=10),
         [MissingCause.LOW_BATTERY]),
        (BP_TWICE_DAILY, GatewayPresence(online=False, last_seen=NOW), SILENT_DEVICE,
         [MissingCause.GATEWAY_OFFLINE]),
    ],
)
def test_cause_precedence(
    rule: MissingDataRule, gateway: GatewayPresence, device: DevicePresence,
    causes: list[MissingCause],
) -> None:
    evaluation = evaluate_missing(
        rule, now=NOW, last_reading_at=T0, monitoring_started_at=START,
        gateway=gateway, device=device,
    )
    assert evaluation.status is Status.BREACH
    assert evaluation.causes == causes
    assert evaluation.cause is causes[0]
    assert f"most likely cause: {causes[0].value.replace('_', ' ')}" in evaluation.reason
    assert evaluation.severity is rule.severity


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        evaluate_missing(BP_TWICE_DAILY, now=datetime(2024, 3, 1), last_reading_at=None,
                         monitoring_started_at=START, gateway=GATEWAY_OK, device=DEVICE_OK)
    with pytest.raises(ValueError, match=r"device\.last_seen must be timezone-aware"):
        evaluate_missing(BP_TWICE_DAILY, now=NOW, last_reading_at=None,
                         monitoring_started_at=START, gateway=GATEWAY_OK,
                         device=DevicePresence(last_seen=datetime(2024, 3, 1)))


def test_schedule_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MissingDataRule(metric=Metric.SPO2, every=timedelta(0))
