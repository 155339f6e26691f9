"""Device events are acknowledged end to end like readings: the gateway keeps them in its
outbox until an Ack names their event id, and a redelivered event is stored once."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from ingest_helpers import Fleet, GatewayClient, running_consumer, wait_for

from devstack.mosquitto import MosquittoBroker
from vigil.messages import DeviceEvent, DeviceEventKind, encode
from vigil.topics import Channel


def test_device_events_are_acked_by_id_and_stored_once(
    fleet: Fleet, own_broker: MosquittoBroker
) -> None:
    gw = fleet.gateways[0]
    device = fleet.devices_of(gw)[0]
    client = GatewayClient(own_broker.url, [gw])
    event = DeviceEvent.new(gateway_id=gw, device_id=device, event=DeviceEventKind.BATTERY,
                            at=datetime.now(UTC), battery_level=9)
    try:
        with running_consumer(fleet.url, own_broker.url):
            for _ in range(2):  # the second is a resend after a lost ack
                client.publish(gw, encode(event), Channel.EVENTS)
            # Oracle: the event id is acked, and stored exactly once.
            client.wait_acked({event.event_id})
            wait_for(lambda: sum(a.stored.count(event.event_id) for a in client.acks) == 2,
                     message=lambda: "the resend was not acked")
        with psycopg.connect(fleet.url) as conn:
            rows = conn.execute("SELECT count(*) FROM device_events WHERE event_id = %s",
                                (event.event_id,)).fetchone()
            battery = conn.execute("SELECT battery_level FROM devices WHERE address = %s",
                                   (device,)).fetchone()
        assert rows == (1,)
        assert battery == (9,)
    finally:
        client.close()
