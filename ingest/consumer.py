"""The MQTT consumer: receive, decode, batch, write, and only then acknowledge.

Threads, each doing one thing:
- paho's network loop only queues what arrives (no JSON on the network thread);
- the decoder validates against the contract (pure, ingest.decoding) and hands each message to
  the writer that owns its gateway;
- the writers (`writers`, default 2, each with its own database connection) batch by size or
  time, write one transaction (ingest.writer), publish the end-to-end Acks to each gateway and
  release the MQTT PUBACKs (manual_ack) in arrival order (ingest.inorder).

Why several writers: a flush is Python work (staging rows, the alert rules) and then waiting on
PostgreSQL (insert, alert statements, commit). One writer does them in turn, so the process
never used more than about one of this machine's two cores (bench/ingest.py); with two, one
writer's Python runs while the other's transaction runs. A gateway always goes to the same
writer, so one gateway's messages -- and one patient's readings and alert state -- are written
in arrival order by one transaction at a time, as with a single writer; two writers only meet
on rows that two gateways share, and those are locked in a fixed order (and a deadlock, should
one happen anyway, is retried like any failed flush).

A message is acknowledged to the broker only after its readings are committed (ARCHITECTURE.md
decision 3). While PostgreSQL is down the writer keeps its batch and retries with backoff; the
broker holds everything else in our persistent session and stops sending once Receive Maximum
messages are unacknowledged, so nothing is lost and memory stays bounded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.acks import AckEncoder
from ingest.decoding import (
    Decoded,
    Limits,
    ReadingsMessage,
    RejectedMessage,
    Rejection,
    decode_message,
)
from ingest.inorder import InOrder
from ingest.readahead import ReadAheadClient
from ingest.reasons import RejectReason
from ingest.settings import IngestSettings
from ingest.telemetry import IngestMetrics
from ingest.writer import BatchWriter, FlushResult, Incoming, InsertHook
from vigil.topics import Channel, ingest_subscriptions, partition, topic

log = logging.getLogger("vigil.ingest")

# Test hook for the kill tests: SIGKILL ourselves right after the N-th commit that stored
# readings, before any acknowledgement leaves (the worst moment to die).
CRASH_AFTER_COMMIT_ENV = "VIGIL_INGEST_CRASH_AFTER_COMMIT"
# Acks carry ids; this many keeps one Ack well under MAX_PAYLOAD_BYTES (~40 bytes per id).
ACK_IDS_PER_MESSAGE = 4000
_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)
_IDLE_CHECK_S = 15.0


@dataclass(slots=True)
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    generation: int  # which broker connection delivered it
    received_at: datetime
    seq: int  # arrival order: PUBACKs are released in it


_STOP = object()


class Consumer:
    def __init__(self, settings: IngestSettings, hook: InsertHook | None = None,
                 metrics: IngestMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or IngestMetrics()
        self.writer = BatchWriter(hook, settings.dead_letter_max_bytes)
        self.limits = Limits(max_future=timedelta(seconds=settings.max_future_s))
        self.buckets = partition(settings.worker, settings.workers)
        self._inbound: queue.SimpleQueue[Inbound | object] = queue.SimpleQueue()
        # One queue, connection and thread per writer ("lane"); a gateway's lane is fixed.
        self._lanes = settings.writers
        self._decoded: list[queue.SimpleQueue[tuple[Inbound, Decoded] | object]] = [
            queue.SimpleQueue() for _ in range(self._lanes)]
        self._conns: list[psycopg.Connection | None] = [None] * self._lanes
        # Readings decoded and not yet taken by the writer. The decoder stays at most
        # _ahead_limit ahead: raw payloads waiting are a few bytes objects, decoded ones are
        # ~4 tracked objects a reading, and the garbage collector's full scans grow with them
        # (bench/ingest.py at full load: full collections of 211 ms on average with the whole
        # in-flight window decoded ahead, 89 ms with this bound).
        self._ahead = threading.Condition()
        self._ahead_count = 0
        self._ahead_limit = 2 * settings.batch_readings
        # Connection generation: bumped when a connection ends. A PUBACK is only ever sent on
        # the connection that delivered the message; older ones are redelivered and deduped.
        self._generation = 0
        # Held while PUBACKs are released, so two writers' runs go out in order.
        self._ack_lock = threading.Lock()
        self._order: InOrder[Inbound] = InOrder()
        self._received = 0  # sequence numbers handed out (by paho's network thread only)
        self._connected = threading.Event()
        self._closing = threading.Event()  # stop taking new messages
        self._give_up = threading.Event()  # stop retrying the database
        self._done = threading.Event()
        self._stop_requested = threading.Event()  # SIGTERM, or a fatal error
        self.failed = False
        self._commits = 0
        self._commits_lock = threading.Lock()
        self._crash_after = int(os.environ.get(CRASH_AFTER_COMMIT_ENV, "0") or 0)
        self.last_commit_at: datetime | None = None
        self.database_ok = False
        self.client = self._make_client()
        self._decoder = threading.Thread(target=self._decode_loop, name="ingest-decoder",
                                         daemon=True)
        self._writers = [
            threading.Thread(target=self._write_loop, args=(lane,), name=f"ingest-writer-{lane}",
                             daemon=True)
            for lane in range(self._lanes)]

    # -- MQTT ---------------------------------------------------------------------------

    def _make_client(self) -> ReadAheadClient:
        s = self.settings
        client = ReadAheadClient(CallbackAPIVersion.VERSION2, client_id=s.effective_client_id,
                                 protocol=mqtt.MQTTv5, manual_ack=True)
        # paho's own in-flight window scans its whole outgoing queue on every PUBACK when
        # limited; our outgoing traffic (Acks) is bounded by the batches anyway.
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        target = s.mqtt
        if target.username is not None:
            client.username_pw_set(target.username, target.password)
        if target.tls:
            client.tls_set(ca_certs=str(s.tls_ca_file) if s.tls_ca_file else None)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_pre_connect = self._on_pre_connect
        client.on_message = self._on_message
        client.on_publish_received = self._on_publish  # the common case, without MQTTMessage
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        props.ReceiveMaximum = self.settings.receive_maximum
        return props

    def _new_generation(self) -> None:
        with self._ack_lock:
            self._generation += 1

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        self._new_generation()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection", extra={"fields": {"reason": str(reason)}})
            return
        # Subscribing again is harmless; retain handling 1 replays retained statuses only on
        # a brand-new subscription, not on every reconnect.
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        client.subscribe([(f, options) for f in ingest_subscriptions(self.buckets)])
        self._connected.set()
        self.metrics.connected.set(1)
        log.info("connected to broker", extra={"fields": {
            "session_present": bool(getattr(flags, "session_present", False)),
            "buckets": len(self.buckets), "generation": self._generation}})

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._new_generation()
        self._connected.clear()
        self.metrics.connected.set(0)
        if not self._done.is_set():
            log.warning("disconnected from broker", extra={"fields": {"reason": str(reason)}})

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._receive(msg.topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain))

    def _on_publish(self, topic: str, payload: bytes, mid: int, retain: bool) -> None:
        self._receive(topic, payload, mid, 1, retain)

    def _receive(self, topic: str, payload: bytes, mid: int, qos: int, retain: bool) -> None:
        if self._closing.is_set():
            return  # not acknowledged: the broker redelivers it to our next session
        seq = self._received
        self._received = seq + 1
        self._inbound.put(Inbound(topic, payload, mid, qos, retain, self._generation,
                                  datetime.now(UTC), seq))

    @property
    def _pending(self) -> int:
        """Messages received and not yet acknowledged to the broker."""
        return self._received - self._order.released

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        target = self.settings.mqtt
        self.client.connect_async(target.host, target.port, keepalive=30, clean_start=False,
                                  properties=self._connect_properties())
        for thread in (self._decoder, *self._writers):
            thread.start()
        self.client.loop_start()

    def stop(self, timeout: float = 20.0, forget_session: bool = False) -> None:
        """Finish the batch in hand (commit and acknowledge it), then disconnect; with
        forget_session the broker drops our session (for throwaway consumers in tests)."""
        self._closing.set()
        self._inbound.put(_STOP)
        deadline = time.monotonic() + timeout
        for thread in self._writers:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._writers):
            self._give_up.set()  # the database is down: leave the rest to redelivery
            for thread in self._writers:
                thread.join(5)
        self._done.set()
        properties = None
        if forget_session:
            properties = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 0
        self.client.disconnect(properties=properties)
        self.client.loop_stop()
        for conn in self._conns:
            if conn is not None:
                conn.close()

    def run(self) -> int:
        """Run until SIGTERM or SIGINT."""
        stop = self._stop_requested
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.start()
        status_every = 60.0
        while not stop.wait(status_every):
            log.info("status", extra={"fields": self.health()})
        if self.failed:
            self._done.set()
            self.client.disconnect()
            self.client.loop_stop()
            return 1  # unacknowledged messages are redelivered to the restarted process
        log.info("stopping: finishing the batch in hand")
        self.stop()
        return 0

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def health(self) -> dict[str, Any]:
        return {
            "healthy": self._connected.is_set() and self.database_ok and not self.failed,
            "broker_connected": self._connected.is_set(),
            "database_ok": self.database_ok,
            "last_commit_at": self.last_commit_at,
            "pending_messages": self._pending,
            "worker": f"{self.settings.worker}/{self.settings.workers}",
        }

    # -- decoder ------------------------------------------------------------------------

    def _decode_loop(self) -> None:
        while True:
            item = self._inbound.get()
            if not isinstance(item, Inbound):
                for lane in self._decoded:
                    lane.put(_STOP)
                return
            with self._ahead:
                while self._ahead_count >= self._ahead_limit:
                    self._ahead.wait(0.5)
            try:
                decoded: Decoded = decode_message(item.topic, item.payload, datetime.now(UTC),
                                                  self.limits, item.retain)
            except Exception as exc:
                # A defect of ours, not bad input. Keep the raw bytes as a dead letter and go
                # on: leaving the message unacknowledged would block one in-flight slot for
                # good, and crashing would turn one poison message into a crash loop.
                log.exception("decoder failed; dead-lettering the message")
                decoded = RejectedMessage(None, Rejection(
                    RejectReason.STORAGE_ERROR, f"internal decoder error: {exc!r}"[:1000],
                    item.payload))
            with self._ahead:
                self._ahead_count += _weight(decoded)
            self._decoded[self._lane_of(item.topic, decoded)].put((item, decoded))

    def _lane_of(self, topic: str, decoded: Decoded) -> int:
        """The writer of this message's gateway (the topic's, for messages without one)."""
        if self._lanes == 1:
            return 0
        key = decoded.gateway_id or topic
        return zlib.crc32(key.encode()) % self._lanes

    # -- writer -------------------------------------------------------------------------

    def _write_loop(self, lane: int) -> None:
        try:
            self._write_batches(lane)
        except BaseException:
            log.exception("the writer stopped on an unexpected error; exiting")
            self.failed = True
            self._stop_requested.set()
            raise

    def _write_batches(self, lane: int) -> None:
        s = self.settings
        inbox = self._decoded[lane]
        delay = s.batch_delay_ms / 1000
        early = delay if s.batch_min_delay_ms is None else min(delay, s.batch_min_delay_ms / 1000)
        batch: list[tuple[Inbound, Decoded]] = []
        readings = 0
        first = 0.0
        stopping = False
        checked = 0.0
        while True:
            if not batch and time.monotonic() - checked > _IDLE_CHECK_S:
                self._check_database(lane)  # keeps /healthz truthful while no traffic flows
                checked = time.monotonic()
            wait = early if self._caught_up(lane) else delay
            timeout = max(0.0, first + wait - time.monotonic()) if batch else 0.5
            try:
                item = inbox.get(timeout=timeout) if not stopping else inbox.get_nowait()
            except queue.Empty:
                item = None
            if isinstance(item, tuple):
                if not batch:
                    first = time.monotonic()
                batch.append(item)
                decoded = item[1]
                with self._ahead:
                    self._ahead_count -= _weight(decoded)
                    self._ahead.notify()
                if isinstance(decoded, ReadingsMessage):
                    readings += len(decoded.readings)
            elif item is _STOP:
                stopping = True
            full = readings >= s.batch_readings or len(batch) >= s.receive_maximum
            age = time.monotonic() - first
            due = batch and (full or stopping or age >= delay
                             or (age >= early and self._caught_up(lane)))
            if due:
                if not self._flush(lane, batch):
                    return  # gave up on the database while stopping; nothing acknowledged
                batch, readings = [], 0
            if stopping and not batch and item is None:
                return

    def _caught_up(self, lane: int) -> bool:
        """Nothing received is waiting to be decoded or taken by this writer."""
        return self._decoded[lane].empty() and self._inbound.empty()

    def _check_database(self, lane: int) -> None:
        try:
            conn = self._connection(lane)
            conn.execute("SELECT 1")
            conn.rollback()
            self.database_ok = True
        except psycopg.Error as exc:
            self.database_ok = False
            self._drop_connection(lane)
            log.warning("database unavailable", extra={"fields": {"error": str(exc).strip()}})

    def _connection(self, lane: int) -> psycopg.Connection:
        conn = self._conns[lane]
        if conn is None or conn.closed:
            conn = psycopg.connect(self.settings.database_url, connect_timeout=5,
                                   application_name=f"vigil-ingest-writer-{lane}")
            BatchWriter.prepare(conn)
            self._conns[lane] = conn
        return conn

    def _drop_connection(self, lane: int) -> None:
        conn = self._conns[lane]
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()
            self._conns[lane] = None

    def _flush(self, lane: int, batch: Sequence[tuple[Inbound, Decoded]]) -> bool:
        items = [Incoming(inbound.topic, decoded, inbound.received_at)
                 for inbound, decoded in batch]
        self.metrics.wait_seconds.observe(
            (datetime.now(UTC) - batch[0][0].received_at).total_seconds())
        started = time.perf_counter()
        attempt = 0
        while True:
            try:
                result = self._write(lane, items)
                break
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if _conflict(exc):
                    # A deadlock or serialization failure with another writer or the sweeper:
                    # rolled back whole, the connection is fine; run the batch again.
                    self.metrics.write_errors.inc()
                    attempt += 1
                    log.warning("write conflict; retrying the batch", extra={"fields": {
                        "error": str(exc).strip(), "attempt": attempt, "messages": len(items)}})
                    if self._give_up.wait(0.01 * attempt):
                        return False
                    continue
                self.database_ok = False
                self.metrics.database_errors.inc()
                self._drop_connection(lane)
                wait = _BACKOFF[min(attempt, len(_BACKOFF) - 1)]
                attempt += 1
                log.warning("database unavailable; keeping the batch and retrying",
                            extra={"fields": {"error": str(exc).strip(), "retry_in_s": wait,
                                              "messages": len(items)}})
                if self._give_up.wait(wait):
                    return False
            except Exception:
                # Not the database's fault: a bug, or the insert hook (alerting) failing. The
                # batch was rolled back; keep it and retry, loudly, rather than lose or
                # dead-letter clinical data because of a downstream defect.
                self.database_ok = False
                self.metrics.write_errors.inc()
                wait = _BACKOFF[min(attempt, len(_BACKOFF) - 1)]
                attempt += 1
                log.exception("writing a batch failed; keeping it and retrying",
                              extra={"fields": {"retry_in_s": wait, "messages": len(items)}})
                if self._give_up.wait(wait):
                    return False
        self.database_ok = True
        with self._commits_lock:
            self._commits += 1
            commits = self._commits
        if self._crash_after and result.inserted and commits >= self._crash_after:
            os.kill(os.getpid(), signal.SIGKILL)
        self._acknowledge(batch, result)
        self._observe(batch, result, time.perf_counter() - started)
        return True

    def _write(self, lane: int, items: list[Incoming]) -> FlushResult:
        conn = self._connection(lane)
        try:
            return self.writer.write(conn, items)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except psycopg.Error as exc:
            log.error("database refused a batch; writing its messages one by one",
                      extra={"fields": {"error": str(exc).strip()}})
        merged = FlushResult()
        for item in items:
            try:
                one = self.writer.write(conn, [item])
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise
            except psycopg.Error as exc:
                one = self.writer.dead_letter_all(conn, [item], RejectReason.STORAGE_ERROR,
                                                  str(exc).strip()[:1000])
            _merge(merged, one)
        return merged

    def _acknowledge(self, batch: Sequence[tuple[Inbound, Decoded]],
                     result: FlushResult) -> None:
        # Corked: the PUBACKs and Acks of one flush wake paho's network loop once rather than
        # once per packet (ingest.readahead). The Acks are built without pydantic models.
        with self.client.corked():
            committed_at = AckEncoder(result.committed_at or datetime.now(UTC))
            for gateway in set(result.stored) | set(result.rejected):
                self._publish_acks(gateway, committed_at, result.stored.get(gateway, []),
                                   result.rejected.get(gateway, []))
            # This batch's PUBACKs, and any another writer's commits were waiting behind, in
            # arrival order; under the lock, so two writers' runs cannot interleave.
            with self._ack_lock:
                generation = self._generation
                for inbound in self._order.complete((i.seq, i) for i, _ in batch):
                    if inbound.qos > 0 and inbound.generation == generation:
                        self.client.ack(inbound.mid, inbound.qos)

    def _publish_acks(self, gateway: str, encoder: AckEncoder, stored: list[str],
                      rejected: list[tuple[str, RejectReason]]) -> None:
        ack_topic = topic(gateway, Channel.ACK)
        step = ACK_IDS_PER_MESSAGE
        for start in range(0, max(len(stored), len(rejected)), step):
            payload = encoder.encode(gateway, stored[start:start + step],
                                     rejected[start:start + step])
            info = self.client.publish(ack_topic, payload, qos=1)
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                log.warning("could not publish an ack; the gateway will resend",
                            extra={"fields": {"gateway": gateway, "rc": int(info.rc)}})

    def _observe(self, batch: Sequence[tuple[Inbound, Decoded]], result: FlushResult,
                 seconds: float) -> None:
        m = self.metrics
        m.messages.inc(len(batch))
        m.flush_readings.observe(result.inserted + result.duplicates)
        m.accepted.inc(result.inserted)
        m.duplicates.inc(result.duplicates)
        for reason, count in result.dead_letters.items():
            m.dead_letters.labels(reason.value).inc(count)
        m.batch_seconds.observe(seconds)
        m.commit_seconds.observe(result.commit_seconds)
        m.pending.set(self._pending)
        now = result.committed_at or datetime.now(UTC)
        self.last_commit_at = now
        oldest: datetime | None = None
        for _, decoded in batch:
            if isinstance(decoded, ReadingsMessage):
                m.lag_seconds.observe((now - decoded.sent_at).total_seconds())
                for reading in decoded.readings[:1]:
                    if oldest is None or reading.received_at < oldest:
                        oldest = reading.received_at
        if oldest is not None:
            m.reading_lag_seconds.set((now - oldest).total_seconds())


def _conflict(exc: psycopg.Error) -> bool:
    """SQLSTATE class 40, transaction rollback: a deadlock or a serialization failure."""
    return (exc.sqlstate or "").startswith("40")


def _weight(decoded: Decoded) -> int:
    """What a decoded message holds, for the decoder's lead over the writer."""
    return 1 + len(decoded.readings) if isinstance(decoded, ReadingsMessage) else 1


def _merge(into: FlushResult, one: FlushResult) -> None:
    for gateway, ids in one.stored.items():
        into.stored[gateway].extend(ids)
    for gateway, rejected in one.rejected.items():
        into.rejected[gateway].extend(rejected)
    into.inserted += one.inserted
    into.duplicates += one.duplicates
    into.events += one.events
    into.dead_letters.update(one.dead_letters)
    into.committed_at = one.committed_at
    into.commit_seconds += one.commit_seconds
