"""Several writers (ingest.consumer, `writers`): a gateway's messages stay with one writer,
writers commit independently, PUBACKs still leave in arrival order, and a deadlock between a
writer and another transaction costs a retry, never a reading."""

from __future__ import annotations

import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ingest_helpers import (
    Fleet,
    GatewayClient,
    make_reading,
    running_consumer,
    seed_fleet,
    stored_ids,
    wait_for,
)

from devstack.mosquitto import MosquittoBroker
from ingest.consumer import Consumer
from ingest.inorder import InOrder

# --- the order PUBACKs are released in (pure) -------------------------------------------------


@given(st.data())
def test_in_order_releases_everything_once_in_sequence_whatever_the_completion_order(
        data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 60))
    order = data.draw(st.permutations(range(n)))
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=10)))
    chunks = [order[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    released: list[int] = []
    done: set[int] = set()
    sequence: InOrder[int] = InOrder()
    for chunk in chunks:
        out = sequence.complete((seq, seq) for seq in chunk)
        done.update(chunk)
        released += out
        # Released so far = the longest prefix 0..k-1 of what is done, nothing beyond it.
        prefix = 0
        while prefix in done:
            prefix += 1
        assert released == list(range(prefix))
        assert sequence.released == prefix and sequence.waiting == len(done) - prefix
    assert released == list(range(n))


def test_in_order_refuses_a_sequence_completed_twice() -> None:
    sequence: InOrder[str] = InOrder()
    assert sequence.complete([(1, "b")]) == []
    with pytest.raises(ValueError, match="sequence 1 completed twice"):
        sequence.complete([(1, "b")])
    assert sequence.complete([(0, "a")]) == ["a", "b"]
    with pytest.raises(ValueError, match="sequence 0 completed twice"):
        sequence.complete([(0, "a")])


# --- real broker, real database ---------------------------------------------------------------


def lane_of(gateway: str, lanes: int = 2) -> int:
    return zlib.crc32(gateway.encode()) % lanes


@pytest.fixture
def fleet_two_lanes(db_url: str) -> Fleet:
    """Gateways covering both writers (which writer a gateway gets is a hash of its id)."""
    fleet = seed_fleet(db_url, gateways=8)
    assert {lane_of(g) for g in fleet.gateways} == {0, 1}
    return fleet


@pytest.fixture
def client(mqtt_broker: MosquittoBroker, fleet_two_lanes: Fleet) -> Iterator[GatewayClient]:
    c = GatewayClient(mqtt_broker.url, fleet_two_lanes.gateways)
    yield c
    c.close()


def writer_waiting_on_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
            "'vigil-ingest-writer-%%' AND wait_event_type = 'Lock' "
            "AND datname = current_database()").fetchone()
        return bool(row and row[0])


def test_a_blocked_writer_holds_back_later_pubacks_but_not_other_gateways_commits(
        fleet_two_lanes: Fleet, mqtt_broker: MosquittoBroker, client: GatewayClient) -> None:
    """Gateway A's writer waits on a row lock; gateway B's writer commits and B's gateway gets
    its end-to-end Ack meanwhile, but B's PUBACK (received after A's message) waits until A's
    commit releases it: MQTT's in-order PUBACK rule."""
    fleet = fleet_two_lanes
    a = next(g for g in fleet.gateways if lane_of(g) == 0)
    b = next(g for g in fleet.gateways if lane_of(g) == 1)
    first = [make_reading(fleet.devices_of(a)[0], value=90 + i) for i in range(5)]
    second = [make_reading(fleet.devices_of(b)[0], value=90 + i) for i in range(5)]
    with running_consumer(fleet.url, mqtt_broker.url) as consumer, \
            psycopg.connect(fleet.url) as blocker:
        assert consumer.settings.writers == 2
        blocker.execute("SELECT 1 FROM gateways WHERE id = %s FOR UPDATE", (a,))
        client.send(a, first)
        wait_for(lambda: writer_waiting_on_lock(fleet.url), message=lambda: "A's writer waits")
        client.send(b, second)
        client.wait_acked({r.id for r in second})  # B committed and acknowledged end to end
        assert set(stored_ids(fleet.url)) == {r.id for r in second}
        wait_for(lambda: consumer._order.waiting == 1)
        assert consumer._pending == 2  # B's PUBACK is held behind A's message
        blocker.rollback()
        client.wait_acked({r.id for r in first})
        wait_for(lambda: consumer._pending == 0, message=lambda: f"{consumer._pending} pending")
        assert consumer._order.waiting == 0
    assert Counter(stored_ids(fleet.url)) == Counter(r.id for r in first + second)


def test_a_deadlock_with_another_transaction_is_retried_and_loses_nothing(
        fleet_two_lanes: Fleet, mqtt_broker: MosquittoBroker, client: GatewayClient) -> None:
    """A transaction locks the device row a flush will touch last, then the gateway row the
    flush touched first: PostgreSQL aborts the writer's transaction (its deadlock check fires
    first), and the writer runs the batch again once the other is gone."""
    fleet = fleet_two_lanes
    gw = fleet.gateways[0]
    device = fleet.devices_of(gw)[0]
    readings = [make_reading(device, value=90 + i) for i in range(10)]
    with running_consumer(fleet.url, mqtt_broker.url) as consumer, \
            psycopg.connect(fleet.url) as other:
        other.execute("SET deadlock_timeout = '30s'")  # the writer's check fires first
        # NO KEY: the readings' foreign key share-locks the device row, this must not block it.
        other.execute("SELECT 1 FROM devices WHERE address = %s FOR NO KEY UPDATE", (device,))
        client.send(gw, readings)
        wait_for(lambda: writer_waiting_on_lock(fleet.url), message=lambda: "writer waits")
        errors: list[BaseException] = []

        def lock_gateway() -> None:
            try:
                other.execute("UPDATE gateways SET last_seen = last_seen WHERE id = %s", (gw,))
                time.sleep(0.3)  # the writer retries into our lock meanwhile
                other.rollback()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        closing = threading.Thread(target=lock_gateway)
        closing.start()
        client.wait_acked({r.id for r in readings})
        closing.join(10)
        assert not errors
        assert consumer.metrics.write_errors._value.get() >= 1
        assert consumer.database_ok
    assert Counter(stored_ids(fleet.url)) == Counter(r.id for r in readings)


def test_one_writer_is_still_a_choice(fleet_two_lanes: Fleet, mqtt_broker: MosquittoBroker,
                                      client: GatewayClient) -> None:
    fleet = fleet_two_lanes
    readings = {g: [make_reading(fleet.devices_of(g)[i % 2], value=90 + i % 10) for i in range(20)]
                for g in fleet.gateways}
    with running_consumer(fleet.url, mqtt_broker.url, writers=1) as consumer:
        assert isinstance(consumer, Consumer) and len(consumer._writers) == 1
        for g, rs in readings.items():
            client.send(g, rs)
        client.wait_acked({r.id for rs in readings.values() for r in rs})
        wait_for(lambda: consumer._pending == 0)
    assert Counter(stored_ids(fleet.url)) == Counter(
        r.id for rs in readings.values() for r in rs)
