"""MQTT links for the fleet: paho-mqtt 2.x clients driven from the engine's own thread.

No network threads: one `Network` selects over every link's socket and lets paho read, write
and keep alive (paho's external-loop API: loop_read / loop_write / loop_misc and the socket
callbacks). Thousands of per-gateway connections cost file descriptors, not threads, and the
engine never fights its own network threads for the GIL -- measured here, a thread per client
made every syscall of the generator wait for the interpreter lock (0.7 ms per publish).
Callbacks therefore run inside `Network.poll`; they only post `Note`s for the engine.

A link is either a service-account client publishing for many gateways (shared mode) or one
gateway's own client with its own id, password and last will (per-gateway mode), connecting
as the edge uplink does (edge/uplink.py). MQTT v5, not the uplink's 3.1.1, for one reason: a
v5 broker answers a publish its ACL refuses with PUBACK reason 0x87, so a misconfigured ACL
shows up as `publishes_denied` rather than as silently missing readings.
"""

from __future__ import annotations

import contextlib
import queue
import selectors
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from vigil.topics import Channel, topic

NoteKind = Literal["connected", "refused", "disconnected", "message", "denied"]

# Persistent sessions for per-gateway links keep acks published while a gateway was away.
SESSION_EXPIRY_S = 3600
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 8.0
CONNECT_TIMEOUT_S = 3.0
# Blocking TCP connects per poll: a dead broker must not freeze the engine for long.
CONNECTS_PER_POLL = 50
KEEPALIVE_CHECK_S = 1.0
# Our own cap on unacknowledged publishes per connection. With any in-flight limit set, paho
# scans every outgoing message on every PUBACK (quadratic once thousands queue), so paho runs
# unlimited and the fleet keeps the window itself, holding the rest in its outboxes.
MAX_IN_FLIGHT = 500


@dataclass(frozen=True, slots=True)
class Note:
    """Something that happened on a connection, for the engine to act on."""

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
        self._ack_filters = list(ack_filters)
        self._notes = notes
        self._keepalive = keepalive_s
        self._persistent = persistent
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:
            client.username_pw_set(username, password)
        if endpoint.tls:
            client.tls_set(ca_certs=endpoint.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        if will is not None:
            client.will_set(will.topic, will.payload, qos=1, retain=True)
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.max_inflight_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        # No register/unregister-write callbacks: without them paho writes a publish at once
        # (inline, one send) instead of asking the selector to wake for writability -- two
        # epoll_ctl calls per burst, measured at ~5 % of the generator. Whatever a full
        # socket leaves queued, Network.poll sees through want_write() and writes when ready.
        self.client = client

    # --- lifecycle (engine thread) -----------------------------------------------------------

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if self._persistent:
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(
            self.endpoint.host, self.endpoint.port, keepalive=self._keepalive,
            clean_start=not self._persistent, properties=properties,
        )
        self.wanted = True
        self.retry_at = time.monotonic()

    def try_connect(self, now: float) -> None:
        """One (blocking, bounded) TCP connect; on failure, back off and try again later."""
        self.retry_at = None
        try:
            self.client.reconnect()
        except (OSError, ssl.SSLError):
            self.retry_at = now + self.retry_delay
            self.retry_delay = min(RECONNECT_MAX_S, self.retry_delay * 2)
        self._touched()

    @property
    def in_flight(self) -> int:
        return self.published - self.completed

    def can_publish(self) -> bool:
        return self.connected and self.in_flight < self.window

    def publish(self, topic_name: str, payload: bytes, *, retain: bool = False) -> bool:
        """QoS 1. False when not connected or the in-flight window is full: the caller keeps
        the data and tries again later."""
        if not self.can_publish():
            return False
        info = self.client.publish(topic_name, payload, qos=1, retain=retain)
        self._touched()
        # NO_CONN: the connection dropped just now; paho keeps the message and sends it on
        # reconnect, so it counts as handed over.
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.published += 1
            return True
        return False

    def drop(self) -> None:
        """Go away as if the network failed: the broker publishes the last will.

        MQTT v5 reason 0x04 "disconnect with will message" has the broker treat a clean
        disconnect like a lost connection, without us having to break a socket.
        """
        self.wanted = False
        self.retry_at = None
        self.connected = False
        self.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=4))
        self._touched()

    def resume(self) -> None:
        if not self.wanted:
            self.wanted = True
            self.retry_delay = RECONNECT_MIN_S
            self.retry_at = time.monotonic()

    def stop(self) -> None:
        self.wanted = False
        self.retry_at = None
        self.connected = False
        if self.client.socket() is not None:
            self.client.disconnect()
            self._touched()

    def _touched(self) -> None:
        if self.network is not None:
            self.network.touched(self)

    # --- paho callbacks (inside Network.poll): post a note ------------------------------------

    def _note(self, kind: NoteKind, **fields: Any) -> None:
        self._notes.put(Note(kind, self.index, time.monotonic(), **fields))

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
        reason: ReasonCode, properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._note("refused", reason=str(reason))
            return
        self.retry_delay = RECONNECT_MIN_S
        # A v5 broker announces how many unacknowledged publishes it accepts (Mosquitto:
        # max_inflight_messages, 20 by default); exceeding it gets messages refused.
        server_max = getattr(properties, "ReceiveMaximum", None) if properties else None
        self.window = min(MAX_IN_FLIGHT, server_max or MAX_IN_FLIGHT)
        if self._ack_filters:
            client.subscribe([(f, 1) for f in self._ack_filters])
        self._note("connected")

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: mqtt.DisconnectFlags,
        reason: ReasonCode, properties: Properties | None,
    ) -> None:
        if self.wanted and self.retry_at is None:
            self.retry_at = time.monotonic() + self.retry_delay
            self.retry_delay = min(RECONNECT_MAX_S, self.retry_delay * 2)
        self._note("disconnected", reason=str(reason))

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._note("message", topic=msg.topic, payload=bytes(msg.payload))

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode,
        properties: Properties,
    ) -> None:
        self.completed += 1
        if reason.is_failure:
            self._note("denied", reason=str(reason))

    def _on_socket_open(self, client: mqtt.Client, userdata: object, sock: Any) -> None:
        if self.network is not None:
            self.network.watch(self, sock)

    def _on_socket_close(self, client: mqtt.Client, userdata: object, sock: Any) -> None:
        if self.network is not None:
            self.network.unwatch(sock)


