"""The uplink and the sender against a real Mosquitto: QoS 1 batches within the contract's size
limit, flow control by acknowledgement, acks that are not for us ignored, late marking on the
wire, and the retained status with its last will."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devstack.mosquitto import MosquittoBroker
from edge.config import GatewaySettings
from edge.outbox import Outbox, OutboxLimits
from edge.recorder import Counters
from edge.sender import Sender
from edge.uplink import Uplink
from vigil.messages import (
    MAX_PAYLOAD_BYTES,
    Ack,
    Origin,
    Reading,
    ReadingBatch,
    encode,
)
from vigil.metrics import Metric
from vigil.topics import Channel, topic

GUARD_S = 20.0


class Listener:
    """A plain subscriber on one gateway's topics (acks only when told to)."""

    def __init__(self, port: int, gateway_id: str) -> None:
        self.gateway_id = gateway_id
        self.batches: list[tuple[int, ReadingBatch]] = []
        self.statuses: list[dict[str, object]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"listener-{gateway_id}")
        self.client.on_message = self._message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(topic(gateway_id, Channel.READINGS), 1),
                               (topic(gateway_id, Channel.STATUS), 1)])
        self.client.loop_start()
        assert subscribed.wait(GUARD_S)

    def _message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            if msg.topic.endswith("/readings"):
                self.batches.append((len(msg.payload), ReadingBatch.model_validate_json(
                    msg.payload)))
            else:
                self.statuses.append(json.loads(msg.payload))

    def reading_ids(self) -> list[str]:
        with self.lock:
            return [r.id for _, b in self.batches for r in b.readings]

    def ack(self, ids: list[str], gateway_id: str | None = None) -> None:
        ack = Ack(gateway_id=gateway_id or self.gateway_id, committed_at=datetime.now(UTC),
                  stored=ids)
        self.client.publish(topic(self.gateway_id, Channel.ACK), encode(ack), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def until(predicate: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(GUARD_S):
        while not predicate():
            await asyncio.sleep(0.02)
    assert predicate(), what


def readings(n: int, at: datetime, pad: int = 0) -> list[Reading]:
    device = "AA:00:00:00:00:01"
    return [Reading.create(device_id=device, metric=Metric.PULSE_RATE, value=60 + i % 50,
                           measured_at=at + timedelta(milliseconds=i),
                           received_at=at + timedelta(milliseconds=i), sequence=i + pad)
            for i in range(n)]


class Gateway:
    def __init__(self, tmp: Path, port: int, gateway_id: str, window: int) -> None:
        settings = GatewaySettings(gateway_id=gateway_id, mqtt_url=f"mqtt://127.0.0.1:{port}")
        self.outbox = Outbox(tmp / "outbox.db", gateway_id, OutboxLimits(resend_initial_s=60))
        self.acks: list[Ack] = []
        self.loop = asyncio.get_running_loop()
        self.connected = asyncio.Event()
        self.uplink = Uplink(
            settings,
            on_ack=lambda ack: self.loop.call_soon_threadsafe(self._acked, ack),
            on_connected=lambda: self.loop.call_soon_threadsafe(self.connected.set))
        self.sender = Sender(self.outbox, self.uplink, late_after_s=600.0, counters=Counters(),
                             window=window)

    def _acked(self, ack: Ack) -> None:
        self.acks.append(ack)
        self.outbox.acknowledge(ack.stored)
        self.sender.acknowledged(ack.stored)


@pytest.fixture
async def gateway(tmp_path: Path, mqtt_broker: MosquittoBroker,
                  request: pytest.FixtureRequest) -> AsyncIterator[tuple[Gateway, Listener]]:
    gateway_id = f"gw-uplink-{abs(hash(request.node.name)) % 10**6}"
    listener = Listener(mqtt_broker.port, gateway_id)
    gw = Gateway(tmp_path, mqtt_broker.port, gateway_id, window=300)
    gw.uplink.start()
    await asyncio.wait_for(gw.connected.wait(), GUARD_S)
    yield gw, listener
    gw.uplink.stop()
    gw.outbox.close()
    listener.close()


async def test_backlog_goes_out_in_contract_sized_batches_within_the_window(
        gateway: tuple[Gateway, Listener]) -> None:
    gw, listener = gateway
    backlog = readings(1000, datetime.now(UTC))
    gw.outbox.add_readings(backlog, continuous=True, now=gw.sender._clock())
    gw.sender.send_due()
    await until(lambda: len(listener.reading_ids()) == 300, "the first window")
    gw.sender.send_due()
    await asyncio.sleep(0.3)
    assert len(listener.reading_ids()) == 300  # window full: nothing more until acks
    listener.ack(listener.reading_ids()[:100])
    await until(lambda: len(gw.acks) == 1, "the ack")
    gw.sender.send_due()
    await until(lambda: len(listener.reading_ids()) == 400, "100 more after 100 acks")
    while len(set(listener.reading_ids())) < 1000:
        listener.ack(listener.reading_ids())
        await asyncio.sleep(0.1)
        gw.sender.send_due()
    assert set(listener.reading_ids()) == {r.id for r in backlog}
    assert all(size <= MAX_PAYLOAD_BYTES for size, _ in listener.batches)


async def test_large_backlog_is_split_under_the_payload_limit(
        gateway: tuple[Gateway, Listener]) -> None:
    gw, listener = gateway
    gw.sender._window = 5000
    backlog = readings(2000, datetime.now(UTC))
    gw.outbox.add_readings(backlog, continuous=True, now=gw.sender._clock())
    gw.sender.send_due()
    await until(lambda: len(listener.reading_ids()) == 2000, "the whole backlog")
    assert len(listener.batches) >= 2  # 2000 readings do not fit one 256 KiB message
    assert all(size <= MAX_PAYLOAD_BYTES for size, _ in listener.batches)


async def test_acks_for_another_gateway_or_malformed_are_ignored(
        gateway: tuple[Gateway, Listener]) -> None:
    gw, listener = gateway
    batch = readings(5, datetime.now(UTC))
    gw.outbox.add_readings(batch, continuous=False, now=gw.sender._clock())
    gw.sender.send_due()
    await until(lambda: len(listener.reading_ids()) == 5, "the readings")
    listener.ack([r.id for r in batch], gateway_id="gw-someone-else")
    listener.client.publish(topic(gw.uplink.gateway_id, Channel.ACK), b"{not json", qos=1)
    listener.ack([batch[0].id])
    await until(lambda: len(gw.acks) == 1, "our own ack")
    assert gw.outbox.stats().depth == 4


async def test_late_readings_go_out_marked_late_with_the_same_id(
        gateway: tuple[Gateway, Listener]) -> None:
    gw, listener = gateway
    old = readings(3, datetime.now(UTC) - timedelta(hours=1), pad=100)
    gw.outbox.add_readings(old, continuous=False, now=gw.sender._clock())
    gw.sender.send_due()
    await until(lambda: len(listener.reading_ids()) == 3, "the readings")
    sent = [r for _, b in listener.batches for r in b.readings]
    assert {r.id for r in sent} == {r.id for r in old}
    assert {r.origin for r in sent} == {Origin.LATE}
    assert all(r.id == r.expected_id() for r in sent)


async def test_clean_stop_leaves_a_retained_offline_status(
        tmp_path: Path, mqtt_broker: MosquittoBroker) -> None:
    gateway_id = "gw-uplink-stop"
    gw = Gateway(tmp_path, mqtt_broker.port, gateway_id, window=10)
    gw.uplink.start()
    await asyncio.wait_for(gw.connected.wait(), GUARD_S)
    gw.uplink.stop("maintenance")
    gw.outbox.close()
    late_subscriber = Listener(mqtt_broker.port, gateway_id)  # retained: seen after the fact
    try:
        await until(lambda: bool(late_subscriber.statuses), "the retained status")
        status = late_subscriber.statuses[-1]
        assert status["state"] == "offline" and status["reason"] == "maintenance"
    finally:
        late_subscriber.close()
