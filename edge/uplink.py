"""The MQTT uplink (paho-mqtt 2.x): publishes batches, events and status at QoS 1, receives
ingest's acks, and reconnects forever on its own network thread.

The broker is a transport, not the store of record (ARCHITECTURE.md decision 1): nothing here
decides that a message is delivered; the outbox keeps it until an Ack arrives. The session is
persistent (clean_session=False) so acks published while the gateway was away are queued for
it. Callbacks run on paho's thread; the agent hands them to its event loop.
The retained status starts as the last will ("offline", set afresh before every connect) and
is replaced by the agent's "online" status right after each connect and at every heartbeat.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from edge.config import GatewaySettings
from vigil.messages import (
    Ack,
    GatewayState,
    GatewayStatus,
    PayloadTooLarge,
    ReadingBatch,
    decode,
    encode,
)
from vigil.topics import Channel, topic

log = logging.getLogger("edge.uplink")

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 60


class Uplink:
    def __init__(
        self,
        settings: GatewaySettings,
        *,
        on_ack: Callable[[Ack], object],
        on_connected: Callable[[], object],
        software_version: str | None = None,
    ) -> None:
        self.gateway_id = settings.gateway_id
        self._settings = settings
        self._on_ack = on_ack
        self._on_connected = on_connected
        self._software_version = software_version
        self._connected = threading.Event()
        self._topics = {channel: topic(self.gateway_id, channel) for channel in Channel}
        endpoint = settings.mqtt
        self._endpoint = endpoint
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"vigil-edge-{self.gateway_id}",
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        if endpoint.username is not None:
            client.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.tls:
            client.tls_set(
                ca_certs=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
                certfile=str(settings.mqtt_client_cert) if settings.mqtt_client_cert else None,
                keyfile=str(settings.mqtt_client_key) if settings.mqtt_client_key else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        # Resends are the outbox's job; paho's own queue only covers one connection's worth.
        client.max_inflight_messages_set(100)
        client.on_pre_connect = self._pre_connect
        client.on_connect = self._connected_cb
        client.on_disconnect = self._disconnected_cb
        client.on_message = self._message_cb
        self._client = client

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._set_will()
        self._client.connect_async(
            self._endpoint.host, self._endpoint.port, keepalive=self._settings.mqtt_keepalive_s
        )
        self._client.loop_start()

    def stop(self, reason: str = "shutdown", timeout: float = 5.0) -> None:
        """Publish a retained "offline" status and disconnect cleanly (no last will)."""
        if self._connected.is_set():
            status = GatewayStatus(
                gateway_id=self.gateway_id, state=GatewayState.OFFLINE, at=datetime.now(UTC),
                reason=reason, software_version=self._software_version,
            )
            info = self._client.publish(self._topics[Channel.STATUS], encode(status), qos=1,
                                        retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.warning("offline status not confirmed before disconnect")
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- publishing -----------------------------------------------------------------------

    def publish_batch(self, batch: ReadingBatch) -> bool:
        return self._publish(Channel.READINGS, encode(batch))

    def publish_event(self, payload: bytes) -> bool:
        """Publish an event already serialised by the outbox (a DeviceEvent's JSON)."""
        return self._publish(Channel.EVENTS, payload)

    def publish_status(self, status: GatewayStatus) -> bool:
        return self._publish(Channel.STATUS, encode(status), retain=True)

    def _publish(self, channel: Channel, payload: bytes, retain: bool = False) -> bool:
        if not self._connected.is_set():
            return False
        info = self._client.publish(self._topics[channel], payload, qos=1, retain=retain)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    # --- paho callbacks (network thread) --------------------------------------------------

    def _set_will(self) -> None:
        # Its `at` is the connect time: receivers use their own receipt time for the will.
        will = GatewayStatus(
            gateway_id=self.gateway_id, state=GatewayState.OFFLINE, at=datetime.now(UTC),
            reason="connection lost", software_version=self._software_version,
        )
        self._client.will_set(self._topics[Channel.STATUS], encode(will), qos=1, retain=True)

    def _pre_connect(self, client: mqtt.Client, userdata: object) -> None:
        self._set_will()

    def _connected_cb(
        self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags,
        reason: ReasonCode, properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection", extra={"reason": str(reason)})
            return
        client.subscribe(self._topics[Channel.ACK], qos=1)
        self._connected.set()
        log.info("uplink connected", extra={"broker": repr(self._endpoint),
                                            "session_present": flags.session_present})
        # The agent publishes its "online" status from its own loop (it owns the outbox).
        self._on_connected()

    def _disconnected_cb(
        self, client: mqtt.Client, userdata: object, flags: mqtt.DisconnectFlags,
        reason: ReasonCode, properties: Properties | None,
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was:
            log.warning("uplink disconnected", extra={"reason": str(reason)})

    def _message_cb(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            ack = decode(Ack, bytes(msg.payload))
        except (ValidationError, PayloadTooLarge) as exc:
            log.warning("ignored a malformed ack", extra={"topic": msg.topic, "error": str(exc)})
            return
        if ack.gateway_id != self.gateway_id:
            log.warning("ignored an ack for another gateway", extra={"ack_for": ack.gateway_id})
            return
        self._on_ack(ack)

