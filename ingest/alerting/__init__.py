"""Alerting where the data is committed (ARCHITECTURE.md decision 7).

`AlertingHook` plugs into the batch writer and evaluates the pure rules of `vigil.rules` on
the readings each flush inserted, in the same transaction; `Sweeper` / `SweeperThread` run
the clock-driven rules (missing data, silent breaches, snooze expiry, escalation, NEWS2
freshness). Both write `alerts` (the alerts trigger adds `alert_events` and the NOTIFY),
`rule_state` and `alert_pages` (migration 0150).
"""

from ingest.alerting.hook import AlertingHook, HookStats
from ingest.alerting.sweeper import Sweeper, SweeperThread, SweepResult

__all__ = ["AlertingHook", "HookStats", "SweepResult", "Sweeper", "SweeperThread"]
