"""The fleet's MQTT v5 packets (pure), checked against paho-mqtt's own encoder and decoder and
against the specification's byte layouts; tests/simulators/fleet/test_fleet_transport.py runs
them against Mosquitto."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt import _packet as paho_packet
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from simulators.fleet import packets
from simulators.fleet.packets import MalformedPacket, PacketReader

V5 = MQTTProtocolVersion.MQTTv5


def split(packet: bytes) -> tuple[int, bytes]:
    """(first byte, body) of one whole packet."""
    [(first, body)] = PacketReader().feed(packet)
    return first, body


@pytest.mark.parametrize(("n", "encoded"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"), (268_435_455, b"\xff\xff\xff\x7f"),
])
def test_variable_byte_integers_as_the_spec_tabulates(n: int, encoded: bytes) -> None:
    assert packets.varint(n) == encoded  # MQTT 5.0 section 1.5.5


@given(topic=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/-_", min_size=1,
                     max_size=80),
       payload=st.binary(max_size=40_000), mid=st.integers(min_value=1, max_value=65535),
       retain=st.booleans(), dup=st.booleans())
def test_publish_decodes_in_paho_as_it_was_meant(topic: str, payload: bytes, mid: int,
                                                 retain: bool, dup: bool) -> None:
    first, body = split(packets.publish(topic.encode(), payload, mid, retain=retain, dup=dup))
    decoded = paho_packet.decode_publish(first, body, V5)
    assert (decoded.topic, decoded.payload, decoded.mid) == (topic.encode(), payload, mid)
    assert (decoded.qos, decoded.retain, decoded.dup) == (1, retain, dup)
    assert packets.decode_publish(first, body) == (topic, 1, mid, payload)


def test_received_publish_with_properties_skips_them() -> None:
    """What a broker forwards may carry properties (e.g. user properties from the sender)."""
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.UserProperty = ("k", "v")
    properties.MessageExpiryInterval = 30
    properties.CorrelationData = b"\x00\x01"
    props = properties.pack()  # type: ignore[no-untyped-call]
    body = b"\x00\x03a/b" + b"\x12\x34" + props + b'{"ok":1}'
    assert packets.decode_publish(0x32, body) == ("a/b", 1, 0x1234, b'{"ok":1}')
    assert packets.decode_publish(0x30, b"\x00\x03a/b\x00hi") == ("a/b", 0, 0, b"hi")


@pytest.mark.parametrize(("body", "expected"), [
    (b"\x00\x07", (7, 0x00)),  # success, reason left out (3.4.2.1)
    (b"\x01\x00\x10", (256, 0x10)),  # no matching subscribers: still a success
    (b"\x00\x09\x87\x00", (9, 0x87)),  # not authorized, empty properties
])
def test_puback_reason_codes_as_paho_reads_them(body: bytes, expected: tuple[int, int]) -> None:
    assert packets.decode_puback(body) == expected
    theirs = paho_packet.decode_puback(0x40, body, V5)
    assert (theirs.mid, theirs.reason.value) == expected


def test_connack_properties_of_every_encoding_are_skipped_to_find_receive_maximum() -> None:
    properties = Properties(PacketTypes.CONNACK)  # type: ignore[no-untyped-call]
    properties.AssignedClientIdentifier = "auto-1"  # string
    properties.TopicAliasMaximum = 10  # two bytes
    properties.MaximumPacketSize = 1 << 20  # four bytes
    properties.RetainAvailable = 1  # one byte
    properties.UserProperty = ("broker", "mosquitto")  # string pair
    properties.ReceiveMaximum = 20
    properties.ServerKeepAlive = 45
    ack = packets.decode_connack(b"\x01\x00" + properties.pack())  # type: ignore[no-untyped-call]
    assert ack == packets.ConnAck(session_present=True, reason=0, receive_maximum=20,
                                  server_keepalive=45)
    assert packets.decode_connack(b"\x00\x86") == packets.ConnAck(False, 0x86, None, None)
    assert packets.reason_text(0x86) == "Bad user name or password"


def test_connect_is_byte_for_byte_what_paho_sends() -> None:
    ours = packets.connect(
        "vigil-edge-gw1", keepalive=30, clean_start=False, session_expiry=3600,
        username="gw1", password="pw", will_topic="vigil/v1/gw/07/gw1/status",
        will_payload=b'{"state":"offline"}')
    # paho, configured as transport.Link configured it before (its queued CONNECT is private
    # state, read here only to compare).
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="vigil-edge-gw1",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set("gw1", "pw")
    client.will_set("vigil/v1/gw/07/gw1/status", b'{"state":"offline"}', qos=1, retain=True)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    client.connect_async("127.0.0.1", 1, keepalive=30, clean_start=False,
                         properties=properties)
    client._send_connect(30)
    assert ours == bytes(client._out_packet[0]["packet"])
    first, body = split(ours)
    assert first == packets.CONNECT
    # Protocol name and level 5; flags: username, password, will retain, will QoS 1, will.
    assert body[:7] == b"\x00\x04MQTT\x05" and body[7] == 0x80 | 0x40 | 0x20 | 0x08 | 0x04
    anonymous = split(packets.connect("c", keepalive=0, clean_start=True))[1]
    assert anonymous == b"\x00\x04MQTT\x05\x02\x00\x00\x00\x00\x01c"


def test_subscribe_puback_and_disconnect_bytes() -> None:
    assert packets.subscribe(5, ["a/+", "b"]) == (
        b"\x82\x0d\x00\x05\x00" + b"\x00\x03a/+\x01" + b"\x00\x01b\x01")
    assert packets.puback(258) == b"\x40\x02\x01\x02"
    assert packets.disconnect() == b"\xe0\x00"
    assert packets.disconnect(4) == b"\xe0\x01\x04"


@given(st.lists(st.binary(max_size=300), max_size=8), st.data())
def test_reader_gives_the_same_packets_however_the_stream_is_cut(
    payloads: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(packets.publish(b"t", p, i + 1) for i, p in enumerate(payloads))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    reader = PacketReader()
    got = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += reader.feed(stream[start:end])
    assert [packets.decode_publish(f, b)[3] for f, b in got] == payloads


@pytest.mark.parametrize(("call", "message"), [
    (lambda: PacketReader().feed(b"\x30\xff\xff\xff\xff\x01"), "four bytes"),
    (lambda: packets.decode_publish(0x32, b"\x00\x09ab"), "bad PUBLISH"),
    (lambda: packets.decode_publish(0x36, b"\x00\x01a\x00\x01\x00"), "bad PUBLISH"),
    (lambda: packets.decode_puback(b"\x01"), "short PUBACK"),
    (lambda: packets.decode_connack(b"\x00"), "short CONNACK"),
    (lambda: packets.decode_connack(b"\x00\x00\x02\x7f\x00"), "unknown property"),
    (lambda: packets.decode_connack(b"\x00\x00\x03\x21\x00"), "CONNACK|past"),
])
def test_malformed_packets_are_refused_with_a_reason(call: object, message: str) -> None:
    with pytest.raises(MalformedPacket, match=message):
        call()  # type: ignore[operator]
