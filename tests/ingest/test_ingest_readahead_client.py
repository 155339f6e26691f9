"""ReadAheadClient's cheaper paths against paho's own: the same messages delivered, the same
messages retired on PUBACK, one wake-up for a corked flush's packets."""

from __future__ import annotations

import socket
import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.readahead import ReadAheadClient

Delivered = tuple[str, bytes, int, int, bool]


def _client(cls: type[mqtt.Client] = ReadAheadClient) -> Any:
    return cls(CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv5, manual_ack=True)


def _publish_packet(topic: bytes, payload: bytes, mid: int, qos: int, retain: bool,
                    properties: Properties | None) -> tuple[int, bytearray]:
    header = 0x30 | (qos << 1) | int(retain)
    body = bytearray(len(topic).to_bytes(2, "big") + topic)
    if qos:
        body += mid.to_bytes(2, "big")
    body += properties.pack() if properties is not None else b"\x00"
    return header, body + payload


def _deliver(client: Any, header: int, body: bytearray) -> list[Delivered] | str:
    got: list[Delivered] = []

    def on_message(c: Any, u: Any, m: mqtt.MQTTMessage) -> None:
        got.append((m.topic, bytes(m.payload), m.mid, m.qos, bool(m.retain)))

    client.on_message = on_message
    client._in_packet = {"command": header, "packet": bytearray(body)}
    try:
        client._handle_publish()
    except Exception as exc:  # both paths must fail alike on what they cannot take
        return type(exc).__name__
    return got


_properties = st.one_of(
    st.none(),
    st.builds(lambda expiry: _props(MessageExpiryInterval=expiry), st.integers(1, 10_000)),
    st.builds(lambda v: _props(UserProperty=[("k", v)]), st.text(max_size=10)),
)


def _props(**values: Any) -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    for name, value in values.items():
        setattr(props, name, value)
    return props


@settings(max_examples=300, deadline=None)
@given(topic=st.one_of(st.text(max_size=40).map(str.encode), st.binary(max_size=10)),
       payload=st.binary(max_size=300), mid=st.integers(1, 65535), qos=st.sampled_from([0, 1]),
       retain=st.booleans(), properties=_properties)
def test_fast_publish_delivers_what_paho_delivers(topic: bytes, payload: bytes, mid: int,
                                                  qos: int, retain: bool,
                                                  properties: Properties | None) -> None:
    header, body = _publish_packet(topic, payload, mid, qos, retain, properties)
    reference = _deliver(_client(mqtt.Client), header, body)
    fast = _client()
    taken: list[Delivered] = []
    fast.on_publish_received = lambda t, p, m, r: taken.append((t, p, m, 1, r))
    result = _deliver(fast, header, body)
    if isinstance(result, list):
        result = result + taken
    assert result == reference
    # The fast path is the one a gateway's plain QoS 1 publish takes.
    if qos == 1 and properties is None and topic:
        try:
            topic.decode()
        except UnicodeDecodeError:
            return
        assert taken


@pytest.mark.parametrize("packet", [b"\x00\x01", b"\x00\x01\x00", b"\x00\x01\x10\x00",
                                    b"\x00\x02"])
def test_puback_retires_the_message_as_paho_does(packet: bytes) -> None:
    outcomes = []
    for client in (_client(mqtt.Client), _client()):
        client._sock = _Socket([1 << 20])
        info = client.publish("vigil/ack", b"x", qos=1)  # written, waiting for its PUBACK
        assert info.mid == 1 and client._inflight_messages == 1
        client._in_packet = {"command": 0x40, "packet": bytearray(packet)}
        client._handle_pubackcomp("PUBACK")
        outcomes.append((info.is_published(), list(client._out_messages),
                         client._inflight_messages))
    assert outcomes[0] == outcomes[1]


class _Socket:
    """Takes at most `limits[i]` bytes on the i-th send; 0 means 'would block'."""

    def __init__(self, limits: list[int]) -> None:
        self.limits = limits
        self.calls = 0
        self.data = bytearray()

    def send(self, data: bytes) -> int:
        limit = self.limits[self.calls % len(self.limits)]
        self.calls += 1
        if limit == 0:
            raise BlockingIOError
        self.data += data[:limit]
        return min(limit, len(data))

    def close(self) -> None:
        pass


def test_corked_packets_wake_the_loop_once() -> None:
    client = _client()
    client._sock = _Socket([1 << 20])
    client._sockpairR, client._sockpairW = socket.socketpair()
    client._sockpairR.setblocking(False)
    client._thread = threading.Thread()  # as under loop_start(): the loop thread writes
    try:
        with client.corked():
            for mid in range(1, 6):
                client.ack(mid, 1)
            client.publish("vigil/ack", b"x", qos=1)
            with pytest.raises(BlockingIOError):
                client._sockpairR.recv(100)
        assert client._sockpairR.recv(100) == b"0"
        assert len(client._out_packet) == 6
        client.ack(6, 1)  # uncorked: paho's own wake-up per packet
        assert client._sockpairR.recv(100) == b"0"
    finally:
        client._sockpairR.close()
        client._sockpairW.close()
