"""One flush's alert decisions, made lazily: `decide_all` then `collapse_updates`, without
building an Evaluation or a Transition for what would be dropped.

Nearly every evaluation of a stream decides nothing (a clear reading with no live alert), and
of a run of evidence-only updates within one flush only the last is kept (`collapse_updates`).
The ledger tells those cases apart from an evaluation's status, severity, time and value
alone -- the facts `vigil.rules.lifecycle.decide` branches on -- and calls `decide` itself,
with the evaluation built by the rule's own code, only for a transition that is kept: a
create, raise, live confirmation or auto-resolution as it happens, and the last update of each
alert at the end. The decisions and the alerts they leave are exactly those of `decide_all`
followed by `collapse_updates` (tests/vigil/rules/test_rules_stream.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from vigil.rules.evaluation import Evaluation, Severity, Status
from vigil.rules.lifecycle import Action, AlertState, Transition, decide

Build = Callable[[], Evaluation]


@dataclass(slots=True)
class _Update:
    """A decided but not yet built evidence-only update."""

    order: int
    build: Build
    # The alert it applies to: `base` with the evidence of the update before it, if any.
    before: tuple[datetime, float | None] | None


@dataclass(slots=True)
class _Key:
    alert: AlertState | None
    # Evidence of the pending updates over `alert` (the newest one's).
    evidence: tuple[datetime, float | None] | None = None
    pending: _Update | None = None


class AlertLedger:
    def __init__(self, alerts: Mapping[str, AlertState], *, now: datetime,
                 late_after: timedelta) -> None:
        self.alerts = alerts
        self.now = now
        # Evidence measured before this is late (vigil.rules.engine marks it so).
        self.cutoff = now - late_after
        self._keys: dict[str, _Key] = {}
        # Rule keys with a live alert now: without one, only a breach can change anything.
        self.live_keys = {key for key, alert in alerts.items() if alert.live}
        self._decided: list[tuple[int, Transition]] = []

    def late(self, at: datetime, late: bool) -> bool:
        return late or at < self.cutoff

    def offer(self, rule_key: str, status: Status, severity: Severity | None, at: datetime,
              value: float | None, *, late: bool, auto_resolve: bool, build: Build,
              order: int) -> None:
        """An evaluation, by its facts; `build()` must return it (with `late` already applied
        as the engine applies it). `order` is its place in the engine's sequence of
        evaluations: a rule key's evaluations must be offered in that order, but different
        keys' may come in any order (each key's alert is decided on its own)."""
        if status is not Status.BREACH and status is not Status.CLEAR:
            return  # pending and unchanged never change an alert
        key = self._keys.get(rule_key)
        if key is None:
            key = self._keys[rule_key] = _Key(self.alerts.get(rule_key))
        alert = key.alert
        if alert is None or not alert.live:
            if status is Status.BREACH and severity is not None:
                self._decide(key, build, order)  # create
            return
        evidence_at = key.evidence[0] if key.evidence is not None else alert.last_evidence_at
        if status is Status.BREACH:
            if severity is None:
                return
            if severity.rank > alert.severity.rank or (alert.late and not late):
                self._decide(key, build, order)  # raise, or confirm live
            elif at >= evidence_at:
                key.pending = _Update(order, build, key.evidence)
                key.evidence = (at, value)
            return
        if at >= evidence_at and auto_resolve:
            self._decide(key, build, order)  # auto-resolve

    def offer_evaluation(self, ev: Evaluation, order: int) -> None:
        self.offer(ev.rule_key, ev.status, ev.severity, ev.at, ev.value, late=ev.late,
                   auto_resolve=ev.auto_resolve, build=lambda: ev, order=order)

    def _current(self, key: _Key, evidence: tuple[datetime, float | None] | None
                 ) -> AlertState | None:
        if evidence is None or key.alert is None:
            return key.alert
        return key.alert.model_copy(update={
            "last_evidence_at": evidence[0], "last_value": evidence[1], "updated_at": self.now})

    def _decide(self, key: _Key, build: Build, order: int) -> None:
        transition = decide(self._current(key, key.evidence), build(), now=self.now)
        if transition.action is Action.NO_OP:  # pragma: no cover - the offer said otherwise
            raise AssertionError(f"ledger expected a change: {transition.reason}")
        # A pending update is superseded by this transition (collapse_updates drops it).
        key.alert, key.evidence, key.pending = transition.state, None, None
        if key.alert is not None and key.alert.live:
            self.live_keys.add(transition.rule_key)
        else:
            self.live_keys.discard(transition.rule_key)
        self._decided.append((order, transition))

    def transitions(self) -> list[Transition]:
        """The kept transitions, in the order decide_all would have made them."""
        decided = list(self._decided)
        for key in self._keys.values():
            update = key.pending
            if update is None:
                continue
            transition = decide(self._current(key, update.before), update.build(), now=self.now)
            if transition.action is not Action.UPDATE:  # pragma: no cover
                raise AssertionError(f"ledger expected an update: {transition.reason}")
            decided.append((update.order, transition))
        decided.sort(key=lambda item: item[0])
        return [transition for _, transition in decided]
