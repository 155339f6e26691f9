"""MQTT links for the fleet: paho-mqtt 2.x clients whose callbacks only post notes to one queue.

All fleet state lives on the engine's thread; paho's network threads never touch it. A link is
either a service-account client publishing for many gateways (shared mode) or one gateway's own
client with its own id, password and last will (per-gateway mode), exactly as the edge uplink
connects (edge/uplink.py).

MQTT v5, not the uplink's 3.1.1, for one reason: a v5 broker answers a publish its ACL refuses
with PUBACK reason 0x87, so a misconfigured ACL shows up as `publishes_denied` rather than as
silently missing readings. Topics, payloads and QoS are the contract's, unchanged.
"""

from __future__ import annotations

import queue
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from vigil.topics import Channel, topic

NoteKind = Literal["connected", "refused", "disconnected", "message", "denied"]

# Persistent sessions for per-gateway links keep acks published while a gateway was away.
SESSION_EXPIRY_S = 3600
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 8
# Our own cap on unacknowledged publishes per connection. paho re-scans its whole outgoing
# queue on every PUBACK once its in-flight limit is reached, which collapses throughput with
# thousands queued; so the fleet never lets paho queue: it holds data in its outboxes instead.
MAX_IN_FLIGHT = 500


@dataclass(frozen=True, slots=True)
class Note:
    """Something that happened on a network thread, for the engine to act on."""

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
    """One MQTT connection. `gateways` are the gateway ids whose acks it listens for."""

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
        self.connected = False  # the engine's view, updated from notes on its thread
        # Written by one thread each (publish: the engine; completed: paho), read by the engine.
        self.published = 0
        self.completed = 0
        self.window = MAX_IN_FLIGHT
        self._endpoint = endpoint
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
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        # The outbox resends what is not acknowledged end to end; paho only needs to keep a
        # connection's worth of publishes in flight (the broker allows 1000, devstack/deploy).
        client.max_inflight_messages_set(MAX_IN_FLIGHT)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self._client = client
        self._running = False

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if self._persistent:
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect_async(
            self._endpoint.host, self._endpoint.port, keepalive=self._keepalive,
            clean_start=not self._persistent, properties=properties,
        )
        self._client.loop_start()
        self._running = True

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
        info = self._client.publish(topic_name, payload, qos=1, retain=retain)
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
        if not self._running:
            return
        self._client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=4))
        self._client.loop_stop()
        self._running = False
        self.connected = False

    def resume(self) -> None:
        if self._running:
            return
        self._client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self.start()

    def stop(self) -> None:
        if not self._running:
            return
        self._client.disconnect()
        self._client.loop_stop()
        self._running = False
        self.connected = False

    def wait_published(self, timeout_s: float) -> None:
        """Give queued publishes a moment to leave before a clean disconnect."""
        deadline = time.monotonic() + timeout_s
        while self.connected and self.in_flight > 0 and time.monotonic() < deadline:
            time.sleep(0.01)

    # --- paho callbacks (network thread): post a note, touch nothing else -------------------

    def _note(self, kind: NoteKind, **fields: str | bytes) -> None:
        self._notes.put(Note(kind, self.index, time.monotonic(), **fields))  # type: ignore[arg-type]

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
        reason: ReasonCode, properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._note("refused", reason=str(reason))
            return
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


def ack_filter(gateway_id: str) -> str:
    return topic(gateway_id, Channel.ACK)
