"""The gateway outbox: acks, duplicates, unknown ids, resend schedule (pure, time passed in)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.fleet.outbox import GatewayOutbox
from simulators.fleet.readings import WireReading, make_reading
from vigil.metrics import Metric

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def readings(n: int) -> list[WireReading]:
    return [make_reading(device_id="DEV-1", metric=Metric.SPO2, value=97.0,
                         measured_at=T0 + timedelta(seconds=i),
                         received_at=T0 + timedelta(seconds=i)) for i in range(n)]


def outbox(timeout: float = 10.0, maximum: float = 60.0) -> GatewayOutbox:
    return GatewayOutbox(timeout, maximum, random.Random(1))


def sent(box: GatewayOutbox, items: list[WireReading], now: float) -> None:
    for item in items:
        box.add(item, now)
    box.mark_sent(box.take_unsent(), now)


def test_first_ack_confirms_and_measures_latency() -> None:
    box, items = outbox(), readings(3)
    sent(box, items, now=100.0)
    outcome = box.ack([items[0].id, items[1].id], {}, now=100.25)
    assert (outcome.acked, outcome.duplicates, outcome.unknown) == (2, 0, 0)
    assert outcome.latencies == pytest.approx((0.25, 0.25))
    assert outcome.sent == (100.0, 100.0)
    assert set(box.inflight) == {items[2].id}
    assert box.depth == 1


def test_second_ack_is_a_duplicate_and_a_stranger_is_unknown() -> None:
    box, items = outbox(), readings(1)
    sent(box, items, now=0.0)
    box.ack([items[0].id], {}, now=1.0)
    outcome = box.ack([items[0].id, "00000000-0000-5000-8000-000000000000"], {}, now=2.0)
    assert (outcome.acked, outcome.duplicates, outcome.unknown) == (0, 1, 1)


def test_rejected_readings_leave_the_outbox_with_their_reason() -> None:
    box, items = outbox(), readings(2)
    sent(box, items, now=0.0)
    outcome = box.ack([items[0].id], {items[1].id: "implausible_value"}, now=1.0)
    assert outcome.acked == 2
    assert box.rejected == {items[1].id: "implausible_value"}
    assert box.depth == 0


@pytest.mark.parametrize(
    ("count", "age", "flush"),
    [(0, 9.0, False), (1, 0.01, False), (1, 0.05, True), (50, 0.0, True), (49, 0.0, False)],
)
def test_flush_by_size_or_time(count: int, age: float, flush: bool) -> None:
    box = outbox()
    for item in readings(count):
        box.add(item, 10.0)
    assert box.should_flush(10.0 + age, batch_size=50, flush_interval_s=0.05) is flush


@given(st.integers(min_value=0, max_value=2**32))
def test_first_resend_comes_after_half_to_all_of_the_ack_timeout(seed: int) -> None:
    # The edge agent's schedule: the first resend is jittered too (edge.outbox mark_sent).
    box, items = GatewayOutbox(10.0, 600.0, random.Random(seed)), readings(2)
    sent(box, items, now=0.0)
    assert box.due_for_resend(4.99) == []
    assert [r.id for r in box.due_for_resend(10.0)] == [r.id for r in items]
    # Just resent: not due again until the backed-off timer runs out.
    assert box.due_for_resend(10.1) == []


def test_first_resends_of_many_gateways_are_spread_out() -> None:
    dues = set()
    rng = random.Random(7)
    for _ in range(50):
        box = GatewayOutbox(10.0, 600.0, rng)
        sent(box, readings(1), now=0.0)
        dues.add(box.earliest_due)
    assert len(dues) == 50 and min(dues) >= 5.0 and max(dues) <= 10.0


@given(st.integers(min_value=1, max_value=12), st.integers(min_value=0, max_value=2**32))
def test_resend_waits_back_off_with_equal_jitter(attempts: int, seed: int) -> None:
    box = GatewayOutbox(10.0, 60.0, random.Random(seed))
    items = readings(1)
    sent(box, items, now=0.0)
    now = box.earliest_due
    for attempt in range(2, attempts + 2):
        assert box.due_for_resend(now)
        wait = box.inflight[items[0].id].next_due - now
        nominal = min(60.0, 10.0 * 2 ** (attempt - 1))
        assert nominal / 2 <= wait <= nominal
        now += wait


def test_reconnect_makes_everything_due_now() -> None:
    box, items = outbox(), readings(3)
    sent(box, items, now=0.0)
    box.resend_all_soon(1.0)
    assert len(box.due_for_resend(1.0)) == 3


@given(st.lists(st.tuples(st.sampled_from(["send", "ack", "tick", "reconnect"]),
                          st.integers(min_value=0, max_value=7)), max_size=60),
       st.integers(min_value=0, max_value=2**32))
def test_resend_timers_find_exactly_what_is_due(steps: list[tuple[str, int]], seed: int) -> None:
    """The timer heap against a scan of everything in flight: the same readings come due."""
    box = GatewayOutbox(10.0, 600.0, random.Random(seed))
    items = readings(8)
    now = 0.0
    for action, k in steps:
        now += 1.5
        if action == "send":  # one to three readings a publish: they share a first timer
            for item in items[k:k + 1 + k % 3]:
                box.add(item, now)
            box.mark_sent(box.take_unsent(), now)
        elif action == "ack":
            box.ack([items[k].id], {}, now)
        elif action == "reconnect":
            box.resend_all_soon(now)
        else:
            now += 4.0 * k
        expected = {i for i, p in box.inflight.items() if p.next_due <= now}
        assert {r.id for r in box.due_for_resend(now)} == expected
        assert all(p.next_due > now for p in box.inflight.values())
