"""A read-ahead buffer under paho's socket reads.

paho-mqtt reads every incoming packet with at least three recv() calls: one byte of packet
type, the remaining length byte by byte, then the body. Each call is a system call and a hand-off
of the GIL to ingest's decoder and writer threads; with gateways sending one or two readings a
message that was ~20 % of ingest's profile samples (bench/ingest.py --batch 2 --profile). This
wrapper reads up to 64 KiB at once and serves paho from the buffer.

paho already supports sockets that hold data select() cannot see (TLS keeps decrypted bytes):
while `pending()` is non-zero its loop reads again without waiting in select(). The wrapper
answers pending() with what it holds (plus what a TLS socket underneath holds), so buffered
packets are handled as promptly as unbuffered ones.

The client also queues cheaper. Every packet paho queues from another thread writes a byte to
a socket pair to wake its network loop. After each flush ingest queues one PUBACK per message
and one Ack publish per gateway -- with a virtual ward's one or two readings a message from
thousands of gateways, thousands of tiny packets, each a system call on the writer and a
select() wake-up on the loop. `corked()` queues them with one wake-up at the end. (Sending
them in one send() as well was tried: no measurable gain on top, and it shifted end-to-end
timing enough to upset tests/system/test_system_network.py's resend expectation.)

And it reads cheaper. For every incoming PUBLISH paho's MQTT v5 path builds a Properties object
and parses the property block, an MQTTMessage, and matches the topic against filtered callbacks;
for every PUBACK it parses a reason code and properties. Ingest needs v5 (Receive Maximum,
Session Expiry, retain handling) but uses none of a message's properties. `on_publish_received`
takes a QoS 1 PUBLISH with an empty property block (what gateways send) as (topic, payload,
mid, retain) straight from the packet; a PUBACK of success with nothing after the packet id
(what Mosquitto sends) retires its message directly. Anything else -- properties present, QoS 0
or 2, a reason code, an undecodable topic, callbacks paho would have to run -- takes paho's own
path, so both deliver the same (tests/ingest/test_ingest_readahead_client.py compares them).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

_CHUNK = 64 * 1024
# (topic, payload, mid, retain) of a QoS 1 PUBLISH.
PublishReceived = Callable[[str, bytes, int, bool], None]


class ReadAheadSocket:
    """Delegates everything to the wrapped socket except recv() and pending()."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        available = len(self._data) - self._pos
        if available == 0:
            # Errors (BlockingIOError, TLS want-read, resets) reach paho exactly as before;
            # b"" (closed by the peer) too.
            data = self._sock.recv(max(bufsize, _CHUNK))
            if len(data) <= bufsize:
                return bytes(data)
            self._data, self._pos = bytes(data), 0
        start = self._pos
        self._pos = min(start + bufsize, len(self._data))
        return self._data[start:self._pos]

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return len(self._data) - self._pos + (inner() if inner is not None else 0)

    def send(self, data: bytes) -> int:
        return int(self._sock.send(data))

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class ReadAheadClient(mqtt.Client):
    """paho's client over a ReadAheadSocket (a fresh one for every connection), with corked
    queueing and direct handling of plain QoS 1 publishes and PUBACKs (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._corked: set[int] = set()  # threads queueing without wake-ups (ingest's writers)
        self._held = False
        # Set to take QoS 1 publishes without paho's MQTTMessage (see the module docstring);
        # publishes it cannot take still go to on_message.
        self.on_publish_received: PublishReceived | None = None

    def _create_socket(self) -> Any:
        return ReadAheadSocket(super()._create_socket())

    @contextlib.contextmanager
    def corked(self) -> Iterator[None]:
        """Packets this thread queues meanwhile (ack(), publish()) wake the network loop once,
        at the end, instead of once each. Several threads may be corked at once (ingest's writers);
        each wakes the loop on leaving if anything is held."""
        me = threading.get_ident()
        self._corked.add(me)
        try:
            yield
        finally:
            self._corked.discard(me)
            if self._held:
                self._held = False
                self._wake()

    def _packet_queue(self, command: int, packet: bytes | bytearray, mid: int, qos: int,
                      info: mqtt.MQTTMessageInfo | None = None) -> MQTTErrorCode:
        if threading.get_ident() not in self._corked or self._thread is None:
            return super()._packet_queue(command, packet, mid, qos, info)
        # What paho's _packet_queue does in threaded mode, minus the wake-up.
        self._out_packet.append({"command": command, "mid": mid, "qos": qos, "pos": 0,
                                 "to_process": len(packet), "packet": packet, "info": info})
        self._held = True
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _wake(self) -> None:
        if self._sockpairW is not None:
            with contextlib.suppress(BlockingIOError):
                self._sockpairW.send(mqtt.sockpair_data)
        self._call_socket_register_write()

    def _handle_publish(self) -> MQTTErrorCode:
        taken = self.on_publish_received
        header = self._in_packet["command"]
        if (taken is None or (header & 0x06) != 0x02 or self._protocol != mqtt.MQTTv5
                or not self._manual_ack or self.on_message is None):
            return super()._handle_publish()
        packet = self._in_packet["packet"]
        # Topic length, topic, packet id, property length (0: no properties), payload.
        length = int.from_bytes(packet[0:2], "big")
        if len(packet) < length + 5 or packet[length + 4] != 0:
            return super()._handle_publish()
        try:
            topic = packet[2:2 + length].decode("utf-8")
        except UnicodeDecodeError:
            return super()._handle_publish()
        with self._callback_mutex:
            filtered = any(True for _ in self._on_message_filtered.iter_match(topic))  # type: ignore[no-untyped-call]
        if filtered or not topic:
            return super()._handle_publish()
        mid = int.from_bytes(packet[2 + length:4 + length], "big")
        with self._in_callback_mutex:
            try:
                taken(topic, bytes(packet[length + 5:]), mid, bool(header & 0x01))
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_pubackcomp(self, cmd: Any) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        if (cmd != "PUBACK" or len(packet) != 2 or self.on_publish is not None
                or self._max_inflight_messages != 0):
            return super()._handle_pubackcomp(cmd)
        # Success, no properties: what paho's _do_on_publish does without a callback and
        # without an in-flight limit to refill.
        mid = int.from_bytes(packet, "big")
        with self._out_message_mutex:
            message = self._out_messages.pop(mid, None)
            if message is not None:
                message.info._set_as_published()
                if message.qos > 0:
                    self._inflight_messages -= 1
        return MQTTErrorCode.MQTT_ERR_SUCCESS
