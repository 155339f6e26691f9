"""The handful of MQTT v5 packets the fleet's connections exchange, encoded and decoded. Pure.

Why not paho: profiled under the virtual-ward load (1 Hz gateways, ~5 readings a message),
paho-mqtt was 38 % of the generator's CPU -- per publish an MQTTMessage with a
threading.Condition, per PUBACK two Properties objects and a ReasonCode, per received ack a
topic-matcher walk and three recv() calls. The fleet needs only QoS 1 publishing, one
subscription, keepalive and a last will, so it speaks those packets itself (MQTT 5.0, OASIS
standard, sections cited below); tests/simulators/fleet check the encodings against paho's
and against Mosquitto.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
SUBSCRIBE = 0x82  # 3.8.1: the low bits are 0010
SUBACK = 0x90
PINGREQ_PACKET = b"\xc0\x00"
PINGRESP = 0xD0
DISCONNECT = 0xE0

# A received packet larger than this is a protocol error (acks are small; the contract's
# payload limit is far below it).
MAX_INCOMING = 16 * 2**20

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

# 2.4: reason codes of 0x80 and above are failures; names for the ones a broker gives a client.
REASONS = {
    0x00: "Success", 0x04: "Disconnect with will message", 0x10: "No matching subscribers",
    0x80: "Unspecified error", 0x81: "Malformed packet", 0x82: "Protocol error",
    0x83: "Implementation specific error", 0x84: "Unsupported protocol version",
    0x85: "Client identifier not valid", 0x86: "Bad user name or password",
    0x87: "Not authorized", 0x88: "Server unavailable", 0x89: "Server busy", 0x8A: "Banned",
    0x8B: "Server shutting down", 0x8D: "Keep alive timeout", 0x8E: "Session taken over",
    0x90: "Topic name invalid", 0x93: "Receive maximum exceeded", 0x95: "Packet too large",
    0x97: "Quota exceeded", 0x99: "Payload format invalid", 0x9C: "Use another server",
    0x9F: "Connection rate exceeded",
}


def reason_text(code: int) -> str:
    return REASONS.get(code, f"reason 0x{code:02x}")


class MalformedPacket(ValueError):
    """The broker sent something that is not a valid MQTT v5 packet."""


def varint(n: int) -> bytes:
    """1.5.5 Variable Byte Integer."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(data: bytes) -> bytes:
    return _U16.pack(len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + varint(len(body)) + body


def connect(client_id: str, *, keepalive: int, clean_start: bool, session_expiry: int = 0,
            username: str | None = None, password: str | None = None,
            will_topic: str | None = None, will_payload: bytes = b"") -> bytes:
    """3.1: CONNECT. The will, when given, is QoS 1 and retained (what the edge uplink sets)."""
    flags = 0x02 if clean_start else 0
    payload = _string(client_id.encode())
    if will_topic is not None:
        flags |= 0x04 | (1 << 3) | 0x20
        payload += b"\x00" + _string(will_topic.encode()) + _string(will_payload)
    if username is not None:
        flags |= 0x80
        payload += _string(username.encode())
    if password is not None:
        flags |= 0x40
        payload += _string(password.encode())
    properties = b"\x11" + _U32.pack(session_expiry) if session_expiry else b""
    header = b"\x00\x04MQTT\x05" + bytes((flags,)) + _U16.pack(keepalive)
    return _packet(CONNECT, header + varint(len(properties)) + properties + payload)


def publish(topic: bytes, payload: bytes, mid: int, *, retain: bool = False,
            dup: bool = False) -> bytes:
    """3.3: PUBLISH at QoS 1, no properties."""
    first = PUBLISH | 0x02 | (0x08 if dup else 0) | (0x01 if retain else 0)
    body_len = 2 + len(topic) + 2 + 1 + len(payload)
    return b"".join((bytes((first,)), varint(body_len), _U16.pack(len(topic)), topic,
                     _U16.pack(mid), b"\x00", payload))


def puback(mid: int) -> bytes:
    """3.4.2.1: success with no properties may leave out the reason code."""
    return b"\x40\x02" + _U16.pack(mid)


def subscribe(mid: int, filters: list[str], qos: int = 1) -> bytes:
    """3.8: one SUBSCRIBE for all filters; options = maximum QoS only."""
    body = _U16.pack(mid) + b"\x00" + b"".join(
        _string(f.encode()) + bytes((qos,)) for f in filters)
    return _packet(SUBSCRIBE, body)


def disconnect(reason: int = 0) -> bytes:
    """3.14: 0x04 asks the broker to publish the will even though we leave cleanly."""
    return b"\xe0\x00" if reason == 0 else b"\xe0\x01" + bytes((reason,))


class PacketReader:
    """Splits the received byte stream into (first byte, body) packets."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf
        buf += data
        packets: list[tuple[int, bytes]] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            # Remaining length (1.5.5): at most four bytes.
            length = shift = 0
            i = pos + 1
            complete = False
            while i < end:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    complete = True
                    break
                shift += 7
                if shift > 21:
                    raise MalformedPacket("remaining length longer than four bytes")
            if not complete:
                break
            if length > MAX_INCOMING:
                raise MalformedPacket(f"a {length}-byte packet")
            if end - i < length:
                break
            packets.append((buf[pos], bytes(buf[i:i + length])))
            pos = i + length
        if pos:
            del buf[:pos]
        return packets


# 2.2.2.2 property identifiers by how their value is encoded, to skip the ones we ignore.
_BYTE = frozenset({0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A})
_TWO = frozenset({0x13, 0x21, 0x22, 0x23})
_FOUR = frozenset({0x02, 0x11, 0x18, 0x27})
_STRING = frozenset({0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F})  # and binary
_PAIR = 0x26
_VARINT_PROPERTY = 0x0B


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 21:
            raise MalformedPacket("bad variable byte integer")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def properties(data: bytes, pos: int) -> tuple[dict[int, int], int]:
    """Parse a property list at `pos`: the integer-valued ones by id, and where it ends."""
    length, pos = _read_varint(data, pos)
    end = pos + length
    if end > len(data):
        raise MalformedPacket("properties run past the packet")
    found: dict[int, int] = {}
    while pos < end:
        ident = data[pos]
        pos += 1
        if ident in _BYTE:
            found[ident], pos = data[pos], pos + 1
        elif ident in _TWO:
            found[ident], pos = _U16.unpack_from(data, pos)[0], pos + 2
        elif ident in _FOUR:
            found[ident], pos = _U32.unpack_from(data, pos)[0], pos + 4
        elif ident == _VARINT_PROPERTY:
            found[ident], pos = _read_varint(data, pos)
        elif ident in _STRING:
            pos += 2 + _U16.unpack_from(data, pos)[0]
        elif ident == _PAIR:
            pos += 2 + _U16.unpack_from(data, pos)[0]
            pos += 2 + _U16.unpack_from(data, pos)[0]
        else:
            raise MalformedPacket(f"unknown property 0x{ident:02x}")
    if pos != end:
        raise MalformedPacket("properties run past their length")
    return found, end


RECEIVE_MAXIMUM = 0x21
SERVER_KEEP_ALIVE = 0x13


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    reason: int
    receive_maximum: int | None
    server_keepalive: int | None


def decode_connack(body: bytes) -> ConnAck:
    """3.2."""
    if len(body) < 2:
        raise MalformedPacket("short CONNACK")
    found: dict[int, int] = {}
    if len(body) > 2:
        try:
            found, _ = properties(body, 2)
        except struct.error:
            raise MalformedPacket("truncated CONNACK properties") from None
    return ConnAck(bool(body[0] & 1), body[1], found.get(RECEIVE_MAXIMUM),
                   found.get(SERVER_KEEP_ALIVE))


def decode_puback(body: bytes) -> tuple[int, int]:
    """3.4: (packet id, reason); a two-byte PUBACK means success."""
    if len(body) < 2:
        raise MalformedPacket("short PUBACK")
    return _U16.unpack_from(body)[0], body[2] if len(body) > 2 else 0


def decode_publish(first: int, body: bytes) -> tuple[str, int, int, bytes]:
    """3.3: (topic, QoS, packet id or 0, payload); the properties are skipped."""
    qos = (first >> 1) & 0x03
    try:
        (n,) = _U16.unpack_from(body)
        topic = body[2:2 + n].decode()
        pos = 2 + n
        mid = 0
        if qos:
            (mid,) = _U16.unpack_from(body, pos)
            pos += 2
        length, pos = _read_varint(body, pos)
    except (struct.error, UnicodeDecodeError) as exc:
        raise MalformedPacket(f"bad PUBLISH: {exc}") from None
    if qos == 3 or 2 + n > len(body) or pos + length > len(body):
        raise MalformedPacket("bad PUBLISH")
    return topic, qos, mid, body[pos + length:]
