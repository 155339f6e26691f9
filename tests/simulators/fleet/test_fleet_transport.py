"""The fleet's own MQTT links against Mosquitto, with paho-mqtt as the independent client on the
other side: QoS 1 publishes (retained or not) arrive intact and are acknowledged, acks published
to a gateway reach it, the last will fires on drop(), keepalive holds an idle link."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fleet_stack import next_note, quick_broker, stop_quietly
from paho.mqtt.enums import CallbackAPIVersion

from devstack.mosquitto import MosquittoBroker
from devstack.ports import free_port
from devstack.tls import self_signed
from simulators.fleet.network import Network
from simulators.fleet.transport import Endpoint, Link, Note, Will, ack_filter
from vigil.topics import Channel, topic

GATEWAY = "tr-gw-1"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = quick_broker(tmp_path / "mosquitto")
    try:
        yield broker
    finally:
        stop_quietly(broker)


class Listener:
    """A paho v5 client subscribed to everything under vigil/ (retained included)."""

    def __init__(self, port: int) -> None:
        self.messages: queue.SimpleQueue[mqtt.MQTTMessage] = queue.SimpleQueue()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe("vigil/#", qos=1)
        assert subscribed.wait(10)

    def next(self, timeout: float = 10) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connected_link(port: int, notes: queue.SimpleQueue[Note], keepalive_s: int = 30,
                   will: Will | None = None) -> tuple[Link, Network]:
    link = Link(0, endpoint=Endpoint("127.0.0.1", port), client_id=f"vigil-edge-{GATEWAY}",
                username=None, password=None, ack_filters=[ack_filter(GATEWAY)], notes=notes,
                keepalive_s=keepalive_s, will=will, persistent=True)
    network = Network([link])
    link.start()
    assert next_note(network, notes).kind == "connected"
    link.connected = True
    return link, network


def settle(network: Network, link: Link, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while link.in_flight:
        assert time.monotonic() < deadline, f"{link.in_flight} publishes never acknowledged"
        network.poll(0.01)


def test_publishes_arrive_intact_and_are_acknowledged(broker: MosquittoBroker) -> None:
    listener = Listener(broker.port)
    notes: queue.SimpleQueue[Note] = queue.SimpleQueue()
    link, network = connected_link(broker.port, notes)
    try:
        readings = topic(GATEWAY, Channel.READINGS)
        status = topic(GATEWAY, Channel.STATUS)
        # Many publishes between two polls leave in one write; sizes cross the 1- and
        # 2-byte remaining-length boundaries.
        sizes = [0, 1, 120, 127, 128, 16_000, 16_384, 70_000] * 3
        for n, size in enumerate(sizes):
            assert link.publish(readings, bytes([n]) * size)
        assert link.publish(status, b'{"state":"online"}', retain=True)
        settle(network, link)
        got = [listener.next() for _ in range(len(sizes) + 1)]
        assert [(m.topic, m.payload, m.qos) for m in got[:-1]] == [
            (readings, bytes([n]) * size, 1) for n, size in enumerate(sizes)]
        assert (got[-1].topic, got[-1].payload) == (status, b'{"state":"online"}')
        assert link.published == link.completed == len(sizes) + 1
        assert notes.empty(), "no denials, no disconnects"

        # Ingest's acks, QoS 1, reach the gateway's subscription byte for byte. (The broker
        # handled our SUBSCRIBE before the publishes it has acknowledged.)
        acks = [b'{"kind":"ack","n":%d}' % n for n in range(50)]
        for ack in acks:
            listener.client.publish(ack_filter(GATEWAY), ack, qos=1)
        received = [next_note(network, notes) for _ in acks]
        assert [(n.kind, n.topic, n.payload) for n in received] == [
            ("message", ack_filter(GATEWAY), a) for a in acks]
    finally:
        network.close()
        listener.close()


def test_a_full_window_refuses_and_the_caller_keeps_the_data(broker: MosquittoBroker) -> None:
    notes: queue.SimpleQueue[Note] = queue.SimpleQueue()
    link, network = connected_link(broker.port, notes)
    try:
        link.window = 3
        assert all(link.publish(topic(GATEWAY, Channel.READINGS), b"x") for _ in range(3))
        assert not link.can_publish() and not link.publish(topic(GATEWAY, Channel.READINGS),
                                                           b"y")
        settle(network, link)
        assert link.can_publish() and link.published == 3
    finally:
        network.close()


def test_drop_makes_the_broker_publish_the_retained_will(broker: MosquittoBroker) -> None:
    listener = Listener(broker.port)
    notes: queue.SimpleQueue[Note] = queue.SimpleQueue()
    status = topic(GATEWAY, Channel.STATUS)
    link, network = connected_link(broker.port, notes, will=Will(status, b"offline"))
    try:
        link.drop()
        assert next_note(network, notes).kind == "disconnected"
        message = listener.next()
        assert (message.topic, message.payload, message.qos) == (status, b"offline", 1)
        link.resume()
        assert next_note(network, notes).kind == "connected"
    finally:
        network.close()
        listener.close()


def test_keepalive_pings_hold_an_idle_link(broker: MosquittoBroker) -> None:
    notes: queue.SimpleQueue[Note] = queue.SimpleQueue()
    link, network = connected_link(broker.port, notes, keepalive_s=1)
    try:
        # Mosquitto drops a client silent for 1.5 keepalives; pings must keep this one.
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            network.poll(0.05)
        assert notes.empty() and link.sock is not None
        assert link.publish(topic(GATEWAY, Channel.READINGS), b"still here")
        settle(network, link)
    finally:
        network.close()


def test_an_unreachable_broker_backs_off_and_says_nothing() -> None:
    notes: queue.SimpleQueue[Note] = queue.SimpleQueue()
    link = Link(0, endpoint=Endpoint("127.0.0.1", free_port()), client_id="nobody",
                username=None, password=None, ack_filters=[], notes=notes, keepalive_s=30)
    network = Network([link])
    link.start()
    network.poll(0.01)
    assert link.sock is None and link.retry_at is not None and link.retry_delay > 1.0
    assert notes.empty()
    network.close()


def test_mqtts_links_verify_the_broker_and_carry_traffic(tmp_path: Path) -> None:
    """TLS as `mqtts://` configures it: the broker's certificate checked against --ca-file.
    Big payloads cross several TLS records, so reads must drain what the TLS layer holds."""
    key, cert = self_signed(tmp_path)
    broker = quick_broker(tmp_path / "mosquitto",
                          extra_config=f"certfile {cert}\nkeyfile {key}\n")
    notes: queue.SimpleQueue[Note] = queue.SimpleQueue()
    link = Link(0, endpoint=Endpoint("127.0.0.1", broker.port, tls=True, ca_file=str(cert)),
                client_id="tls-link", username=None, password=None,
                ack_filters=[ack_filter(GATEWAY)], notes=notes, keepalive_s=30)
    network = Network([link])
    try:
        link.start()
        assert next_note(network, notes).kind == "connected"
        link.connected = True
        payloads = [bytes([n]) * size for n, size in enumerate([10, 40_000, 100_000, 7])]
        for payload in payloads:  # to its own subscription: out and back through TLS
            assert link.publish(ack_filter(GATEWAY), payload)
        received = [next_note(network, notes) for _ in payloads]
        assert [(n.kind, n.payload) for n in received] == [("message", p) for p in payloads]
        settle(network, link)

        # A broker whose certificate the CA file does not vouch for is not spoken to.
        stranger = Link(1, endpoint=Endpoint("127.0.0.1", broker.port, tls=True),
                        client_id="tls-stranger", username=None, password=None,
                        ack_filters=[], notes=notes, keepalive_s=30)
        Network([stranger])
        stranger.start()
        stranger.try_connect(time.monotonic())
        assert stranger.sock is None and stranger.retry_at is not None
        # An unreadable CA file is an error at start-up, not a broker that never answers.
        with pytest.raises(FileNotFoundError):
            Link(2, endpoint=Endpoint("127.0.0.1", broker.port, tls=True,
                                      ca_file=str(tmp_path / "missing.pem")),
                 client_id="tls-missing", username=None, password=None, ack_filters=[],
                 notes=notes, keepalive_s=30)
    finally:
        network.close()
        stop_quietly(broker)
