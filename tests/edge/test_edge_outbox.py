"""The outbox: durability across reopen, ack removal, the resend schedule, the eviction order,
age expiry, late marking, and the per-device sequence kept with the readings."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.backoff import jittered_delay, nominal_delay
from edge.eviction import Candidate, Tally, choose_victims, tally
from edge.outbox import ItemClass, Outbox, OutboxLimits, for_sending
from edge.sender import batches
from vigil.messages import (
    MAX_PAYLOAD_BYTES,
    DeviceEvent,
    DeviceEventKind,
    Origin,
    Reading,
    batch_readings,
    encode,
)
from vigil.metrics import Metric
from vigil.topics import Channel

T0 = 1_700_000_000.0
GW = "gw-test"


def reading(n: int, device: str = "AA:00:00:00:00:01", received: float = T0,
            origin: Origin = Origin.LIVE) -> Reading:
    at = datetime.fromtimestamp(received, UTC) + timedelta(seconds=n)
    return Reading.create(device_id=device, metric=Metric.SPO2, value=90 + n % 10,
                          measured_at=at, received_at=at, origin=origin)


def event(n: int) -> DeviceEvent:
    return DeviceEvent.new(gateway_id=GW, device_id="AA:00:00:00:00:01",
                           event=DeviceEventKind.BATTERY, at=datetime.fromtimestamp(T0 + n, UTC),
                           battery_level=n % 100)


def open_outbox(tmp_path: Path, **limits: float) -> Outbox:
    return Outbox(tmp_path / "outbox.db", GW, OutboxLimits(**limits),  # type: ignore[arg-type]
                  rng=random.Random(7))


def evicted_events(outbox: Outbox) -> list[DeviceEvent]:
    items = outbox.due(float("inf"), 100_000)
    events = [DeviceEvent.model_validate_json(p.payload) for p in items
              if p.channel is Channel.EVENTS]
    return [e for e in events if e.event is DeviceEventKind.EVICTED]


def ids_by_class(outbox: Outbox) -> dict[str, set[str]]:
    """Pending reading ids grouped by the value the test encoded (device id marks class)."""
    out: dict[str, set[str]] = {"continuous": set(), "spot": set()}
    for p in outbox.due(float("inf"), 100_000):
        if p.channel is Channel.READINGS:
            r = Reading.model_validate_json(p.payload)
            out["continuous" if r.device_id.endswith("C") else "spot"].add(r.id)
    return out


# --- durability and acknowledgement ------------------------------------------------------------

def test_committed_readings_survive_reopen(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    readings = [reading(n) for n in range(5)]
    assert outbox.add_readings(readings, continuous=False, now=T0) == 5
    outbox.add_event(event(1), now=T0)
    outbox.close()

    reopened = open_outbox(tmp_path)
    due = reopened.due(T0, 100)
    assert {p.id for p in due if p.channel is Channel.READINGS} == {r.id for r in readings}
    assert reopened.stats().depth == 6
    # The stored payload is the reading itself, byte for byte what will be sent.
    first = next(p for p in due if p.id == readings[0].id)
    assert Reading.model_validate_json(first.payload) == readings[0]


def test_the_database_is_wal_with_full_sync(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    assert outbox._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_reading_added_twice_is_kept_once(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    assert outbox.add_readings([reading(1), reading(2)], continuous=False, now=T0) == 2
    assert outbox.add_readings([reading(2), reading(3)], continuous=False, now=T0) == 1
    assert outbox.stats().depth == 3


def test_ack_removes_exactly_the_named_items(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    readings = [reading(n) for n in range(4)]
    outbox.add_readings(readings, continuous=False, now=T0)
    ev = event(1)
    outbox.add_event(ev, now=T0)
    removed = outbox.acknowledge([readings[0].id, readings[2].id, ev.event_id,
                                  "00000000-0000-0000-0000-000000000000"])
    assert removed == 3
    assert {p.id for p in outbox.due(T0, 100)} == {readings[1].id, readings[3].id}
    assert outbox.stats().depth == 2
    assert outbox.acknowledge([readings[0].id]) == 0  # a duplicate ack is harmless


def test_depth_and_bytes_stay_exact_through_adds_acks_and_reopen(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    readings = [reading(n) for n in range(10)]
    outbox.add_readings(readings, continuous=True, now=T0)
    outbox.add_readings(readings[:3], continuous=True, now=T0)
    outbox.acknowledge([r.id for r in readings[5:]])
    live = outbox.stats()
    outbox.close()
    fresh = open_outbox(tmp_path).stats()
    assert (live.depth, live.bytes) == (fresh.depth, fresh.bytes) == (
        5, sum(len(r.model_dump_json(exclude_none=True)) for r in readings[:5]))


def _stored_ids(outbox: Outbox) -> set[str]:
    return {row[0] for row in outbox._db.execute("SELECT id FROM items")}


def test_a_deferred_ack_is_applied_by_the_next_write_never_before(tmp_path: Path) -> None:
    removed: list[int] = []
    outbox = Outbox(tmp_path / "outbox.db", GW, rng=random.Random(7), on_acked=removed.append)
    readings = [reading(n) for n in range(4)]
    outbox.add_readings(readings[:2], continuous=True, now=T0)
    outbox.mark_sent(outbox.due(T0, 10), T0)
    outbox.acknowledge_later([readings[0].id, "00000000-0000-0000-0000-000000000000"])
    assert outbox.due(T0 + 1, 10) == []  # a read: nothing written
    assert readings[0].id in _stored_ids(outbox)
    assert removed == []
    # The next write -- here a reading's durable commit -- applies it in the same transaction.
    outbox.add_readings(readings[2:], continuous=True, now=T0)
    assert _stored_ids(outbox) == {r.id for r in readings[1:]}
    assert removed == [1]
    assert outbox.stats().depth == 3


@pytest.mark.parametrize("write", ["add", "event", "sent", "due_again", "reconnect", "stats",
                                   "flush", "close"])
def test_every_write_path_applies_deferred_acks(tmp_path: Path, write: str) -> None:
    outbox = open_outbox(tmp_path)
    readings = [reading(n) for n in range(3)]
    outbox.add_readings(readings, continuous=False, now=T0)
    outbox.mark_sent(outbox.due(T0, 10), T0)
    outbox.acknowledge_later([readings[0].id])
    if write == "add":
        outbox.add_readings([reading(9)], continuous=False, now=T0)
    elif write == "event":
        outbox.add_event(event(1), now=T0)
    elif write == "sent":
        outbox.mark_sent([], T0)
    elif write == "due_again":  # an acked item that came due is not resent: applied first
        assert {p.id for p in outbox.due(T0 + 10_000, 10)} == {r.id for r in readings[1:]}
    elif write == "reconnect":
        outbox.make_all_due(T0 + 1)
        assert {p.id for p in outbox.due(T0 + 1, 10)} == {r.id for r in readings[1:]}
    elif write == "stats":
        assert outbox.stats().depth == 2
    elif write == "flush":
        assert outbox.flush_acks() == 1
        assert outbox.flush_acks() == 0
    else:
        outbox.close()
        outbox = open_outbox(tmp_path)
    assert readings[0].id not in _stored_ids(outbox)
    assert {r.id for r in readings[1:]} <= _stored_ids(outbox)


def test_a_large_ack_removes_every_named_item(tmp_path: Path) -> None:
    """Deletions go in chunks of ids per statement: more ids than a chunk, and repeats."""
    outbox = open_outbox(tmp_path)
    readings = [reading(n) for n in range(1_234)]
    outbox.add_readings(readings, continuous=True, now=T0)
    ids = [r.id for r in readings[:1_100]]
    assert outbox.acknowledge([*ids, *ids[:10], "00000000-0000-0000-0000-000000000000"]) == 1_100
    assert _stored_ids(outbox) == {r.id for r in readings[1_100:]}
    stats = outbox.stats()
    assert (stats.depth, stats.bytes) == (134, sum(
        len(r.model_dump_json(exclude_none=True)) for r in readings[1_100:]))


def test_a_rolled_back_write_keeps_its_deferred_acks(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    readings = [reading(n) for n in range(2)]
    outbox.add_readings(readings, continuous=False, now=T0)
    outbox.acknowledge_later([readings[0].id])
    with pytest.raises(RuntimeError), outbox._transaction():
        raise RuntimeError("disk trouble")
    assert _stored_ids(outbox) == {r.id for r in readings}  # nothing deleted after all
    assert outbox.flush_acks() == 1
    assert _stored_ids(outbox) == {readings[1].id}
    assert outbox.stats().depth == 1


# --- resend schedule ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(0, 0.0), (1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0), (6, 320.0), (7, 600.0), (50, 600.0),
     (10_000, 600.0)],
)
def test_nominal_resend_delay_doubles_up_to_the_cap(attempt: int, expected: float) -> None:
    assert nominal_delay(attempt, 10.0, 600.0) == expected


@given(attempt=st.integers(1, 200), initial=st.floats(0.01, 100), cap=st.floats(0.01, 10_000),
       seed=st.integers(0, 2**32))
def test_jitter_stays_between_half_and_the_full_nominal_delay(
        attempt: int, initial: float, cap: float, seed: int) -> None:
    nominal = nominal_delay(attempt, initial, cap)
    delay = jittered_delay(attempt, initial, cap, random.Random(seed))
    assert nominal / 2 <= delay <= nominal <= cap


def test_sent_items_are_due_again_on_the_backoff_schedule(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path, resend_initial_s=10.0, resend_max_s=600.0)
    outbox.add_readings([reading(1)], continuous=False, now=T0)
    now = T0
    for attempt in range(1, 9):
        (item,) = outbox.due(now, 10)
        assert item.attempts == attempt - 1
        outbox.mark_sent([item], now)
        nominal = nominal_delay(attempt, 10.0, 600.0)
        assert outbox.due(now + nominal / 2 - 0.001, 10) == []  # never earlier than half
        next_at = outbox.next_due_at()
        assert next_at is not None and now + nominal / 2 <= next_at <= now + nominal
        now = next_at


def test_reconnect_makes_everything_due_at_once(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    outbox.add_readings([reading(n) for n in range(3)], continuous=False, now=T0)
    outbox.mark_sent(outbox.due(T0, 10), T0)
    assert outbox.due(T0 + 1, 10) == []
    outbox.make_all_due(T0 + 1)
    assert len(outbox.due(T0 + 1, 10)) == 3


# --- eviction -----------------------------------------------------------------------------------

def add(outbox: Outbox, n: int, kind: str, now: float) -> Reading:
    device = "AA:00:00:00:00:0C" if kind == "continuous" else "AA:00:00:00:00:05"
    r = reading(n, device=device)
    outbox.add_readings([r], continuous=kind == "continuous", now=now)
    return r


def test_eviction_takes_continuous_then_events_then_spot_oldest_first(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path, max_items=100)
    spot = [add(outbox, n, "spot", T0 + n) for n in range(40)]
    for n in range(30):
        outbox.add_event(event(n), now=T0 + 100 + n)
    cont = [add(outbox, 1000 + n, "continuous", T0 + 200 + n) for n in range(30)]
    assert outbox.stats().depth == 100  # exactly full, nothing evicted yet
    assert evicted_events(outbox) == []

    add(outbox, 2000, "continuous", T0 + 300)  # one over: a round of continuous goes
    remaining = ids_by_class(outbox)
    assert remaining["spot"] == {r.id for r in spot}
    gone = {r.id for r in cont} - remaining["continuous"]
    # oldest first: what went is a prefix of the continuous readings in arrival order
    assert gone == {r.id for r in cont[:len(gone)]} and gone
    (report,) = evicted_events(outbox)
    assert report.device_id == "AA:00:00:00:00:0C" and report.count == len(gone)
    assert outbox.stats().bounded <= 100


def test_spot_readings_go_only_when_nothing_else_is_left(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path, max_items=100)
    for n in range(20):
        outbox.add_event(event(n), now=T0 + n)
    spot = [add(outbox, n, "spot", T0 + 100 + n) for n in range(200)]
    remaining = ids_by_class(outbox)["spot"]
    assert outbox.stats().bounded <= 100
    # All original battery events went before the first spot reading did ...
    pending_events = [DeviceEvent.model_validate_json(p.payload)
                      for p in outbox.due(float("inf"), 1000) if p.channel is Channel.EVENTS]
    assert all(e.event is DeviceEventKind.EVICTED for e in pending_events)
    # ... and the spot readings that went are the oldest ones.
    kept = [r.id in remaining for r in spot]
    assert kept == sorted(kept)  # False... then True...
    reports = evicted_events(outbox)
    assert sum(e.count or 0 for e in reports if e.device_id is None) == 20
    assert sum(e.count or 0 for e in reports if e.device_id is not None) == kept.count(False)


def test_new_continuous_sample_never_displaces_a_spot_measurement(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path, max_items=100)
    spot = [add(outbox, n, "spot", T0 + n) for n in range(100)]
    for n in range(5):
        add(outbox, 1000 + n, "continuous", T0 + 500 + n)
    remaining = ids_by_class(outbox)
    assert remaining["spot"] == {r.id for r in spot}
    assert remaining["continuous"] == set()
    assert sum(e.count or 0 for e in evicted_events(outbox)) == 5


def test_byte_bound_evicts_too(tmp_path: Path) -> None:
    size = len(reading(0).model_dump_json(exclude_none=True))
    outbox = open_outbox(tmp_path, max_items=10_000, max_bytes=size * 50)
    for n in range(80):
        add(outbox, n, "continuous", T0 + n)
    assert outbox.stats().bytes <= size * 50  # reports are outside the bound
    assert evicted_events(outbox)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["continuous", "spot", "event"]), min_size=1, max_size=250))
def test_no_spot_reading_is_evicted_while_a_continuous_one_remains(kinds: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        outbox = open_outbox(Path(tmp), max_items=100)
        spot_ids: set[str] = set()
        for n, kind in enumerate(kinds):
            if kind == "event":
                outbox.add_event(event(n), now=T0 + n)
                continue
            r = add(outbox, n, kind, T0 + n)
            if kind == "spot":
                spot_ids.add(r.id)
            remaining = ids_by_class(outbox)
            if spot_ids - remaining["spot"]:
                assert remaining["continuous"] == set()
            assert outbox.stats().bounded <= 100
        # Every eviction is accounted for by EVICTED reports.
        readings_added = sum(k != "event" for k in kinds)
        remaining = ids_by_class(outbox)
        evicted_readings = readings_added - len(remaining["spot"]) - len(remaining["continuous"])
        reports = evicted_events(outbox)
        assert sum(e.count or 0 for e in reports if e.device_id is not None) == evicted_readings
        events_left = sum(
            1 for p in outbox.due(float("inf"), 10_000) if p.channel is Channel.EVENTS) - len(
            reports)
        assert sum(e.count or 0 for e in reports if e.device_id is None) == \
            kinds.count("event") - events_left
        outbox.close()


def test_items_older_than_max_age_expire_with_a_report(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path, max_age_s=3600.0)
    old = [add(outbox, n, "spot", T0) for n in range(3)]
    new = add(outbox, 10, "spot", T0 + 3000)
    assert outbox.expire(T0 + 3599) == 0
    assert outbox.expire(T0 + 3601) == 3
    remaining = ids_by_class(outbox)["spot"]
    assert remaining == {new.id} and not remaining & {r.id for r in old}
    (report,) = evicted_events(outbox)
    assert report.count == 3 and "unacknowledged" in (report.detail or "")


# --- late marking ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("origin", "age_s", "expected"),
    [(Origin.LIVE, 0.0, Origin.LIVE), (Origin.LIVE, 600.0, Origin.LIVE),
     (Origin.LIVE, 600.5, Origin.LATE), (Origin.LIVE, 3600.0, Origin.LATE),
     (Origin.STORED, 3600.0, Origin.STORED), (Origin.LATE, 0.0, Origin.LATE)],
)
def test_late_marking_changes_origin_but_never_the_id(
        origin: Origin, age_s: float, expected: Origin) -> None:
    r = reading(1, origin=origin)
    sent = for_sending(r, r.received_at.timestamp() + age_s, late_after_s=600.0)
    assert sent.origin is expected
    assert sent.id == r.id == sent.expected_id()
    assert json.loads(sent.model_dump_json())["id"] == r.id


# --- per-device sequence -------------------------------------------------------------------------

def test_last_sequence_is_kept_with_the_readings_and_only_grows(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path)
    device = "AA:00:00:00:00:01"
    assert outbox.last_sequence(device) is None
    outbox.add_readings([reading(1)], continuous=False, now=T0, sequence=(device, 41))
    outbox.add_readings([], continuous=False, now=T0, sequence=(device, 42))
    outbox.add_readings([reading(2)], continuous=False, now=T0, sequence=(device, 7))
    outbox.close()
    assert open_outbox(tmp_path).last_sequence(device) == 42


def C(n: int, rank: ItemClass, size: int = 10) -> Candidate:
    return Candidate(f"i{n}", rank, "AA", size)


CONT, EVT, SPOT = ItemClass.CONTINUOUS, ItemClass.EVENT, ItemClass.SPOT


@pytest.mark.parametrize(
    ("candidates", "over_items", "over_bytes", "spare_items", "spare_bytes", "expected"),
    [
        # just enough, then headroom from the same class
        ([C(1, CONT), C(2, CONT), C(3, CONT), C(4, SPOT)], 1, 0, 1, 0, ["i1", "i2"]),
        # headroom never reaches into the next class
        ([C(1, CONT), C(2, SPOT), C(3, SPOT)], 1, 0, 5, 0, ["i1"]),
        # needed victims do cross classes, in order
        ([C(1, CONT), C(2, EVT), C(3, SPOT), C(4, SPOT)], 3, 0, 0, 0, ["i1", "i2", "i3"]),
        # the byte bound alone
        ([C(1, CONT, 100), C(2, CONT, 100), C(3, SPOT, 100)], 0, 150, 0, 0, ["i1", "i2"]),
        # nothing over: nothing goes
        ([C(1, CONT)], 0, 0, 0, 0, []),
        # not enough candidates: everything goes
        ([C(1, SPOT)], 5, 0, 0, 0, ["i1"]),
    ],
)
def test_choose_victims(candidates: list[Candidate], over_items: int, over_bytes: int,
                        spare_items: int, spare_bytes: int, expected: list[str]) -> None:
    chosen = choose_victims(candidates, over_items, over_bytes, spare_items, spare_bytes)
    assert [v.id for v in chosen] == expected


def test_tally_counts_readings_per_device_and_events_per_gateway() -> None:
    victims = [Candidate("a", CONT, "D1", 1), Candidate("b", SPOT, "D1", 1),
               Candidate("c", CONT, "D2", 1), Candidate("d", EVT, "D1", 1)]
    assert tally(victims) == {"D1": Tally(continuous=1, spot=1), "D2": Tally(continuous=1),
                              None: Tally(events=1)}


def test_eviction_classes_are_ordered() -> None:
    assert ItemClass.CONTINUOUS < ItemClass.EVENT < ItemClass.SPOT < ItemClass.REPORT


# --- commit levels and the sender's copies of fresh readings ----------------------------------

def _sync_level_at_each_commit(outbox: Outbox, work: list[str]) -> list[tuple[str, str]]:
    """(step, synchronous level in force) for every COMMIT the steps issue."""
    level = ["FULL"]
    commits: list[tuple[str, str]] = []
    step = [""]

    def trace(statement: str) -> None:
        if statement.startswith("PRAGMA synchronous="):
            level[0] = statement.split("=", 1)[1]
        elif statement == "COMMIT":
            commits.append((step[0], level[0]))

    outbox._db.set_trace_callback(trace)
    for n, name in enumerate(work):
        step[0] = name
        if name == "add":
            outbox.add_readings([reading(n)], continuous=True, now=T0)
        elif name == "event":
            outbox.add_event(event(n), now=T0)
        elif name == "sent":
            outbox.mark_sent(outbox.due(T0 + n), T0 + n)
        elif name == "ack":
            outbox.acknowledge([reading(n - 1).id])
    outbox._db.set_trace_callback(None)
    return commits


@pytest.mark.parametrize("work", [
    ["add", "sent", "ack", "add", "event", "sent", "sent", "ack", "ack", "add"],
    ["sent", "ack", "event", "add", "ack", "add"],
])
def test_what_is_added_always_commits_with_full_sync(tmp_path: Path, work: list[str]) -> None:
    outbox = open_outbox(tmp_path)
    commits = _sync_level_at_each_commit(outbox, work)
    assert [s for s, level in commits if level != "FULL"] == \
        [s for s, _ in commits if s in ("sent", "ack")]
    assert {s for s, _ in commits} >= {"add", "event"}


@pytest.mark.parametrize("r", [
    reading(1),
    reading(2, origin=Origin.STORED),
    Reading.create(device_id="AA:00:00:00:00:02", metric=Metric.SPO2, value=97.5,
                   measured_at=datetime.fromtimestamp(T0, UTC),
                   received_at=datetime.fromtimestamp(T0 + 0.123456, UTC),
                   origin=Origin.LIVE, sequence=12),
])
def test_a_committed_reading_reads_back_equal_to_itself(tmp_path: Path, r: Reading) -> None:
    """The sender sends fresh readings from the objects the recorder committed instead of
    parsing the outbox's copy: the two must be the same reading."""
    outbox = open_outbox(tmp_path)
    outbox.add_readings([r], continuous=False, now=T0)
    [stored] = outbox.due(T0)
    assert Reading.model_validate_json(stored.payload) == r


