"""MQTT links for the fleet: non-blocking sockets speaking MQTT v5 (simulators.fleet.packets)
from the engine's own thread.

No network threads: one `Network` (simulators.fleet.network) selects over every link's
socket, reads and writes them and keeps them alive. Thousands of per-gateway connections cost
file descriptors, not threads, and the engine never fights network threads for the GIL --
measured here, a thread per paho client made every syscall of the generator wait for the
interpreter lock (0.7 ms per publish).
What happens on a connection is posted as a `Note` for the engine.

Each link buffers what it writes and sends it in one send() per poll: a tick's publishes and
PUBACKs leave together. (With paho, every packet was its own send(), and a loopback send costs
the sender the receiver's network processing too -- ~90 us measured -- hence TCP_CORK then.)
Like paho, a link keeps every QoS 1 publish until its PUBACK and sends it again (DUP) after a
reconnect, so a publish accepted while the connection is failing is still handed over.

A link is either a service-account client publishing for many gateways (shared mode) or one
gateway's own client with its own id, password and last will (per-gateway mode), connecting
as the edge uplink does (edge/uplink.py). MQTT v5, not the uplink's 3.1.1, for one reason: a
v5 broker answers a publish its ACL refuses with PUBACK reason 0x87, so a misconfigured ACL
shows up as `publishes_denied` rather than as silently missing readings.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from simulators.fleet import packets
from simulators.fleet.packets import MalformedPacket, PacketReader, reason_text
from vigil.topics import Channel, topic

if TYPE_CHECKING:
    from simulators.fleet.network import Network

NoteKind = Literal["connected", "refused", "disconnected", "message", "denied"]

# Persistent sessions for per-gateway links keep acks published while a gateway was away.
SESSION_EXPIRY_S = 3600
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 8.0
CONNECT_TIMEOUT_S = 3.0
# Our cap on unacknowledged publishes per connection (the broker's Receive Maximum may lower
# it); the rest waits in the gateways' outboxes.
MAX_IN_FLIGHT = 500
RECV_BYTES = 256 * 1024
DISCONNECT_WITH_WILL = 0x04


class Note(NamedTuple):
    """Something that happened on a connection, for the engine to act on (a named tuple:
    cheap to make, one per received ack)."""

    kind: NoteKind
    link: int
    at: float  # time.monotonic() when it happened
    topic: str = ""
    payload: bytes = b""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    tls: bool = False
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes


class Link:
    """One MQTT connection; `ack_filters` are the topic filters it subscribes to on connect."""

    def __init__(
        self,
        index: int,
        *,
        endpoint: Endpoint,
        client_id: str,
        username: str | None,
        password: str | None,
        ack_filters: Sequence[str],
        notes: queue.SimpleQueue[Note],
        keepalive_s: int,
        will: Will | None = None,
        persistent: bool = False,
    ) -> None:
        self.index = index
        self.connected = False  # the engine's view, updated from notes
        self.published = 0
        self.completed = 0
        self.window = MAX_IN_FLIGHT
        self.network: Network | None = None
        self.wanted = False  # should be connected (false after stop/drop)
        self.retry_at: float | None = None
        self.retry_delay = RECONNECT_MIN_S
        self.endpoint = endpoint
        self.sock: socket.socket | None = None
        # Built once, here, so that an unreadable CA file fails at start-up, not as a broker
        # that never answers (as paho's tls_set did).
        self._tls = ssl.create_default_context(cafile=endpoint.ca_file) if endpoint.tls else None
        self._ack_filters = list(ack_filters)
        self._notes = notes
        self._keepalive = self._keepalive_now = keepalive_s
        self._connect_packet = packets.connect(
            client_id, keepalive=keepalive_s, clean_start=not persistent,
            session_expiry=SESSION_EXPIRY_S if persistent else 0,
            username=username, password=password if username is not None else None,
            will_topic=None if will is None else will.topic,
            will_payload=b"" if will is None else will.payload,
        )
        self._out = bytearray()  # written, not yet sent
        self._reader = PacketReader()
        self._session = False  # CONNACK received on the current socket
        self._closing = False  # close once the DISCONNECT in _out has gone
        # QoS 1 publishes awaiting their PUBACK, by packet id, oldest first.
        self._unacked: dict[int, tuple[bytes, bytes, bool]] = {}
        self._mid = 0
        self._last_out = self._last_in = self._ping_at = 0.0

    # --- lifecycle (engine thread) -----------------------------------------------------------

    def start(self) -> None:
        self.wanted = True
        self.retry_at = time.monotonic()

    def try_connect(self, now: float) -> None:
        """One (blocking, bounded) TCP connect and CONNECT; on failure, back off and try
        again later."""
        self.retry_at = None
        if self.sock is not None:
            self.close_socket()
        try:
            sock = self._open()
        except OSError:  # ssl.SSLError included
            self.retry_at = now + self.retry_delay
            self.retry_delay = min(RECONNECT_MAX_S, self.retry_delay * 2)
            return
        self.sock = sock
        self._out.clear()
        self._reader = PacketReader()
        self._session = self._closing = False
        self._keepalive_now = self._keepalive
        self._last_out = self._last_in = now
        self._ping_at = 0.0
        if self.network is not None:
            self.network.watch(self, sock)
        self._out += self._connect_packet
        self._touched()

    def _open(self) -> socket.socket:
        endpoint = self.endpoint
        sock = socket.create_connection((endpoint.host, endpoint.port),
                                        timeout=CONNECT_TIMEOUT_S)
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=endpoint.host)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    @property
    def in_flight(self) -> int:
        return self.published - self.completed

    def can_publish(self) -> bool:
        return self.connected and self.in_flight < self.window

    def publish(self, topic_name: str, payload: bytes, *, retain: bool = False) -> bool:
        """QoS 1. False when not connected or the in-flight window is full: the caller keeps
        the data and tries again later."""
        if not (self.connected and self.published - self.completed < self.window):
            return False
        mid = self._next_mid()
        name = topic_name.encode()
        self._unacked[mid] = (name, payload, retain)
        # Not yet acknowledged by CONNACK (the connection dropped just now): the message waits
        # in _unacked and goes out on reconnect, so it counts as handed over.
        if self._session:
            self._out += packets.publish(name, payload, mid, retain=retain)
            self._touched()
        self.published += 1
        return True

    def _next_mid(self) -> int:
        mid = self._mid
        while True:
            mid = mid % 65535 + 1
            if mid not in self._unacked:
                self._mid = mid
                return mid

    def drop(self) -> None:
        """Go away as if the network failed: the broker publishes the last will.

        MQTT v5 reason 0x04 "disconnect with will message" has the broker treat a clean
        disconnect like a lost connection, without us having to break a socket.
        """
        self.wanted = False
        self.retry_at = None
        self.connected = False
        self._leave(DISCONNECT_WITH_WILL)

    def resume(self) -> None:
        if not self.wanted:
            self.wanted = True
            self.retry_delay = RECONNECT_MIN_S
            self.retry_at = time.monotonic()

    def stop(self) -> None:
        self.wanted = False
        self.retry_at = None
        self.connected = False
        self._leave(0)

    def _leave(self, reason: int) -> None:
        if self.sock is not None and not self._closing:
            self._out += packets.disconnect(reason)
            self._closing = True
            self._touched()

    def _touched(self) -> None:
        if self.network is not None:
            self.network.touched(self)

    # --- socket events (inside Network.poll) ---------------------------------------------------

    def flush(self) -> bool:
        """Send what is buffered; False while the socket cannot take it all."""
        sock = self.sock
        if sock is None:
            return True
        out = self._out
        while out:
            try:
                sent = sock.send(out)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return False
            except OSError as exc:
                self._lose(f"send failed: {exc}")
                return True
            del out[:sent]
            self._last_out = time.monotonic()
        if self._closing:
            self.close_socket()
            self._note("disconnected", reason="Success")
        return True

    def read(self) -> None:
        """Receive and handle everything the socket has (TLS: including what it decrypted)."""
        sock = self.sock
        while sock is not None and sock is self.sock:
            try:
                data = sock.recv(RECV_BYTES)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except OSError as exc:
                self._lose(f"receive failed: {exc}")
                return
            if not data:
                self._lose("connection closed by the broker")
                return
            self._last_in = time.monotonic()
            try:
                for first, body in self._reader.feed(data):
                    self._handle(first, body)
                    if self.sock is not sock:
                        return
            except MalformedPacket as exc:
                self._lose(f"malformed packet from the broker: {exc}")
                return
            pending = getattr(sock, "pending", None)
            if len(data) < RECV_BYTES and not (pending is not None and pending()):
                return

    def _handle(self, first: int, body: bytes) -> None:
        kind = first & 0xF0
        if kind == packets.PUBACK:
            mid, reason = packets.decode_puback(body)
            if self._unacked.pop(mid, None) is not None:
                self.completed += 1
                if reason >= 0x80:
                    self._note("denied", reason=reason_text(reason))
        elif kind == packets.PUBLISH:
            name, qos, mid, payload = packets.decode_publish(first, body)
            if qos == 2:
                raise MalformedPacket("QoS 2 on a QoS 1 subscription")
            self._note("message", topic=name, payload=payload)
            if qos == 1:
                self._out += packets.puback(mid)
                self._touched()
        elif kind == packets.CONNACK:
            self._on_connack(packets.decode_connack(body))
        elif kind == packets.PINGRESP:
            self._ping_at = 0.0
        elif kind == packets.DISCONNECT:
            self._lose(reason_text(body[0] if body else 0))
        elif kind != packets.SUBACK:
            raise MalformedPacket(f"unexpected packet type 0x{first:02x}")

    def _on_connack(self, ack: packets.ConnAck) -> None:
        if ack.reason >= 0x80:
            self._note("refused", reason=reason_text(ack.reason))
            self._lose(reason_text(ack.reason))
            return
        self._session = True
        self.retry_delay = RECONNECT_MIN_S
        # A v5 broker announces how many unacknowledged publishes it accepts (Mosquitto:
        # max_inflight_messages, 20 by default); exceeding it gets messages refused.
        self.window = min(MAX_IN_FLIGHT, ack.receive_maximum or MAX_IN_FLIGHT)
        if ack.server_keepalive is not None:
            self._keepalive_now = ack.server_keepalive
        if self._ack_filters:
            self._out += packets.subscribe(self._next_mid(), self._ack_filters)
        for mid, (name, payload, retain) in self._unacked.items():
            self._out += packets.publish(name, payload, mid, retain=retain, dup=True)
        self._touched()
        self._note("connected")

    def misc(self, now: float) -> None:
        """Keepalive (3.1.2.10): ping when quiet, give up on a broker that does not answer."""
        keepalive = self._keepalive_now
        if self.sock is None or keepalive <= 0:
            return
        if self._ping_at and now - self._ping_at >= keepalive:
            self._lose("keepalive timeout")
        elif now - self._last_out >= keepalive or now - self._last_in >= keepalive:
            if not self._session:
                self._lose("no CONNACK within the keepalive")
            elif not self._ping_at:
                self._out += packets.PINGREQ_PACKET
                self._ping_at = now
                self._touched()

    def _lose(self, reason: str) -> None:
        """The connection is gone: close it, and come back later if we should be connected."""
        self.close_socket()
        if self.wanted and self.retry_at is None:
            self.retry_at = time.monotonic() + self.retry_delay
            self.retry_delay = min(RECONNECT_MAX_S, self.retry_delay * 2)
        self._note("disconnected", reason=reason)

    def close_socket(self) -> None:
        sock, self.sock = self.sock, None
        self._session = self._closing = False
        self._out.clear()
        if sock is not None:
            if self.network is not None:
                self.network.unwatch(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _note(self, kind: NoteKind, **fields: Any) -> None:
        self._notes.put(Note(kind, self.index, time.monotonic(), **fields))


def ack_filter(gateway_id: str) -> str:
    return topic(gateway_id, Channel.ACK)