class Network:
    """Every link's socket in one selector, served from the caller's thread."""

    def __init__(self, links: Sequence[Link]) -> None:
        self.links = list(links)
        self.selector = selectors.DefaultSelector()
        self.tls = any(link.endpoint.tls for link in self.links)
        self._next_misc = 0.0
        self._writing: set[Any] = set()  # sockets registered for EVENT_WRITE
        self._touched: set[Link] = set()
        for link in self.links:
            link.network = self

    def watch(self, link: Link, sock: Any) -> None:
        self.selector.register(sock, selectors.EVENT_READ, link)
        self._writing.discard(sock)
        # No Nagle: corking does the coalescing, and an uncork must transmit at once rather
        # than wait for the peer's ACK of the previous segment.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _cork(sock, True)

    def unwatch(self, sock: Any) -> None:
        self._writing.discard(sock)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)

    def touched(self, link: Link) -> None:
        """`link` queued something: check at the next poll whether it is still unsent."""
        self._touched.add(link)

    def _settle(self, links: Iterable[Link]) -> None:
        """Put on the wire what these links wrote since the last time (uncorking), and wake
        for writability only for sockets with bytes paho could not send at once (a full socket
        buffer, or packets queued from inside a callback). Only links that wrote or were
        served since the last check are looked at: thousands of per-gateway links are not
        scanned every tick."""
        for link in links:
            sock = link.client.socket()
            if sock is None:
                continue
            _cork(sock, False)  # transmits what the cork held
            _cork(sock, True)
            wanted = link.client.want_write()
            if wanted != (sock in self._writing):
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wanted else 0)
                with contextlib.suppress(KeyError, ValueError):
                    self.selector.modify(sock, events, link)
                    if wanted:
                        self._writing.add(sock)
                    else:
                        self._writing.discard(sock)

    def poll(self, timeout: float) -> None:
        """Wait up to `timeout` for traffic and serve it; reconnect links that are due."""
        now = time.monotonic()
        self._reconnect_due(now)
        if not self.selector.get_map():
            time.sleep(timeout)
        else:
            touched, self._touched = self._touched, set()
            self._settle(touched)
            served: set[Link] = set()
            for key, mask in self.selector.select(timeout):
                link: Link = key.data
                served.add(link)
                if mask & selectors.EVENT_READ:
                    link.client.loop_read()
                if mask & selectors.EVENT_WRITE and link.client.socket() is not None:
                    link.client.loop_write()
            if self.tls:
                # TLS may hold decrypted bytes the socket no longer signals.
                for link in self.links:
                    sock = link.client.socket()
                    if sock is not None and getattr(sock, "pending", lambda: 0)() > 0:
                        link.client.loop_read()
                        served.add(link)
            self._settle(served)  # the PUBACKs for what was just read
        now = time.monotonic()
        if now >= self._next_misc:
            self._next_misc = now + KEEPALIVE_CHECK_S
            for link in self.links:
                if link.client.socket() is not None:
                    link.client.loop_misc()  # keepalive pings; drops a dead connection
                    self._touched.add(link)

    def _reconnect_due(self, now: float) -> None:
        budget = CONNECTS_PER_POLL
        for link in self.links:
            if budget == 0:
                return
            if link.wanted and link.retry_at is not None and link.retry_at <= now:
                link.try_connect(now)
                budget -= 1

    def close(self, timeout_s: float = 5.0) -> None:
        """Disconnect every link cleanly, letting the DISCONNECTs go out."""
        for link in self.links:
            link.stop()
        deadline = time.monotonic() + timeout_s
        while self.selector.get_map() and time.monotonic() < deadline:
            self.poll(0.01)
        for link in self.links:
            sock = link.client.socket()
            if sock is not None:
                self.unwatch(sock)
                sock.close()
        self.selector.close()


def _cork(sock: Any, on: bool) -> None:
    """TCP_CORK (Linux): hold small writes until uncorked, so that a tick's publishes and
    PUBACKs leave as a few full segments instead of one each. Measured here (cProfile,
    1,000 readings/s in 2-reading messages): a loopback send() cost ~90 us of the sender's CPU
    -- the receiving side's network processing runs in the sender's context -- and paho sends
    every packet on its own, so sends were the generator's largest cost. Elsewhere a no-op."""
    if _TCP_CORK is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 1 if on else 0)


_TCP_CORK: int | None = getattr(socket, "TCP_CORK", None)


def ack_filter(gateway_id: str) -> str:
    return topic(gateway_id, Channel.ACK)
