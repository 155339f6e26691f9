"""Missing data: monitoring that stops is itself an alert, with its most likely cause.

A metric is overdue when no reading was measured within `every + grace` of the later of its
last reading and the start of monitoring (strictly after that deadline). The cause is the
first that applies, in this order, because each explains the ones after it:

1. gateway offline -- its status says offline, it has never been seen, or it has been silent
   longer than `gateway_timeout` (heartbeats stopped before the last will arrived);
2. device not seen -- only for devices expected to stay in touch (`continuous`): never seen,
   or silent for longer than `every + grace` (an `on_use` device is silent whenever the
   patient does not measure, so its silence is not a cause of its own);
3. low battery -- last known battery level at or below `low_battery_percent`;
4. patient did not measure -- everything else is working.

Every applicable cause is listed in `causes`; `cause` is the first. The sweeper calls this on
the clock; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vigil.rules.config import MissingDataRule
from vigil.rules.evaluation import Evaluation, MissingCause, Status
from vigil.rules.observation import require_aware


@dataclass(frozen=True, slots=True)
class GatewayPresence:
    # The gateway's last known state (retained status / last will); None if never heard.
    online: bool | None
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class DevicePresence:
    last_seen: datetime | None = None
    battery_level: int | None = None


def _ago(now: datetime, then: datetime | None) -> str:
    return "never" if then is None else f"{then.isoformat()} ({now - then} ago)"


def due_by(rule: MissingDataRule, *, last_reading_at: datetime | None,
           monitoring_started_at: datetime) -> datetime:
    """The deadline of the next reading: evaluate_missing is CLEAR while `now <= due_by(...)`
    (the sweeper skips on-schedule metrics without an alert by this alone)."""
    reference = monitoring_started_at
    if last_reading_at is not None and last_reading_at > reference:
        reference = last_reading_at
    return reference + rule.every + rule.grace


def missing_causes(rule: MissingDataRule, *, now: datetime, gateway: GatewayPresence,
                   device: DevicePresence) -> list[MissingCause]:
    """The causes an overdue metric's evaluation names, most likely first (never empty);
    cheap, so the sweeper can tell an unchanged absence without building the evaluation."""
    causes: list[MissingCause] = []
    if (
        gateway.online is False
        or gateway.last_seen is None
        or now - gateway.last_seen > rule.gateway_timeout
    ):
        causes.append(MissingCause.GATEWAY_OFFLINE)
    if rule.device_presence == "continuous" and (
        device.last_seen is None or now - device.last_seen > rule.every + rule.grace
    ):
        causes.append(MissingCause.DEVICE_NOT_SEEN)
    if device.battery_level is not None and device.battery_level <= rule.low_battery_percent:
        causes.append(MissingCause.LOW_BATTERY)
    if not causes:
        causes.append(MissingCause.NOT_MEASURED)
    return causes


def evaluate_missing(
    rule: MissingDataRule,
    *,
    now: datetime,
    last_reading_at: datetime | None,
    monitoring_started_at: datetime,
    gateway: GatewayPresence,
    device: DevicePresence,
) -> Evaluation:
    require_aware("now", now)
    require_aware("monitoring_started_at", monitoring_started_at)
    for name, value in (
        ("last_reading_at", last_reading_at),
        ("gateway.last_seen", gateway.last_seen),
        ("device.last_seen", device.last_seen),
    ):
        if value is not None:
            require_aware(name, value)

    due = due_by(rule, last_reading_at=last_reading_at,
                 monitoring_started_at=monitoring_started_at)
    metric = rule.metric.value

    def result(status: Status, reason: str, causes: list[MissingCause]) -> Evaluation:
        return Evaluation(
            rule_key=rule.rule_key, metric=rule.metric, status=status,
            severity=rule.severity if status is Status.BREACH else None,
            at=now, reason=reason, auto_resolve=rule.auto_resolve,
            cause=causes[0] if causes else None, causes=causes,
        )

    if now <= due:
        last = "none yet" if last_reading_at is None else last_reading_at.isoformat()
        reason = f"{metric} on schedule (last {last}, next due by {due.isoformat()})"
        return result(Status.CLEAR, reason, [])

    causes = missing_causes(rule, now=now, gateway=gateway, device=device)
    details: list[str] = []
    if MissingCause.GATEWAY_OFFLINE in causes:
        state = {True: "online", False: "offline", None: "unknown"}[gateway.online]
        details.append(f"gateway {state}, last seen {_ago(now, gateway.last_seen)}")
    if MissingCause.DEVICE_NOT_SEEN in causes:
        details.append(f"device last seen {_ago(now, device.last_seen)}")
    if MissingCause.LOW_BATTERY in causes:
        details.append(f"battery {device.battery_level}%")
    if MissingCause.NOT_MEASURED in causes:
        details.append("gateway and device are in touch")
    reason = (
        f"no {metric} reading since {_ago(now, last_reading_at)}; expected every "
        f"{rule.every} (+{rule.grace} grace), overdue since {due.isoformat()}; "
        f"most likely cause: {causes[0].value.replace('_', ' ')} ({'; '.join(details)})"
    )
    return result(Status.BREACH, reason, causes)