def test_the_recorder_hands_over_only_readings_stored_as_given(tmp_path: Path) -> None:
    from edge.recorder import Recorder

    handed: list[list[str]] = []
    recorder = Recorder(open_outbox(tmp_path), GW, lambda: None,
                        on_committed=lambda rs: handed.append([r.id for r in rs]))
    recorder.readings([reading(1), reading(2)], continuous=False)
    recorder.readings([reading(2), reading(3)], continuous=False)  # 2 was there: not handed
    recorder.readings([reading(1)], continuous=False)  # nothing new
    assert handed == [[reading(1).id, reading(2).id]]


# --- the sender's batching short cut ------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(ns=st.lists(st.integers(0, 10_000), max_size=40, unique=True),
       late=st.lists(st.booleans(), min_size=40, max_size=40),
       metric=st.sampled_from([Metric.SPO2, Metric.PULSE_RATE, Metric.BODY_TEMPERATURE]))
def test_the_senders_batches_are_the_contracts_batches(ns: list[int], late: list[bool],
                                                       metric: Metric) -> None:
    """Fast path (one batch from the stored sizes) and contract path encode identically."""
    stored = [Reading.create(device_id="AA:00:00:00:00:01", metric=metric, value=36 + n % 7,
                             measured_at=datetime.fromtimestamp(T0 + n, UTC),
                             received_at=datetime.fromtimestamp(T0 + n, UTC), sequence=n)
              for n in ns]
    sizes = [len(r.model_dump_json(exclude_none=True)) for r in stored]
    wire = [for_sending(r, T0 + 10_000 if lt else T0, 600.0)
            for r, lt in zip(stored, late[:len(stored)], strict=True)]
    sent_at = datetime.fromtimestamp(T0 + 1, UTC)
    assert [encode(b) for b in batches(GW, wire, sizes, sent_at)] == \
        [encode(b) for b in batch_readings(GW, wire, sent_at)]


def test_a_round_too_big_for_the_short_cut_is_split_by_the_contract() -> None:
    wire = [reading(n) for n in range(3)]
    sent_at = datetime.fromtimestamp(T0, UTC)
    huge = [MAX_PAYLOAD_BYTES] * 3  # as if each were enormous: the contract path decides
    assert [encode(b) for b in batches(GW, wire, huge, sent_at)] == \
        [encode(b) for b in batch_readings(GW, wire, sent_at)]
    assert batches(GW, [], [], sent_at) == []
